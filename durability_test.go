package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// TestWithAppendFsyncAlwaysAKill9AndRestartLosesNoAcknowledgedRevocation
// kills a standalone Redis that keeps an append-only file synced on every
// write, under a load of revocations at two instances, and restarts it:
// everything acknowledged is still refused at both, whose mirrors have
// reloaded from the restarted server.
func TestWithAppendFsyncAlwaysAKill9AndRestartLosesNoAcknowledgedRevocation(t *testing.T) {
	start := time.Now()
	srv := redistest.StartWith(t, "--appendonly", "yes", "--appendfsync", "always")
	f := startFleet(t, fmt.Sprintf("  addrs: [%q]\n  dial_timeout: 500ms\n", srv.Addr))
	all := func(int) bool { return true }
	l := f.startLoad(all, nil, nil)
	awaitCond(t, "the load to get revocations acknowledged", func() bool { return l.ackedCount() >= 100 })
	srv.Stop()
	srv.Restart()

	// Both mirrors follow the restarted server: each refuses what the
	// other revokes now.
	exp := time.Now().Add(10 * time.Minute)
	for _, in := range f.both() {
		jti := idInShards(all)
		tok, err := f.mint("after-restart", jti, exp)
		if err != nil {
			t.Fatal(err)
		}
		awaitCond(t, "a revocation to be acknowledged after the restart", func() bool {
			status, _, _ := f.call(in, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, exp.Unix()))
			return status == http.StatusNoContent
		})
		f.wantVerify(in, tok, http.StatusUnauthorized, "a revocation made after the restart")
	}
	l.end()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: revocations by answer %v", l.writes)
	lost := 0
	for _, r := range l.acked {
		for _, in := range f.both() {
			// A 503 says the instance cannot confirm its state yet (on a
			// starved machine a mirror may still be resyncing): it lets
			// nothing through, so wait for a real answer.
			var got int
			awaitCond(t, "an answer other than 503", func() bool {
				got = f.verify(in, r.token)
				return got != http.StatusServiceUnavailable
			})
			if got != http.StatusUnauthorized {
				lost++
				t.Errorf("an acknowledged revocation (at %s) is not refused at %s after the restart: verify = %d", r.at.name, in.name, got)
			}
		}
	}
	t.Logf("%d acknowledged revocations, %d lost; wall time %v", len(l.acked), lost, time.Since(start).Round(time.Millisecond))
}

// TestWithMinReplicasAckWritesNoReplicaConfirmedAnswer503 stops the only
// replica: every kind of write answers 503 with Retry-After, and a retry
// once the replica is back succeeds.
func TestWithMinReplicasAckWritesNoReplicaConfirmedAnswer503(t *testing.T) {
	start := time.Now()
	master := redistest.Start(t)
	replica := redistest.StartWith(t, "--replicaof", "127.0.0.1", master.Addr[strings.LastIndexByte(master.Addr, ':')+1:])
	replica.AwaitReplicaOf(master)
	f := startFleet(t, fmt.Sprintf("  addrs: [%q]\n  dial_timeout: 500ms\n  timeout: 300ms\n  min_replicas_ack: 1\n", master.Addr))
	a := f.a

	// With the replica in sync, writes are acknowledged.
	alice, alice2, bob, carol := f.login(a, "alice"), f.login(a, "alice"), f.login(a, "bob"), f.login(a, "carol")
	f.must(a, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"token":%q}`, carol.token), http.StatusNoContent)
	f.wantVerify(a, carol.token, http.StatusUnauthorized, "a revocation a replica confirmed")

	replica.Stop()
	for _, c := range []struct{ name, method, path, auth, contentType, body string }{
		{"an admin revocation", http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", fmt.Sprintf(`{"token":%q}`, alice.token)},
		{"a logout", http.MethodPost, "/v1/logout", "Bearer " + alice2.token, "", ""},
		{"a ban", http.MethodPut, "/v1/admin/users/dave/ban", adminAuth, "application/json", `{"reason":"spam"}`},
		{"a refresh rotation", http.MethodPost, "/oauth2/token", "app:dev-app-secret", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=" + bob.refresh},
		{"a login", http.MethodPost, "/v1/sessions", appAuth, "application/json", `{"subject":"erin"}`},
	} {
		r := doRequest(t, a.base, c.method, c.path, c.auth, c.contentType, []byte(c.body))
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with no replica to confirm it = %d %s (Retry-After %q), want 503 with Retry-After", c.name, r.status, r.body, r.header.Get("Retry-After"))
		}
	}

	replica.Restart()
	replica.AwaitReplicaOf(master)
	// The client retries: the writes are idempotent.
	f.must(a, http.MethodPost, "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"token":%q}`, alice.token), http.StatusNoContent)
	f.wantVerify(a, alice.token, http.StatusUnauthorized, "the retried revocation")
	f.must(a, http.MethodPut, "/v1/admin/users/dave/ban", adminAuth, `{"reason":"spam"}`, http.StatusOK)
	status, p := f.refresh(a, bob.refresh)
	if status != http.StatusOK {
		t.Fatalf("the retried refresh = %d, want 200 (within the reuse window it recovers the unacknowledged rotation)", status)
	}
	f.wantVerify(a, p.AccessToken, http.StatusOK, "the access token of the retried refresh")
	if status, _ := f.refresh(a, p.RefreshToken); status != http.StatusOK {
		t.Errorf("refresh of the token the retry returned = %d, want 200", status)
	}
	// The logout that was not acknowledged reached the master all the
	// same: its session is refused, and the logout need not be retried.
	f.wantVerify(a, alice2.token, http.StatusUnauthorized, "the session of the unacknowledged logout")
	t.Logf("wall time %v", time.Since(start).Round(time.Millisecond))
}
