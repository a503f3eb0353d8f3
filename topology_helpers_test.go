package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

// The topology tests run the real service twice, in mirror mode, against
// real Redis topologies started from redis-server processes (a Cluster, a
// Sentinel group, a standalone server with an append-only file) and talk to
// it over HTTP only, as a user and a gateway would.

// propagation bounds how long a change made at one instance may take to be
// seen at the other: they follow the same change logs, about a millisecond
// apart on one host. It is a deadline for awaiting, not a measured bound.
const propagation = 5 * time.Second

// instance is one running tokenguard.
type instance struct {
	name string
	base string
	logs *syncbuf.Buffer
}

// fleet is two instances serving the same Redis, as behind a load balancer.
type fleet struct {
	t      *testing.T
	a, b   *instance
	secret []byte
	client *http.Client
	// file and env are the instances' configuration, for starting more.
	file string
	env  map[string]string
}

// startFleet starts two instances on one configuration whose redis section
// holds redisYAML (indented lines under "redis:"). Their tokens are signed
// with an HS256 key the test shares, so that it can mint tokens with chosen
// ids for the load.
func startFleet(t *testing.T, redisYAML string) *fleet {
	t.Helper()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	cfg := `
dev: true
listen: 127.0.0.1:0
issuer: https://tokenguard.test
audience: api
redis:
` + redisYAML + `
tokens:
  access_ttl: 10m
  leeway: 30s
keys:
  - kid: hs1
    alg: HS256
    secret_env: TOKENGUARD_TEST_HS256
clients:
  - {id: app, secret: dev-app-secret, permissions: [sessions]}
  - {id: admin, secret: dev-admin-secret, permissions: [admin]}
  - {id: feeder, secret: dev-feeder-secret, permissions: [feed]}
`
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKENGUARD_TEST_HS256": string(secret)}
	f := &fleet{t: t, secret: secret, client: &http.Client{Timeout: 15 * time.Second}, file: file, env: env}
	f.a = f.start("a", nil)
	f.b = f.start("b", nil)
	return f
}

// start starts one more instance on the fleet's configuration, with env
// added to its environment; its log is shown if the test fails.
func (f *fleet) start(name string, env map[string]string) *instance {
	f.t.Helper()
	all := maps.Clone(f.env)
	maps.Copy(all, env)
	in := &instance{name: name, logs: &syncbuf.Buffer{}}
	in.base = startServe(f.t, []string{"-config", f.file}, all, in.logs)
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("log of instance %s:\n%s", in.name, tail(in.logs.String(), 60))
		}
	})
	return in
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (f *fleet) both() []*instance { return []*instance{f.a, f.b} }

func (f *fleet) other(in *instance) *instance {
	if in == f.a {
		return f.b
	}
	return f.a
}

// call sends a request and returns its status and body; it never stops
// the test, so that load goroutines may use it. auth is "Bearer <token>",
// "id:secret" for Basic, or "".
func (f *fleet) call(in *instance, method, path, auth, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, in.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		req.Header.Set("Authorization", auth)
	case auth != "":
		id, secret, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(id, secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a request that must answer want, and returns its body.
func (f *fleet) must(in *instance, method, path, auth, body string, want int) []byte {
	f.t.Helper()
	status, b, err := f.call(in, method, path, auth, body)
	if err != nil || status != want {
		f.t.Fatalf("%s %s at %s = %d %s (%v), want %d", method, path, in.name, status, b, err, want)
	}
	return b
}

func (f *fleet) verify(in *instance, token string) int {
	status, _, _ := f.call(in, http.MethodGet, "/v1/verify", "Bearer "+token, "")
	return status
}

// wantVerify checks a token at both instances: at once at the one that made
// the change (it applies its own writes before answering), within the
// propagation deadline at the other.
func (f *fleet) wantVerify(writer *instance, token string, want int, why string) {
	f.t.Helper()
	if got := f.verify(writer, token); got != want {
		f.t.Errorf("verify at %s, which made the change = %d, want %d: %s", writer.name, got, want, why)
	}
	f.awaitVerify(f.other(writer), token, want, why)
}

// awaitVerify polls one instance until it answers want for token, failing
// the test after the propagation deadline.
func (f *fleet) awaitVerify(in *instance, token string, want int, why string) {
	f.t.Helper()
	deadline := time.Now().Add(propagation)
	for {
		got := f.verify(in, token)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Errorf("verify at %s = %d after %v, want %d: %s", in.name, got, propagation, want, why)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// login opens a session at in, with the one login of the end-to-end tests.
func (f *fleet) login(in *instance, subject string) session {
	f.t.Helper()
	return createSession(f.t, in.base, sessionBody(subject))
}

// tokenPair is the token endpoint's answer.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// refresh redeems a refresh token at in.
func (f *fleet) refresh(in *instance, rt string) (int, tokenPair) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.base+"/oauth2/token", strings.NewReader("grant_type=refresh_token&refresh_token="+rt))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "dev-app-secret")
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var p tokenPair
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			f.t.Fatal(err)
		}
	}
	return resp.StatusCode, p
}

