package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// readyTimeout bounds how long the embedded verifier may take to load the
// revocation state from the feed before the server gives up.
const readyTimeout = 30 * time.Second

// embeddedConfig is what the embedded verifier needs to protect /app as an
// embedding service would run it: where tokenguard is (its JWKS and its
// revocation feed, GET /v1/revocations/stream), the client that follows
// the feed (permission feed), and the rules our tokens are checked by.
// Token lifetimes and the verified-token cache are the verifier's
// defaults, which are tokenguard's.
type embeddedConfig struct {
	TokenguardURL string
	ClientID      string
	ClientSecret  string
	Issuer        string
	Audience      string
	Leeway        time.Duration
	Logger        *slog.Logger
}

// embeddedGuard is variant (b) of the side-by-side run (issue 12, point 3):
// the same handler behind the embedded verifier's net/http middleware, the
// claims read back with verifier.Claims. It follows the feed until ctx
// ends, and returns once the first snapshot is in (verifier.Ready), or an
// error if that takes longer than readyTimeout.
func embeddedGuard(ctx context.Context, cfg embeddedConfig) (guard, error) {
	v, err := verifier.New(ctx, verifier.Config{
		URL:          cfg.TokenguardURL,
		Issuer:       cfg.Issuer,
		Audience:     cfg.Audience,
		Leeway:       cfg.Leeway,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return guard{}, err
	}
	go func() {
		// Run returns nil once ctx ends, which is when the server stops.
		if err := v.Run(ctx); err != nil {
			cfg.Logger.Error("embedded verifier stopped", "err", err)
		}
	}()
	if err := awaitReady(ctx, v, readyTimeout); err != nil {
		return guard{}, err
	}
	return guard{
		middleware: v.Middleware,
		subject: func(r *http.Request) string {
			if c, ok := verifier.Claims(r.Context()); ok {
				return c.Subject
			}
			return ""
		},
	}, nil
}

// awaitReady waits, change by change of the verifier's state, until it can
// answer checks.
func awaitReady(ctx context.Context, v *verifier.Verifier, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := v.Changed()
		err := v.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the embedded verifier is not ready after %v: %w", timeout, err)
		}
	}
}
