package main

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// errEmbeddedNotWired is what -protect embedded answers until the hook
// below is wired. The benchmark recognises this text and reports variant
// (b) as not wired rather than as a failure: keep them in step.
var errEmbeddedNotWired = errors.New("embedded verifier not wired: see embeddedGuard in tools/bench/reference/embedded.go")

// embeddedConfig is what the embedded verifier needs to protect /app as an
// embedding service would run it: where tokenguard is (its JWKS and its
// revocation feed, GET /v1/revocations/stream), the client that follows
// the feed (permission feed), and the rules our tokens are checked by.
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
// the same handler protected by the embedded verifier.
//
// HOOK FOR THE LEAD: package verifier is being written on another branch.
// Once it is merged, build its net/http middleware here from cfg, wait
// until it is ready (the feed's snapshot is loaded; return an error if it
// is not within a few seconds, or if ctx ends), and return
//
//	guard{middleware: <the verifier's middleware>, subject: <the subject of the claims it put in the request's context>}
//
// Nothing else changes: the benchmark already starts this server with
// -protect embedded, the feed client's credentials and tokenguard's URL,
// and measures it beside (a) and (c) once this returns no error. Replace
// TestProtectEmbeddedSaysTheHookIsNotWiredYet (main_test.go) with a test
// that the verifier lets a good token through to /app and refuses a
// revoked one.
func embeddedGuard(ctx context.Context, cfg embeddedConfig) (guard, error) {
	return guard{}, errEmbeddedNotWired
}
