package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

// managementGrace bounds how long a scrape in flight may finish at
// shutdown.
const managementGrace = 2 * time.Second

// serveMetrics serves h at /metrics on a listener of its own at addr, apart
// from the public one, so that a scraper never needs the public API and the
// public port never exposes the metrics; with addr empty it serves nothing.
// A port that cannot be opened stops start-up. The returned function shuts
// the listener down; call it once.
func serveMetrics(addr string, h http.Handler, limits config.HTTP, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	if !loopback(ln.Addr()) {
		log.Warn("METRICS WITHOUT AUTHENTICATION: metrics.listen is not a loopback address and /metrics has no authentication; let only the scraper reach that port (network policy, firewall)", "addr", ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), managementGrace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener", "err", err)
		}
	}, nil
}

// loopback reports whether a listener's address is reachable from this
// host only.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
