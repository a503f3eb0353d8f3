package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

// The variants of the side-by-side run (issue 12, points 3 and 4), all on
// one Redis holding -tail-revocations revocations, driven by wrk with one
// thread at each of -tail-connections. /v1/verify's tail (point 4) is
// measured on an HS256 tokenguard, as the issue states it; the protected
// handler (point 3) behind an ES256 tokenguard, because the embedded
// verifier reads tokenguard's JWKS, which never publishes an HMAC key.
const (
	// sideVerify is tokenguard's /v1/verify itself, in mirror mode and
	// configured as it ships (verified-token cache on): the tail of
	// point 4.
	sideVerify = "tokenguard GET /v1/verify (HS256 mirror)"
	// sideSignatures is (a): the protected handler behind a check of
	// signatures and claims only (with the verified-token cache tokenguard
	// ships with), no revocation.
	sideSignatures = "(a) GET /app, signatures only (ES256)"
	// sideEmbedded is (b): the same handler behind the embedded verifier
	// (package verifier, tools/bench/reference/embedded.go).
	sideEmbedded = "(b) GET /app, embedded verifier (ES256)"
	// sideNginx is (c): the same handler behind nginx auth_request to
	// tokenguard's /v1/verify.
	sideNginx = "(c) GET /app behind nginx auth_request → /v1/verify (ES256 mirror)"
	// sideCompare is another build's /v1/verify (-side-compare-bin),
	// configured as sideVerify, on the same Redis.
	sideCompare = "tokenguard GET /v1/verify (HS256 mirror), -side-compare-bin"
)

// The short names of the variants, for -side-variants.
const (
	sideKeyVerify     = "verify"
	sideKeySignatures = "a"
	sideKeyEmbedded   = "b"
	sideKeyNginx      = "c"
)

// sideResult is one variant at one connection count, over every round.
type sideResult struct {
	Name        string        `json:"name"`
	Connections int           `json:"connections"`
	Threads     int           `json:"threads"`
	Error       string        `json:"error,omitempty"` // why it was not measured
	Rounds      []roundResult `json:"rounds"`
	GoodRounds  int           `json:"good_rounds"`
	// The medians of the good rounds.
	RequestsPerSec float64 `json:"requests_per_sec_median"`
	P50Ms          float64 `json:"p50_ms_median"`
	P99Ms          float64 `json:"p99_ms_median"`
}

// sideTarget is one server the side-by-side run drives: where wrk points,
// the tokenguard whose tokens it accepts, and why it cannot be measured.
type sideTarget struct {
	name   string
	key    string // its -side-variants name
	url    string
	issuer string // the tokenguard that opens the sessions wrk presents
	err    error
}

