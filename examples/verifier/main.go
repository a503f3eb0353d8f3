// Command verifier is an example service that protects a handler with
// tokenguard's embedded verifier: it verifies tokens offline, and refuses
// a token the moment tokenguard's revocation feed says it is revoked.
//
//	FEED_CLIENT_SECRET=dev-feed-secret go run ./examples/verifier
//
// The flags default to the development config.yaml of tokenguard
// (go run . serve, on 127.0.0.1:8080); the feed client's secret comes from
// the environment, never from the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokenguard/tokenguard/examples/verifier/app"
	"github.com/tokenguard/tokenguard/verifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "verifier example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("verifier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("tokenguard", "http://127.0.0.1:8080", "tokenguard's base URL")
	issuer := fs.String("issuer", "http://localhost:8080", "tokenguard's issuer setting")
	audience := fs.String("audience", "tokenguard", "tokenguard's audience setting")
	client := fs.String("client", "feed-client", "a tokenguard client with the permission feed (its secret in FEED_CLIENT_SECRET)")
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	v, err := verifier.New(ctx, verifier.Config{
		URL: *base, Issuer: *issuer, Audience: *audience,
		ClientID: *client, ClientSecret: getenv("FEED_CLIENT_SECRET"),
		Logger: log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: app.Handler(v), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	fed := make(chan error, 1)
	go func() { fed <- v.Run(feedCtx) }()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Info("serving GET /hello behind the verifier", "listen", *listen, "tokenguard", *base)
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdown)
	}
	stopFeed()
	stop := <-fed
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, stop)
}
