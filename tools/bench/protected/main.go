// Command protected is the load benchmark's protected handler (issue 12,
// point 3, the side-by-side run): GET /app answers a few bytes naming the
// token's user, behind one of two guards, so that the two differ by the
// guard alone:
//
//   - signatures: the token's signature and claims checked with
//     tokenguard's auth package and tokenguard's own key, no revocation
//     check (variant (a));
//   - embedded: tokenguard's embedded verifier (package verifier) and its
//     net/http middleware, fed by tokenguard's JWKS and revocation feed
//     (variant (b)).
//
// Both keep verified tokens in a cache of the same size, as tokenguard
// ships, so that (b) differs from (a) by the revocation check. GET /readyz
// answers 200 once the guard can answer. The benchmark builds and starts
// it; it lives in the benchmark's module, never in the service.
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

	"github.com/tokenguard/tokenguard/auth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "protected: %v\n", err)
		os.Exit(1)
	}
}

// The guards of /app (-guard).
const (
	guardSignatures = "signatures"
	guardEmbedded   = "embedded"
)

// run serves until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("protected", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	which := fs.String("guard", guardSignatures, "the guard of /app: signatures or embedded")
	issuer := fs.String("issuer", "", "tokenguard's issuer")
	audience := fs.String("audience", "", "tokenguard's audience")
	ttl := fs.Duration("access-ttl", 0, "tokenguard's tokens.access_ttl")
	leeway := fs.Duration("leeway", 0, "tokenguard's tokens.leeway")
	cacheSize := fs.Int("verified-cache-size", 0, "verified tokens remembered by either guard (tokens.verified_cache_size); 0 turns the cache off")
	kid := fs.String("kid", "", "with -guard signatures: the signing key's kid, as tokenguard is configured")
	alg := fs.String("alg", "", "with -guard signatures: the key's algorithm")
	keyFile := fs.String("private-key-file", "", "with -guard signatures: the PEM private key tokenguard signs with")
	tokenguardURL := fs.String("tokenguard", "", "with -guard embedded: tokenguard's base URL (JWKS, revocation feed)")
	feedClient := fs.String("feed-client", "", "with -guard embedded: the client id that follows the revocation feed")
	feedSecretEnv := fs.String("feed-secret-env", "", "with -guard embedded: environment variable holding that client's secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	var g guard
	switch *which {
	case guardSignatures:
		key, err := auth.LoadKey(auth.KeyConfig{ID: *kid, Alg: *alg, PrivateKeyFile: *keyFile})
		if err != nil {
			return err
		}
		svc, err := auth.New(auth.Config{Issuer: *issuer, Audience: *audience, AccessTTL: *ttl, Leeway: *leeway, Keys: []*auth.Key{key}, VerifiedCacheSize: *cacheSize})
		if err != nil {
			return err
		}
		g = signaturesGuard(svc)
	case guardEmbedded:
		var err error
		g, err = embeddedGuard(ctx, embeddedConfig{
			TokenguardURL: *tokenguardURL,
			ClientID:      *feedClient,
			ClientSecret:  getenv(*feedSecretEnv),
			Issuer:        *issuer,
			Audience:      *audience,
			AccessTTL:     *ttl,
			Leeway:        *leeway,
			CacheSize:     *cacheSize,
			Logger:        log,
		})
		if err != nil {
			return fmt.Errorf("-guard embedded: %w", err)
		}
	default:
		return fmt.Errorf("-guard: want %s or %s, got %q", guardSignatures, guardEmbedded, *which)
	}
	srv := &http.Server{
		Handler:           newServer(g),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "guard", *which)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// guard protects the handler: a net/http middleware that lets through only
// requests with an acceptable token, and how the handler then learns whose
// request it is.
type guard struct {
	middleware func(http.Handler) http.Handler
	subject    func(*http.Request) string
}

// newServer routes /readyz and the protected handler /app.
func newServer(g guard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("GET /app", g.middleware(appHandler(g.subject)))
	return mux
}

// appHandler is the protected handler: the same few bytes for every guard,
// naming the user the guard let in. A request that reaches it with no user
// is a guard's bug, answered 500 so that the benchmark fails the round.
func appHandler(subject func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := subject(r)
		if user == "" {
			http.Error(w, "no user: the guard let an anonymous request through", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "hello "+user+"\n") // a failed write means the client left
	})
}

// claimsKey carries the verified claims from signaturesGuard's middleware
// to the handler.
type claimsKey struct{}

// signaturesGuard is variant (a): the bearer token's signature and claims
// checked with tokenguard's auth package, no revocation check.
func signaturesGuard(svc *auth.Service) guard {
	return guard{
		middleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
				if !ok || !strings.EqualFold(scheme, "Bearer") {
					unauthorized(w)
					return
				}
				claims, err := svc.Verify(r.Context(), strings.TrimSpace(raw))
				if err != nil {
					unauthorized(w)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
			})
		},
		subject: func(r *http.Request) string {
			if c, ok := r.Context().Value(claimsKey{}).(*auth.Claims); ok {
				return c.Subject
			}
			return ""
		},
	}
}

// unauthorized refuses a request without an acceptable token.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="tokenguard", error="invalid_token"`)
	http.Error(w, "invalid token", http.StatusUnauthorized)
}
