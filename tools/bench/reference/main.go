// Command reference is the load benchmark's reference server: GET
// /v1/verify that checks a token's signature and claims with tokenguard's
// own auth package, exactly as tokenguard does, and nothing else. There is
// no revocation check, no Redis, no session store. Measured beside the real
// service it shows what the revocation check costs.
//
// It answers as tokenguard's forward-auth check does (the same framework,
// 200 with the identity headers, 401 on a bad token), so that the two
// differ only by the check. The benchmark starts it; it is not meant to be
// run by hand, and it lives in the benchmark's module so that no build of
// tokenguard can skip the revocation check.
//
// It also serves GET /app, the protected handler of the side-by-side run
// (issue 12, point 3): the same handler behind one of three guards chosen
// with -protect: "signatures" (the token's signature and claims checked
// here, no revocation), "embedded" (tokenguard's embedded verifier, package
// verifier, fed by tokenguard's JWKS and revocation feed) or "none" (the user named by the
// X-Auth-Request-User header that nginx sets after its auth_request to
// tokenguard's /v1/verify, the only way in).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reference: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	kid := fs.String("kid", "", "the signing key's kid, as tokenguard is configured")
	alg := fs.String("alg", "", "HS256 or ES256")
	secretEnv := fs.String("secret-env", "", "environment variable holding the HS256 secret")
	keyFile := fs.String("private-key-file", "", "PEM private key of an asymmetric algorithm")
	issuer := fs.String("issuer", "", "tokenguard's issuer")
	audience := fs.String("audience", "", "tokenguard's audience")
	ttl := fs.Duration("access-ttl", 0, "tokenguard's tokens.access_ttl")
	leeway := fs.Duration("leeway", 0, "tokenguard's tokens.leeway")
	cacheSize := fs.Int("verified-cache-size", 0, "tokens.verified_cache_size: tokens remembered after their signature is checked (0: none, as the instances /v1/verify is compared with)")
	protect := fs.String("protect", protectSignatures, "the guard of /app: signatures, embedded or none (behind nginx auth_request)")
	tokenguardURL := fs.String("tokenguard", "", "with -protect embedded: tokenguard's base URL (JWKS, revocation feed)")
	feedClient := fs.String("feed-client", "", "with -protect embedded: the client id that follows the revocation feed")
	feedSecretEnv := fs.String("feed-secret-env", "", "with -protect embedded: environment variable holding that client's secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kc := auth.KeyConfig{ID: *kid, Alg: *alg, PrivateKeyFile: *keyFile}
	if *secretEnv != "" {
		kc.Secret = []byte(getenv(*secretEnv))
	}
	key, err := auth.LoadKey(kc)
	if err != nil {
		return err
	}
	// No verified-token cache by default: the reference's /v1/verify is
	// compared with instances that run without one. The side-by-side
	// run's (a) has the cache tokenguard ships with, as (b) has.
	svc, err := auth.New(auth.Config{Issuer: *issuer, Audience: *audience, AccessTTL: *ttl, Leeway: *leeway, Keys: []*auth.Key{key}, VerifiedCacheSize: *cacheSize})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	var guard guard
	switch *protect {
	case protectSignatures:
		guard = signaturesGuard(svc)
	case protectNone:
		guard = forwardedGuard()
	case protectEmbedded:
		guard, err = embeddedGuard(ctx, embeddedConfig{
			TokenguardURL: *tokenguardURL,
			ClientID:      *feedClient,
			ClientSecret:  getenv(*feedSecretEnv),
			Issuer:        *issuer,
			Audience:      *audience,
			Leeway:        *leeway,
			Logger:        log,
		})
		if err != nil {
			return fmt.Errorf("-protect embedded: %w", err)
		}
	default:
		return fmt.Errorf("-protect: want %s, %s or %s, got %q", protectSignatures, protectEmbedded, protectNone, *protect)
	}
	srv := &http.Server{
		Handler:           newServer(svc, guard),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "alg", key.Alg(), "kid", key.ID(), "protect", *protect)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newServer routes /v1/verify, /readyz and the protected handler /app.
func newServer(svc *auth.Service, g guard) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/readyz", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.Any("/v1/verify", func(c echo.Context) error { return verify(c, svc) })
	e.GET("/app", echo.WrapHandler(g.middleware(appHandler(g.subject))))
	return e
}

// verify accepts a bearer token whose signature and claims auth.Verify
// accepts, and answers with the headers tokenguard sends.
func verify(c echo.Context, svc *auth.Service) error {
	scheme, raw, ok := strings.Cut(c.Request().Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "no bearer token"})
	}
	claims, err := svc.Verify(c.Request().Context(), strings.TrimSpace(raw))
	if err != nil {
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": err.Error()})
	}
	hdr := c.Response().Header()
	setHeader(hdr, "X-Auth-Request-User", claims.Subject)
	setHeader(hdr, "X-Auth-Request-Issuer", claims.Issuer)
	setHeader(hdr, "X-Auth-Request-Scope", claims.Scope)
	setHeader(hdr, "X-Auth-Session", claims.SessionID)
	setHeader(hdr, "X-Auth-Token-Id", claims.ID)
	hdr.Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// setHeader sets a header, left out when empty.
func setHeader(hdr http.Header, name, value string) {
	if value != "" {
		hdr.Set(name, value)
	}
}
