// Package ssftest is an SSF event receiver for tests, written from the
// RFCs rather than from tokenguard's code: it verifies each Security Event
// Token (RFC 8417) against the transmitter's JWKS, checks typ, iss, aud,
// jti, iat, the one event and its subject (SSF 1.0 §4), drops duplicates
// by jti, and answers pushes as RFC 8935 says (202, or 400 with an error
// body). Production code never imports it.
package ssftest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Event is one SET received.
type Event struct {
	JTI  string
	Txn  string
	Type string
	// SubID is the SET's sub_id (SSF 1.0 §3).
	SubID map[string]any
	// Body is the event's member of the events claim.
	Body map[string]any
}

// Receiver receives SETs for one audience from one issuer.
type Receiver struct {
	issuer, audience string
	keys             map[string]key

	mu     sync.Mutex
	seen   map[string]bool
	events []Event
	dups   int
	notify chan struct{}

	down     atomic.Bool
	requests atomic.Int64
	now      func() time.Time
}

type key struct {
	alg string
	pub crypto.PublicKey
}

// New returns a receiver of SETs from issuer for audience, verified
// against jwks (the JSON of the transmitter's JWK Set, RFC 7517).
func New(issuer, audience string, jwks []byte) (*Receiver, error) {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	r := &Receiver{issuer: issuer, audience: audience, keys: map[string]key{}, seen: map[string]bool{}, notify: make(chan struct{}), now: time.Now}
	for _, k := range set.Keys {
		pub, err := publicKey(k)
		if err != nil {
			return nil, fmt.Errorf("jwks key %q: %w", k["kid"], err)
		}
		r.keys[k["kid"]] = key{alg: k["alg"], pub: pub}
	}
	if len(r.keys) == 0 {
		return nil, errors.New("jwks: no keys")
	}
	return r, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// publicKey reads an RFC 7517/7518/8037 public key.
func publicKey(k map[string]string) (crypto.PublicKey, error) {
	switch k["kty"] {
	case "OKP":
		x, err := b64(k["x"])
		if err != nil || k["crv"] != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key")
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		x, err1 := b64(k["x"])
		y, err2 := b64(k["y"])
		if err1 != nil || err2 != nil || k["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad EC key")
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case "RSA":
		n, err1 := b64(k["n"])
		e, err2 := b64(k["e"])
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, fmt.Errorf("unknown kty %q", k["kty"])
}

// SetClock makes the receiver check iat against now instead of the real
// time; call it before any SET arrives.
func (r *Receiver) SetClock(now func() time.Time) { r.now = now }

// Accept verifies one SET and keeps its event, unless its jti was seen
// before (fresh is then false: RFC 8417 §2.2 makes jti the duplicate
// check).
func (r *Receiver) Accept(set string) (ev Event, fresh bool, err error) {
	var pinned string
	tok, err := jwt.Parse(set, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := r.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		pinned = k.alg
		if t.Method.Alg() != k.alg {
			return nil, fmt.Errorf("alg %s, the key is %s", t.Method.Alg(), k.alg)
		}
		return k.pub, nil
	}, jwt.WithIssuer(r.issuer), jwt.WithAudience(r.audience), jwt.WithIssuedAt(), jwt.WithTimeFunc(r.now), jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256"}))
	if err != nil {
		return Event{}, false, fmt.Errorf("set does not verify (key alg %s): %w", pinned, err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != "secevent+jwt" {
		return Event{}, false, fmt.Errorf("typ %q, want secevent+jwt", typ)
	}
	claims := tok.Claims.(jwt.MapClaims)
	ev.JTI, _ = claims["jti"].(string)
	ev.Txn, _ = claims["txn"].(string)
	ev.SubID, _ = claims["sub_id"].(map[string]any)
	if ev.JTI == "" {
		return Event{}, false, errors.New("no jti")
	}
	if _, ok := claims["iat"]; !ok {
		return Event{}, false, errors.New("no iat")
	}
	if f, _ := ev.SubID["format"].(string); f == "" {
		return Event{}, false, errors.New("no sub_id with a format")
	}
	events, _ := claims["events"].(map[string]any)
	if len(events) != 1 {
		return Event{}, false, fmt.Errorf("events holds %d events, want 1", len(events))
	}
	for typ, body := range events {
		ev.Type = typ
		if ev.Body, _ = body.(map[string]any); ev.Body == nil {
			return Event{}, false, errors.New("the event is not an object")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[ev.JTI] {
		r.dups++
		return ev, false, nil
	}
	r.seen[ev.JTI] = true
	r.events = append(r.events, ev)
	close(r.notify)
	r.notify = make(chan struct{})
	return ev, true, nil
}

// SetDown makes pushes answer 503 (down) or be received again.
func (r *Receiver) SetDown(down bool) { r.down.Store(down) }

// Requests counts the pushes received, answered or not.
func (r *Receiver) Requests() int64 { return r.requests.Load() }

// Duplicates counts SETs received again after their first time.
func (r *Receiver) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups
}

// Events returns every event received, in the order first received.
func (r *Receiver) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Await returns the events once at least n were received, or an error
// when ctx ends first.
func (r *Receiver) Await(ctx context.Context, n int) ([]Event, error) {
	for {
		r.mu.Lock()
		got, ch := append([]Event(nil), r.events...), r.notify
		r.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, fmt.Errorf("received %d events, want %d: %w", len(got), n, ctx.Err())
		}
	}
}

// ServeHTTP is the RFC 8935 push endpoint.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		pushError(w, "invalid_request", "Content-Type must be application/secevent+jwt")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		pushError(w, "invalid_request", "unreadable body")
		return
	}
	if _, _, err := r.Accept(string(body)); err != nil {
		pushError(w, "invalid_key", err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// pushError is RFC 8935 §2.3's error answer.
func pushError(w http.ResponseWriter, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	if err := json.NewEncoder(w).Encode(map[string]string{"err": code, "description": description}); err != nil {
		return
	}
}