// sideBySide starts its own Redis with the tail revocations, two
// tokenguards on it in mirror mode with their shipped settings (HS256 for
// /v1/verify's tail, ES256 for the protected handler), the reference
// server in its three guards and nginx in front of the ES256 tokenguard
// and the unguarded app; then, round after round, drives each variant at
// each connection count, one at a time, interleaved.
func (b *bench) sideBySide(ctx context.Context) ([]sideResult, error) {
	var undo cleanups
	defer undo.run()
	srv, err := startRedis(ctx, b.tools.redisServer, b.dir, b.logDir, "redis-side")
	if err != nil {
		return nil, err
	}
	undo.add(srv.Stop)
	rdb := srv.Client(b.opts.loadWorkers)
	undo.add(func() { _ = rdb.Close() })
	if b.opts.tailRevocations > 0 {
		b.log.Info("side by side: preloading revocations", "count", b.opts.tailRevocations)
		if _, err := loadRevocations(ctx, rdb, b.opts.tailRevocations, b.opts.loadWorkers); err != nil {
			return nil, fmt.Errorf("preload %d revocations: %w", b.opts.tailRevocations, err)
		}
	}

	cacheSize := config.Default().Tokens.VerifiedCacheSize
	mirror := func(l launcher, name, alg string) (*instance, error) {
		in, err := l.start(ctx, instanceSpec{name: name, alg: alg, mode: "mirror", cacheSize: cacheSize, redisAddr: srv.Addr, env: b.opts.sideEnv})
		if err == nil {
			undo.add(in.Stop)
		}
		return in, err
	}
	tg, err := mirror(b.tokenguard, "side-hs256-mirror", "HS256")
	if err != nil {
		return nil, err
	}
	// The protected handler's tokenguard: its JWKS publishes the ES256
	// key, which the embedded verifier (b) needs; (a) checks the same key,
	// and nginx (c) asks its /v1/verify.
	es, err := mirror(b.tokenguard, "side-es256-mirror", "ES256")
	if err != nil {
		return nil, err
	}
	guarded := func(name, protect string, extra ...string) (*instance, error) {
		in, err := b.tokenguard.start(ctx, instanceSpec{name: name, alg: "ES256", mode: referenceMode, protect: protect, extra: extra})
		if err == nil {
			undo.add(in.Stop)
		}
		return in, err
	}
	// (a) keeps verified tokens as tokenguard and the embedded verifier do
	// by default, so that it differs from (b) by the revocation check alone.
	refA, err := guarded("side-a-signatures", "signatures", "-verified-cache-size", strconv.Itoa(cacheSize))
	if err != nil {
		return nil, err
	}
	app, err := guarded("side-c-app", "none")
	if err != nil {
		return nil, err
	}

	var cmp *instance
	if b.opts.compareBin != "" {
		l := b.tokenguard
		l.bin = b.opts.compareBin
		if cmp, err = mirror(l, "side-hs256-mirror-compare", "HS256"); err != nil {
			return nil, err
		}
	}
	probe := newHTTPClient(2)
	targets := []*sideTarget{{name: sideVerify, key: sideKeyVerify, issuer: tg.base}, {name: sideSignatures, key: sideKeySignatures, issuer: es.base},
		{name: sideEmbedded, key: sideKeyEmbedded, issuer: es.base}, {name: sideNginx, key: sideKeyNginx, issuer: es.base}}
	ready := func(t *sideTarget, in *instance, path string) {
		if _, err := in.awaitReady(ctx, probe, b.opts.readyTimeout); err != nil {
			t.err = err
			in.Stop()
			return
		}
		t.url = in.base + path
	}
	ready(targets[0], tg, "/v1/verify")
	if cmp != nil {
		t := &sideTarget{name: sideCompare, key: sideKeyVerify, issuer: tg.base}
		ready(t, cmp, "/v1/verify")
		targets = append(targets, t)
	}
	var esReady sideTarget
	ready(&esReady, es, "")
	ready(targets[1], refA, "/app")
	// (b) follows the ES256 tokenguard's feed, so it starts once that
	// tokenguard is ready.
	if esReady.err != nil {
		targets[2].err = fmt.Errorf("the ES256 tokenguard did not start: %w", esReady.err)
	} else if refB, err := guarded("side-b-embedded", "embedded", "-tokenguard", es.base, "-feed-client", feedClientID, "-feed-secret-env", feedSecretEnv); err != nil {
		targets[2].err = err
	} else {
		ready(targets[2], refB, "/app")
	}
	var appReady sideTarget
	ready(&appReady, app, "/app")
	switch {
	case esReady.err != nil:
		targets[3].err = fmt.Errorf("the ES256 tokenguard did not start: %w", esReady.err)
	case appReady.err != nil:
		targets[3].err = fmt.Errorf("the app did not start: %w", appReady.err)
	default:
		ng, err := startNginx(ctx, b.tools.nginx, b.dir, b.logDir, hostPort(es.base), hostPort(app.base))
		if err != nil {
			targets[3].err = err
			break
		}
		undo.add(ng.Stop)
		targets[3].url = "http://" + ng.addr + "/app"
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	a := api{http: probe, sec: b.tokenguard.sec}
	// (b) and (c) are measured as guards that check revocation: each must
	// refuse a revoked token before its numbers count.
	for _, t := range targets[2:4] {
		if t.err == nil && b.opts.sideVariants[t.key] {
			t.err = refusesRevoked(ctx, a, t.issuer, t.url)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	var results []sideResult
	var problems []error
	index := map[string]int{}
	for _, t := range targets {
		if !b.opts.sideVariants[t.key] {
			continue
		}
		for _, c := range b.opts.tailConnections {
			index[fmt.Sprintf("%s/%d", t.name, c)] = len(results)
			r := sideResult{Name: t.name, Connections: c, Threads: 1}
			if t.err != nil {
				r.Error = t.err.Error()
			}
			results = append(results, r)
		}
		if t.err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", t.name, t.err))
			b.log.Warn("side by side: variant not measured", "variant", t.name, "err", headLine(t.err.Error()))
		}
	}
	var running []*sideTarget
	for _, t := range targets {
		if t.err == nil && b.opts.sideVariants[t.key] {
			running = append(running, t)
		}
	}
	for r := range b.opts.rounds {
		for k := range running {
			t := running[(k+r)%len(running)]
			for _, c := range b.opts.tailConnections {
				rr := b.runSide(ctx, a, t.issuer, t.url, c, r+1)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				i := index[fmt.Sprintf("%s/%d", t.name, c)]
				if rr.Error != "" {
					problems = append(problems, fmt.Errorf("%s -c%d round %d: %s", t.name, c, r+1, rr.Error))
				}
				results[i].Rounds = append(results[i].Rounds, rr)
				b.log.Info("wrk", "variant", t.name, "connections", c, "round", r+1, "req_per_sec", int(rr.RequestsPerSec), "p50_ms", rr.P50Ms, "p99_ms", rr.P99Ms, "error", rr.Error)
			}
		}
	}
	for i := range results {
		results[i].aggregate()
	}
	return results, errors.Join(problems...)
}

// runSide opens a fresh session at tokenguard, checks that its token is
// let through at url, and drives url with it.
func (b *bench) runSide(ctx context.Context, a api, issuer, url string, connections, round int) roundResult {
	rr := roundResult{Round: round}
	token, err := a.openSession(ctx, issuer, "bench-user")
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	if status, err := getStatus(ctx, a.http, url, "Bearer "+token); err != nil || status != http.StatusOK {
		rr.Error = fmt.Sprintf("the token is not let through before the run: status %d, err %v", status, err)
		return rr
	}
	o := b.opts.wrk
	o.threads, o.connections = 1, connections
	res, err := runWrk(ctx, b.tools.wrk, url, token, o)
	if err != nil {
		rr.Error = err.Error()
		return rr
	}
	rr.wrkResult = res
	if res.Non2xx > 0 || res.SocketErrors > 0 {
		rr.Error = fmt.Sprintf("%d non-2xx responses and %d socket errors out of %d requests", res.Non2xx, res.SocketErrors, res.Requests)
	}
	return rr
}

// refusesRevoked opens a session at issuer, checks that url lets its
// token through, revokes the token at issuer and checks that url then
// refuses it with 401 within refusalTimeout.
func refusesRevoked(ctx context.Context, a api, issuer, url string) error {
	token, err := a.openSession(ctx, issuer, "bench-revoked")
	if err != nil {
		return err
	}
	if status, err := getStatus(ctx, a.http, url, "Bearer "+token); err != nil || status != http.StatusOK {
		return fmt.Errorf("a fresh token is not let through: status %d, err %v", status, err)
	}
	body, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		return err
	}
	if status, err := a.revoke(ctx, issuer, body); err != nil || status != http.StatusNoContent {
		return fmt.Errorf("revocation answered %d (err %v), want 204", status, err)
	}
	deadline := time.Now().Add(refusalTimeout)
	for {
		status, err := getStatus(ctx, a.http, url, "Bearer "+token)
		switch {
		case err != nil:
			return err
		case status == http.StatusUnauthorized:
			return nil
		case status != http.StatusOK:
			return fmt.Errorf("a revoked token answered %d, want 401", status)
		case time.Now().After(deadline):
			return fmt.Errorf("a revoked token is still let through %v after tokenguard acknowledged its revocation", refusalTimeout)
		}
		time.Sleep(time.Millisecond) // polling a server, as a client would
	}
}

// aggregate takes the median of the good rounds.
func (s *sideResult) aggregate() {
	s.GoodRounds, s.RequestsPerSec, s.P50Ms, s.P99Ms = medians(s.Rounds)
}

// hostPort is the host:port of an http:// base URL.
func hostPort(base string) string {
	return strings.TrimPrefix(base, "http://")
}

// nginxServer is the nginx of variant (c).
type nginxServer struct {
	addr string
	proc *process
}

// Stop stops nginx (SIGTERM: the master stops its workers).
func (n *nginxServer) Stop() { n.proc.Stop() }

// startNginx runs nginx in the foreground on a free port, every file it
// writes under dir, in front of the app at appAddr, each request first
// checked by auth_request to tokenguard's /v1/verify at verifyAddr, as
// deploy/nginx.conf does, plus keep-alive connections to both upstreams,
// which a production nginx in front of a busy service has.
func startNginx(ctx context.Context, bin, dir, logDir, verifyAddr, appAddr string) (*nginxServer, error) {
	if bin == "" {
		return nil, errors.New("nginx not found on PATH or in /usr/sbin; install it (Debian: apt-get install -y nginx)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(ndir, addr, verifyAddr, appAddr, os.Geteuid() == 0)), 0o600); err != nil {
		return nil, err
	}
	p, err := startProcess(ctx, "nginx", bin, []string{"-p", ndir + "/", "-c", conf, "-e", filepath.Join(logDir, "nginx-error.log")},
		os.Environ(), filepath.Join(logDir, "nginx.log"))
	if err != nil {
		return nil, err
	}
	n := &nginxServer{addr: addr, proc: p}
	if err := awaitListening(ctx, p, addr); err != nil {
		p.Stop()
		return nil, err
	}
	return n, nil
}

// nginxConfig is the whole nginx.conf of variant (c): deploy/nginx.conf's
// auth_request block, in the foreground, one worker per core, no access
// log (wrk's requests would fill the disk), keep-alive upstreams.
func nginxConfig(dir, listen, verifyAddr, appAddr string, root bool) string {
	var b strings.Builder
	if root {
		b.WriteString("user root;\n") // the default user could not read dir
	}
	fmt.Fprintf(&b, `daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;

    upstream tokenguard {
        server %[3]s;
        keepalive 64;
    }
    upstream app {
        server %[4]s;
        keepalive 64;
    }
    server {
        listen %[2]s;

        location / {
            auth_request /_tokenguard;
            auth_request_set $auth_user $upstream_http_x_auth_request_user;
            proxy_set_header X-Auth-Request-User $auth_user;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }

        location = /_tokenguard {
            internal;
            proxy_pass http://tokenguard/v1/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, listen, verifyAddr, appAddr)
	return b.String()
}

// awaitListening waits until something accepts connections at addr, or
// the process exits.
func awaitListening(ctx context.Context, p *process, addr string) error {
	var d net.Dialer
	deadline := time.Now().Add(10 * time.Second)
	for {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return conn.Close()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after 10s: %w", p.name, addr, err)
		}
		select {
		case <-p.Exited():
			return p.exitError()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
