// Command tokenguard issues JWT access tokens and revokes them immediately:
// logout that really logs out, log out of every device, and a forward-auth
// check for reverse proxies, with the revocation state in Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/console"
	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/internal/requestid"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/metrics"
	"github.com/tokenguard/tokenguard/redisconn"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/signals"
	"github.com/tokenguard/tokenguard/users"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// run runs the command args name (see commands); with none, or with flags
// only, it serves, so that `go run .` starts the service.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := cli{getenv: getenv, stdout: stdout, stderr: stderr}
	name, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	for _, cmd := range c.commands() {
		if cmd.name == name {
			return cmd.run(ctx, rest)
		}
	}
	return usagef("unknown command %q; see tokenguard help", name)
}

// maxHeaderBytes bounds request headers; it leaves room for an oversized
// token to reach verification and be refused there with a 401.
const maxHeaderBytes = 256 << 10

// serve starts the service and serves until ctx is cancelled, then drains
// in-flight requests within the configured grace period. It takes one more
// argument than a command, for tests: onListen, when not nil, is told the
// address the server listens on (they listen on port 0).
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, onListen func(net.Addr)) error {
	fs := newFlagSet("serve", "[-config FILE]", stderr)
	configFlag := fs.String("config", "", "path of the YAML configuration (default $TOKENGUARD_CONFIG, else config.yaml)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	p, err := prepare(*configFlag, getenv)
	if err != nil {
		return fatal(stderr, config.LogFormat(p.path, getenv), err)
	}
	log := newLogger(p.cfg.LogFormat, stderr)
	stopGC := keepGCHeadroom(getenv, log)
	defer stopGC()
	if err := start(ctx, p, log, onListen); err != nil {
		return fatal(stderr, p.cfg.LogFormat, err)
	}
	return nil
}

// fatal reports an error that stops the service: as a JSON log line when
// the configuration asks for JSON logs (a log collector reads those; see
// report), else returned as it is for main to print.
func fatal(stderr io.Writer, format string, err error) error {
	if format != "json" {
		return err
	}
	newLogger(format, stderr).Error("tokenguard stopped", "err", err.Error())
	return loggedError{err}
}

// start builds the service from a prepared configuration and serves until
// ctx is cancelled.
func start(ctx context.Context, p prepared, log *slog.Logger, onListen func(net.Addr)) error {
	cfg, set := p.cfg, p.set
	log.Info("configuration loaded", "path", p.path, "config", fmt.Sprintf("%+v", cfg.Redacted()))
	if cfg.Dev {
		log.Warn("DEV MODE: production safety checks are relaxed; never run dev: true in production")
	}

	authSvc, err := newAuth(ctx, cfg, set.auth, p.keys, log)
	if err != nil {
		return err
	}

	meters := metrics.New()
	conn, err := redisconn.Open(ctx, redisconn.Config{
		Addrs:          cfg.Redis.Addrs,
		MasterName:     cfg.Redis.MasterName,
		Username:       cfg.Redis.Username,
		Password:       cfg.Redis.Password,
		DB:             cfg.Redis.DB,
		DialTimeout:    cfg.Redis.DialTimeout,
		Timeout:        cfg.Redis.Timeout,
		MinReplicasAck: cfg.Redis.MinReplicasAck,
		CommandFailed:  meters.RedisCommandFailed,
	}, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			log.Warn("close store", "err", err)
		}
	}()

	// Strict mode keeps a mirror for the revocation feed (mirror mode
	// always has one) only when some client may follow the feed: clients
	// are fixed at start-up, and an instance no one can subscribe to should
	// not hold the whole state in memory nor keep blocking reads of the
	// change logs open.
	feed := set.clients.Granted(clients.PermFeed)
	if set.mode == blacklist.ModeStrict && feed {
		log.Info("strict mode: keeping a revocation mirror for the feed only; every check still reads Redis")
	}
	revocations := blacklist.New(conn.Client, blacklist.Config{
		Prefix:           cfg.Redis.KeyPrefix,
		Leeway:           cfg.Tokens.Leeway,
		MaxTokenLifetime: cfg.Tokens.AccessTTL,
		// Trusted issuers' tokens may live longer: their revocations are
		// kept that long, and no longer.
		LongestTokenLifetime: authSvc.LongestLifetime(),
		Logger:               log,
		Writer:               conn.Writer,
		Mode:                 set.mode,
		MaxStaleness:         cfg.Revocation.MaxStaleness,
		FailOpen:             cfg.Revocation.OnStoreFailure == "open",
		OnApplied:            meters.MirrorApplied,
		Feed:                 feed,
	})
	if err := errors.Join(meters.WatchRedisPool(conn.Client.PoolStats), meters.WatchMirror(revocations.Stats)); err != nil {
		return err
	}
	// The mirror follows Redis until shutdown; it stops before Redis closes.
	defer background(ctx, log, "revocation mirror", revocations.Run)()
	events := audit.New(conn.Client, audit.Config{Prefix: cfg.Redis.KeyPrefix, Retention: cfg.Events.Retention})
	sessionStore := sessions.New(conn.Client, sessions.Config{
		Prefix:          cfg.Redis.KeyPrefix,
		RefreshTTL:      cfg.Tokens.RefreshTTL,
		MaxAge:          cfg.Tokens.SessionMaxAge,
		ReuseWindow:     cfg.Tokens.RefreshReuseWindow,
		MaxPerUser:      cfg.Sessions.MaxPerUser,
		AccessTokenLife: cfg.Tokens.AccessTTL + cfg.Tokens.Leeway,
		Revoker:         revocations,
		Logger:          log,
		Writer:          conn.Writer,
	})
	transmitter, err := signals.New(signals.Config{
		Redis:        conn.Client,
		Prefix:       cfg.Redis.KeyPrefix,
		Tokens:       authSvc,
		Audit:        events,
		Dev:          cfg.Dev,
		AllowedHosts: cfg.Events.AllowedReceiverHosts,
		Retention:    cfg.Events.DeliveryRetention,
		Logger:       log,
		Metrics:      meters,
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if !authSvc.SignsPublicly() {
		log.Warn("the signing key is not published in the JWKS (HMAC): SSF receivers cannot verify the events tokenguard sends")
	}
	// Delivery runs until shutdown; it stops before Redis closes.
	defer background(ctx, log, "ssf delivery", transmitter.Run)()
	accounts, err := users.New(users.Config{
		Tokens:      authSvc,
		Revocations: revocations,
		Sessions:    sessionStore,
		Audit:       events,
		Logger:      log,
		Metrics:     meters,
		Signals:     transmitter,
	})
	if err != nil {
		return err
	}
	limiter, err := lockout.New(conn.Client, lockout.Config{
		Name:     "client",
		Prefix:   cfg.Redis.KeyPrefix,
		MaxPerID: cfg.ClientAuth.FailuresPerClient,
		MaxPerIP: cfg.ClientAuth.FailuresPerIP,
		Window:   cfg.ClientAuth.Window,
		Audit:    events,
		IDEvent:  audit.TypeClientLockedOut,
		IPEvent:  audit.TypeClientIPLockedOut,
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	var adminConsole http.Handler
	if cfg.Console.Enabled {
		cons, err := console.New(console.Config{
			Users:      accounts,
			Clients:    set.clients,
			Limiter:    limiter,
			Redis:      conn.Client,
			Prefix:     cfg.Redis.KeyPrefix,
			SessionTTL: cfg.Console.SessionTTL,
			StaleAfter: cfg.Revocation.MaxStaleness,
			// Outside dev the console is served over HTTPS (directly
			// or behind a proxy): its cookie never travels in clear.
			Secure:  !cfg.Dev,
			Figures: meters.Figures,
			Metrics: meters,
			Logger:  log,
		})
		if err != nil {
			return err
		}
		adminConsole = cons
		log.Info("admin console enabled", "path", console.Path, "session_ttl", cfg.Console.SessionTTL.String())
	}
	e, err := handlers.New(handlers.Config{
		Verify:      set.verify,
		Auth:        authSvc,
		Users:       accounts,
		Clients:     set.clients,
		Limiter:     limiter,
		Ready:       revocations.Ready,
		BodyLimit:   cfg.HTTP.BodyLimit,
		Logger:      log,
		StaleShards: revocations.StaleShards,
		Metrics:     meters,
		Feed:        revocations,
		FeedConfig:  handlers.FeedConfig{Heartbeat: cfg.Feed.Heartbeat},
		Signals:     transmitter,
		Console:     adminConsole,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopMetrics, err := serveMetrics(cfg.Metrics.Listen, meters.Handler(log), cfg.HTTP, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// net/http's own answers to requests it cannot parse get our JSON
	// error shape too.
	ln = handlers.Listener(ln)
	if onListen != nil {
		onListen(ln.Addr())
	}
	log.Info("listening", "addr", ln.Addr().String(), "embedded_store", conn.Embedded)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", cfg.HTTP.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %v: %w", cfg.HTTP.ShutdownGrace, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// background starts run in its own goroutine, on a context that outlives
// ctx's cancellation: start's deferred calls decide when it stops, so that
// it stops before what it uses (Redis) closes. The returned stop cancels run,
// waits for it to return and logs its error, if any, under what.
func background(ctx context.Context, log *slog.Logger, what string, run func(context.Context) error) (stop func()) {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- run(bctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Warn(what, "err", err)
		}
	}
}

// newLogger returns the service's one logger: JSON or text, and every
// record made with a request's context carries the request's id.
func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestid.NewHandler(h))
}
