// Package app is the example service's HTTP side: one handler protected by
// the embedded verifier, and a readiness endpoint that reports the
// verifier's. It is apart from main so that a test can run it in process.
package app

import (
	"fmt"
	"net/http"

	"github.com/tokenguard/tokenguard/verifier"
)

// Handler returns the example service: GET /hello greets the token's user
// (401 or 403 without a good token, as tokenguard's /v1/verify answers),
// and GET /readyz answers 200 once the verifier can answer checks, 503
// before.
func Handler(v *verifier.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.Claims(r.Context()) // always there behind the middleware
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello, %s\n", claims.Subject)
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := v.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