// mint signs an access token as the instances would, with a chosen id.
func (f *fleet) mint(subject, jti string, exp time.Time) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://tokenguard.test", "aud": "api", "sub": subject, "jti": jti,
		"iat": time.Now().Unix(), "exp": exp.Unix(),
	})
	tok.Header["kid"] = "hs1"
	tok.Header["typ"] = "at+jwt"
	return tok.SignedString(f.secret)
}

// readiness is the body of /readyz.
type readiness struct {
	Status      string `json:"status"`
	StaleShards []int  `json:"stale_shards"`
}

func (f *fleet) readyz(in *instance) (int, readiness) {
	status, b, err := f.call(in, http.MethodGet, "/readyz", "", "")
	var r readiness
	if err == nil {
		_ = json.Unmarshal(b, &r) // a body that is not JSON leaves r empty, which no caller accepts
	}
	return status, r
}

// eventTypes lists the audit trail of one user as seen at in.
func (f *fleet) eventTypes(in *instance, subject string) []string {
	f.t.Helper()
	b := f.must(in, http.MethodGet, "/v1/admin/events?subject="+subject, adminAuth, "", http.StatusOK)
	var out struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		f.t.Fatal(err)
	}
	var types []string
	for _, e := range out.Events {
		types = append(types, e.Type)
	}
	return types
}

// coreFlow runs what users and admins do, alternating the instance that
// acts, and checks every answer at both.
func (f *fleet) coreFlow() {
	t := f.t
	t.Helper()
	a, b := f.a, f.b
	alice1, alice2, bob := f.login(a, "alice"), f.login(a, "alice"), f.login(b, "bob")
	for _, s := range []session{alice1, alice2, bob} {
		f.wantVerify(a, s.token, http.StatusOK, "a fresh session")
	}

	// Logout of one session, at the other instance.
	f.must(b, http.MethodPost, "/v1/logout?scope=local", "Bearer "+alice1.token, "", http.StatusNoContent)
	f.wantVerify(b, alice1.token, http.StatusUnauthorized, "the session that logged out")
	f.wantVerify(b, alice2.token, http.StatusOK, "alice's other session survives a local logout")

	// Refresh rotation: the new pair works everywhere, the old refresh
	// token after the new one was used is a replay.
	status, p := f.refresh(a, alice2.refresh)
	if status != http.StatusOK {
		t.Fatalf("refresh at a = %d, want 200", status)
	}
	f.wantVerify(a, p.AccessToken, http.StatusOK, "the access token of a rotation")
	status, p2 := f.refresh(b, p.RefreshToken)
	if status != http.StatusOK {
		t.Fatalf("refresh of the rotated token at b = %d, want 200", status)
	}
	f.wantVerify(b, p2.AccessToken, http.StatusOK, "the access token of a second rotation")

	// Logout of the others.
	alice3 := f.login(b, "alice")
	f.must(a, http.MethodPost, "/v1/logout?scope=others", "Bearer "+alice3.token, "", http.StatusNoContent)
	f.wantVerify(a, p2.AccessToken, http.StatusUnauthorized, "another session after logout of the others")
	f.wantVerify(a, alice3.token, http.StatusOK, "the session that logged the others out")
	if status, _ := f.refresh(b, p2.RefreshToken); status != http.StatusBadRequest {
		t.Errorf("refresh of an ended session at b = %d, want 400", status)
	}

	// Global logout.
	bob2 := f.login(a, "bob")
	f.must(b, http.MethodPost, "/v1/logout?scope=global", "Bearer "+bob2.token, "", http.StatusNoContent)
	f.wantVerify(b, bob.token, http.StatusUnauthorized, "bob's other session after a global logout")
	f.wantVerify(b, bob2.token, http.StatusUnauthorized, "the session that logged out globally")
	f.wantVerify(a, f.login(a, "bob").token, http.StatusOK, "a session opened right after the global logout")

	// Ban and unban.
	mallory := f.login(a, "mallory")
	f.must(b, http.MethodPut, "/v1/admin/users/mallory/ban", adminAuth, `{"reason":"spam"}`, http.StatusOK)
	f.wantVerify(b, mallory.token, http.StatusForbidden, "a banned user's token")
	if status, _, _ := f.call(a, http.MethodPost, "/v1/sessions", appAuth, `{"subject":"mallory"}`); status != http.StatusForbidden {
		t.Errorf("a new session for a banned user at a = %d, want 403", status)
	}
	f.must(a, http.MethodDelete, "/v1/admin/users/mallory/ban", adminAuth, "", http.StatusNoContent)
	f.wantVerify(a, mallory.token, http.StatusUnauthorized, "a token cut off by the ban stays dead after the unban")
	f.wantVerify(b, f.login(b, "mallory").token, http.StatusOK, "a session opened after the unban")

	// Admin revocation of one token.
	carol1, carol2 := f.login(b, "carol"), f.login(b, "carol")
	f.must(a, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"token":%q}`, carol1.token), http.StatusNoContent)
	f.wantVerify(a, carol1.token, http.StatusUnauthorized, "a token an admin revoked")
	f.wantVerify(a, carol2.token, http.StatusOK, "another token of the same user")

	// The audit trail is one, whichever instance asks.
	for subject, want := range map[string][]string{
		"alice":   {"logout", "logout"},
		"bob":     {"logout"},
		"mallory": {"unban", "ban"},
		"carol":   {"admin_revocation"},
	} {
		for _, in := range f.both() {
			if got := f.eventTypes(in, subject); !slices.Equal(got, want) {
				t.Errorf("%s's events at %s = %v, want %v", subject, in.name, got, want)
			}
		}
	}
}

// outage describes how to break a topology's master and mend it.
type outage struct {
	// lost tells the shards served by the master that kill kills.
	lost func(shard int) bool
	kill func()
	// awaitElected returns once the topology reports a new master.
	awaitElected func()
	// restore brings the killed server back as a replica of the new
	// master, in sync.
	restore func()
}

// revocation is one revocation the load asked for.
type revocation struct {
	token string
	shard int
	at    *instance
}

// load revokes minted tokens and verifies live ones at both instances until
// stopped, within a bounded count of operations, and records every answer.
type load struct {
	f    *fleet
	lost func(int) bool
	stop chan struct{}
	wg   sync.WaitGroup

	mu sync.Mutex
	// acked are the revocations answered 204.
	acked []revocation
	// writes counts answers to revocations by shard ("healthy" or
	// "killed-master") and status (0: no answer).
	writes map[string]int
	// healthy counts the answers to verifications of tokens whose shards
	// all live on healthy masters, by status; lostVerify those of tokens
	// of users on the killed master.
	healthy    map[int]int
	lostVerify map[int]int
	errs       []string
}

// loadOps bounds each load goroutine; the pace bounds the rate, which only
// keeps the two shared cores usable by the servers.
const (
	loadOps  = 4000
	loadPace = 4 * time.Millisecond
)

func (f *fleet) startLoad(lost func(int) bool, probes, lostProbes []session) *load {
	l := &load{f: f, lost: lost, stop: make(chan struct{}), writes: map[string]int{}, healthy: map[int]int{}, lostVerify: map[int]int{}}
	for _, in := range f.both() {
		// Revocations on healthy and on lost shards have goroutines of
		// their own, so that writes waiting on the lost master never slow
		// down those to the healthy ones.
		for _, onLost := range []bool{false, true} {
			if onLost || slices.ContainsFunc(allShards(), func(sh int) bool { return !lost(sh) }) {
				l.wg.Add(1)
				go l.revoke(in, onLost)
			}
		}
		l.wg.Add(2)
		go l.verify(in, probes, l.healthy)
		go l.verify(in, lostProbes, l.lostVerify)
	}
	return l
}

func allShards() []int {
	all := make([]int, 16)
	for i := range all {
		all[i] = i
	}
	return all
}

// revoke revokes minted tokens at in whose ids fall on lost shards, or on
// healthy ones.
func (l *load) revoke(in *instance, onLost bool) {
	defer l.wg.Done()
	tick := time.NewTicker(loadPace)
	defer tick.Stop()
	exp := time.Now().Add(10 * time.Minute)
	for i := range loadOps {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		jti := idInShards(func(sh int) bool { return l.lost(sh) == onLost })
		tok, err := l.f.mint(fmt.Sprintf("load-%s-%d", in.name, i), jti, exp)
		if err != nil {
			l.fail(err.Error())
			return
		}
		status, _, _ := l.f.call(in, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, exp.Unix()))
		sh := keyspace.Shard(jti)
		where := "healthy"
		if l.lost(sh) {
			where = "killed-master"
		}
		l.mu.Lock()
		l.writes[fmt.Sprintf("%s %d", where, status)]++
		if status == http.StatusNoContent {
			l.acked = append(l.acked, revocation{token: tok, shard: sh, at: in})
		}
		l.mu.Unlock()
	}
}

// verify verifies the probes' tokens at in and counts the answers in into.
func (l *load) verify(in *instance, probes []session, into map[int]int) {
	defer l.wg.Done()
	if len(probes) == 0 {
		return
	}
	tick := time.NewTicker(loadPace)
	defer tick.Stop()
	for i := range loadOps {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		status := l.f.verify(in, probes[i%len(probes)].token)
		l.mu.Lock()
		into[status]++
		l.mu.Unlock()
	}
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, msg)
}

func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// end stops the load and waits for it.
func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func randomHex() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// probeUsers opens sessions at a whose subject, session and token id all
// fall in shards for which keep is true, n of them.
func (f *fleet) probeUsers(n int, keep func(shard int) bool) []session {
	f.t.Helper()
	var out []session
	for i := 0; len(out) < n && i < 2000; i++ {
		subject := fmt.Sprintf("probe-%d", i)
		if !keep(keyspace.Shard(subject)) {
			continue
		}
		if s := f.login(f.a, subject); keep(keyspace.Shard(s.jti)) {
			out = append(out, s)
		}
	}
	if len(out) < n {
		f.t.Fatalf("found %d probe users, want %d", len(out), n)
	}
	return out
}

// recovery is what surviving a failover took.
type recovery struct {
	// election is from the kill to the topology reporting a new master.
	election time.Duration
	// answering is from the election to every instance answering normally.
	answering time.Duration
}

// recoveryDeadline bounds how long after the election every instance must
// answer normally again: generous over the 5 s target, for CI noise.
const recoveryDeadline = 15 * time.Second

// survive kills the topology's master under a load of revocations and
// verifications at both instances and checks that:
//   - every instance answers normally within recoveryDeadline of the
//     election: verification for a user of the lost shards, a read of that
//     user's sessions (a Redis round trip to the new master), and /readyz
//     ready with no stale shard;
//   - users whose shards are all on healthy masters never see anything but
//     200, and every revocation on a healthy master is acknowledged;
//   - once the killed server is back as a replica, the lost shards take
//     revocations again and both instances see them;
//   - every acknowledged revocation is refused afterwards at both.
func (f *fleet) survive(o outage) recovery {
	t := f.t
	t.Helper()
	healthy := func(sh int) bool { return !o.lost(sh) }
	var probes []session
	if slices.ContainsFunc(allShards(), healthy) {
		probes = f.probeUsers(4, healthy)
	}
	victim := f.probeUsers(1, o.lost)[0]

	l := f.startLoad(o.lost, probes, []session{victim})
	defer func() {
		select {
		case <-l.stop:
		default:
			l.end()
		}
	}()
	awaitCond(t, "the load to get revocations acknowledged", func() bool { return l.ackedCount() >= 50 })
	killed := time.Now()
	o.kill()
	o.awaitElected()
	elected := time.Now()

	deadline := elected.Add(recoveryDeadline)
	var last string
	for {
		last = f.abnormal(victim)
		if last == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances still not answering normally %v after the election: %s", recoveryDeadline, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec := recovery{election: elected.Sub(killed), answering: time.Since(elected)}

	o.restore()
	// The lost shards take writes again, acknowledged once a replica has
	// them, and the mirrors follow them.
	jti := idInShards(o.lost)
	exp := time.Now().Add(10 * time.Minute)
	tok, err := f.mint("after-restore", jti, exp)
	if err != nil {
		t.Fatal(err)
	}
	awaitCond(t, "a revocation on the lost shards to be acknowledged again", func() bool {
		status, _, _ := f.call(f.a, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, exp.Unix()))
		return status == http.StatusNoContent
	})
	f.wantVerify(f.a, tok, http.StatusUnauthorized, "a revocation on the lost shards after the restore")
	l.end()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: revocations by shard and answer %v; verifications by answer: users on healthy masters %v, a user on the killed master %v", l.writes, l.healthy, l.lostVerify)
	for _, e := range l.errs {
		t.Errorf("load: %s", e)
	}
	for k, n := range l.writes {
		if strings.HasPrefix(k, "healthy ") && k != "healthy 204" {
			t.Errorf("%d revocations on healthy masters answered %q, want every one 204", n, strings.TrimPrefix(k, "healthy "))
		}
	}
	for status, n := range l.healthy {
		if status != http.StatusOK {
			t.Errorf("%d verifications of users on healthy masters answered %d, want every one 200", n, status)
		}
	}
	lostAcks := 0
	for _, r := range l.acked {
		if o.lost(r.shard) {
			lostAcks++
		}
		for _, in := range f.both() {
			if got := f.verify(in, r.token); got != http.StatusUnauthorized {
				t.Errorf("an acknowledged revocation (shard %d, at %s) is not refused at %s: verify = %d", r.shard, r.at.name, in.name, got)
			}
		}
	}
	if lostAcks == 0 {
		t.Errorf("no revocation on the lost shards was acknowledged before the kill: the test proves nothing about them")
	}
	t.Logf("%d acknowledged revocations (%d on the lost shards), every one refused at both instances", len(l.acked), lostAcks)
	t.Logf("recovery: new master %v after the kill; every instance answered normally %v after that", rec.election.Round(time.Millisecond), rec.answering.Round(time.Millisecond))
	return rec
}

// abnormal says what is not normal yet at either instance, or "".
func (f *fleet) abnormal(victim session) string {
	var problems []string
	for _, in := range f.both() {
		if got := f.verify(in, victim.token); got != http.StatusOK {
			problems = append(problems, fmt.Sprintf("%s: verify of a lost-shard user = %d", in.name, got))
		}
		if status, b, err := f.call(in, http.MethodGet, "/v1/sessions", "Bearer "+victim.token, ""); status != http.StatusOK {
			problems = append(problems, fmt.Sprintf("%s: GET /v1/sessions of a lost-shard user = %d %s %v", in.name, status, b, err))
		}
		if status, r := f.readyz(in); status != http.StatusOK || r.Status != "ready" {
			problems = append(problems, fmt.Sprintf("%s: /readyz = %d %+v", in.name, status, r))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

// idInShards returns a fresh random id whose shard satisfies keep.
func idInShards(keep func(int) bool) string {
	for {
		if id := randomHex(); keep(keyspace.Shard(id)) {
			return id
		}
	}
}

// awaitCond polls cond until it holds, failing after 30s: it awaits an
// event the servers make happen.
func awaitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// yamlList renders addresses as a YAML flow list.
func yamlList(addrs []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", a)
	}
	b.WriteByte(']')
	return b.String()
}
