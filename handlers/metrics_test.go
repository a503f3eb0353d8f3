package handlers

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tokenguard/tokenguard/auth"
)

// Tests of what the service counts (metrics.go, and every counter the
// workflows and the HTTP layer move), read back from the real registry.

// counters reads every counter of tokenguard's own from the harness's
// registry, keyed as name{label="value",...} with the labels sorted.
func (h *harness) counters() map[string]float64 {
	h.t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "tokenguard_") || f.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range f.GetMetric() {
			out[seriesKey(f.GetName(), m.GetLabel())] = m.GetCounter().GetValue()
		}
	}
	return out
}

func seriesKey(name string, labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// moved is what changed since before: every counter that moved, by how much.
func (h *harness) moved(before map[string]float64) map[string]float64 {
	h.t.Helper()
	out := map[string]float64{}
	for k, v := range h.counters() {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Series keys, as counters() spells them.
func httpReq(method, route string, status int) string {
	return fmt.Sprintf(`tokenguard_http_requests_total{method=%q,route=%q,status="%d"}`, method, route, status)
}
func decided(outcome string) string {
	return `tokenguard_token_decisions_total{outcome="` + outcome + `"}`
}
func revoked(kind, cause string) string {
	return `tokenguard_revocations_total{cause="` + cause + `",kind="` + kind + `"}`
}
func ended(cause string) string       { return `tokenguard_sessions_ended_total{cause="` + cause + `"}` }
func refreshed(outcome string) string { return `tokenguard_refreshes_total{outcome="` + outcome + `"}` }

const (
	opened        = `tokenguard_sessions_opened_total{}`
	clientAuthBad = `tokenguard_client_auth_failures_total{}`
)

// TestEveryCounterMovesByExactlyWhatAScriptedFlowDid runs logins, checks,
// refreshes, logouts in every scope, admin actions, a ban, RFC 7009
// revocations and client mistakes through the real HTTP layer, and after
// each step compares every counter that moved, and by how much, with what
// the step did.
func TestEveryCounterMovesByExactlyWhatAScriptedFlowDid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{maxPerUser: 2})
	var a1, a2, a3, b1, b2, c1, c2, d1, m1, e1 login
	var a2rotated tokenPair
	var bare, bobBare string

	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]float64
	}{
		{"a login opens a session", func(t *testing.T) { a1 = h.login("app", "alice", "laptop") },
			map[string]float64{opened: 1, httpReq("POST", "/v1/sessions", 201): 1}},
		// A millisecond apart, so that which session is the oldest is clear.
		{"a login within the cap evicts nothing", func(t *testing.T) { h.advance(time.Millisecond); a2 = h.login("app", "alice", "phone") },
			map[string]float64{opened: 1, httpReq("POST", "/v1/sessions", 201): 1}},
		{"a login over the cap evicts the oldest session", func(t *testing.T) { h.advance(time.Millisecond); a3 = h.login("app", "alice", "tablet") },
			map[string]float64{opened: 1, ended("evicted"): 1, revoked("session", "evicted"): 1, httpReq("POST", "/v1/sessions", 201): 1}},
		{"a good token is allowed", func(t *testing.T) { h.wantVerify(t, a2.token, 200, "a live session") },
			map[string]float64{decided("allowed"): 1, httpReq("GET", "/v1/verify", 200): 1}},
		{"a request without a token is missing one", func(t *testing.T) { h.wantVerify(t, "", 401, "no token") },
			map[string]float64{decided("missing"): 1, httpReq("GET", "/v1/verify", 401): 1}},
		{"garbage is invalid", func(t *testing.T) { h.wantVerify(t, "not.a.jwt", 401, "garbage") },
			map[string]float64{decided("invalid"): 1, httpReq("GET", "/v1/verify", 401): 1}},
		{"the evicted session's token is refused as an ended session", func(t *testing.T) { h.wantVerify(t, a1.token, 401, "evicted") },
			map[string]float64{decided("session_ended"): 1, httpReq("GET", "/v1/verify", 401): 1}},
		{"a missing scope is refused as scope, and not also allowed", func(t *testing.T) {
			if got := h.verify("/v1/verify?scope=admin", a2.token).status; got != 403 {
				t.Errorf("verify with ?scope=admin = %d, want 403", got)
			}
			if got := h.verify("/v1/verify/x?scope=read", a2.token).status; got != 200 {
				t.Errorf("verify with ?scope=read = %d, want 200", got)
			}
		}, map[string]float64{decided("scope"): 1, decided("allowed"): 1, httpReq("GET", "/v1/verify", 403): 1, httpReq("GET", "/v1/verify/*", 200): 1}},
		{"a refresh rotates, and the old token within the window recovers the new one", func(t *testing.T) {
			a2rotated = h.mustRefresh(t, a2.refresh)
			h.mustRefresh(t, a2.refresh)
		}, map[string]float64{refreshed("rotated"): 1, refreshed("reuse_window"): 1, httpReq("POST", "/oauth2/token", 200): 2}},
		{"the old token after the window is a replay that ends the session", func(t *testing.T) {
			h.advance(testReuse + time.Second)
			h.wantRefresh(t, a2.refresh, 400, "a replay")
			h.wantVerify(t, a2rotated.AccessToken, 401, "the replayed session's token")
		}, map[string]float64{refreshed("reuse_detected"): 1, ended("refresh_reuse"): 1, revoked("session", "refresh_reuse"): 1,
			decided("session_ended"): 1, httpReq("POST", "/oauth2/token", 400): 1, httpReq("GET", "/v1/verify", 401): 1}},
		{"an unknown refresh token is refused", func(t *testing.T) { h.wantRefresh(t, "garbage", 400, "garbage") },
			map[string]float64{refreshed("refused"): 1, httpReq("POST", "/oauth2/token", 400): 1}},
		{"wrong client credentials fail client authentication", func(t *testing.T) {
			if r := h.refresh("app:wrong", a3.refresh); r.status != 401 {
				t.Errorf("refresh with a wrong secret = %d, want 401", r.status)
			}
			if r := h.exchange(t, h.newRequest("POST", "/v1/admin/revocations", "admin:wrong", "application/json", `{}`), malformedRequest); r.status != 401 {
				t.Errorf("admin with a wrong secret = %d, want 401", r.status)
			}
		}, map[string]float64{clientAuthBad: 2, httpReq("POST", "/oauth2/token", 401): 1, httpReq("POST", "/v1/admin/revocations", 401): 1}},
		{"logout ends the caller's session", func(t *testing.T) {
			if r := h.do("POST", "/v1/logout", "Bearer "+a3.token, "", ""); r.status != 204 {
				t.Fatalf("logout = %d %s", r.status, r.body)
			}
		}, map[string]float64{decided("allowed"): 1, ended("logout_local"): 1, revoked("session", "logout_local"): 1, httpReq("POST", "/v1/logout", 204): 1}},
		{"logout of the others ends every other session", func(t *testing.T) {
			b1 = h.login("app", "alice", "laptop")
			b2 = h.login("app", "alice", "phone")
			if r := h.do("POST", "/v1/logout?scope=others", "Bearer "+b2.token, "", ""); r.status != 204 {
				t.Fatalf("logout = %d %s", r.status, r.body)
			}
		}, map[string]float64{opened: 2, httpReq("POST", "/v1/sessions", 201): 2, decided("allowed"): 1,
			ended("logout_others"): 1, revoked("session", "logout_others"): 1, httpReq("POST", "/v1/logout", 204): 1}},
		{"a global logout cuts the user off and ends every session", func(t *testing.T) {
			bare, _ = h.issue(auth.IssueRequest{Subject: "alice"})
			if r := h.do("POST", "/v1/logout?scope=global", "Bearer "+b2.token, "", ""); r.status != 204 {
				t.Fatalf("logout = %d %s", r.status, r.body)
			}
			h.wantVerify(t, bare, 401, "issued before the cut-off")
			h.wantVerify(t, b1.token, 401, "ended by the logout of the others")
		}, map[string]float64{decided("allowed"): 1, revoked("user", "logout_global"): 1, ended("logout_global"): 1, revoked("session", "logout_global"): 1,
			httpReq("POST", "/v1/logout", 204): 1, decided("cut_off"): 1, decided("session_ended"): 1, httpReq("GET", "/v1/verify", 401): 2}},
		{"logout of a token without a session revokes the token", func(t *testing.T) {
			bobBare, _ = h.issue(auth.IssueRequest{Subject: "bob"})
			if r := h.do("POST", "/v1/logout", "Bearer "+bobBare, "", ""); r.status != 204 {
				t.Fatalf("logout = %d %s", r.status, r.body)
			}
			h.wantVerify(t, bobBare, 401, "revoked")
			if r := h.exchange(t, h.newRequest("POST", "/v1/logout", "", "", ""), malformedRequest); r.status != 401 {
				t.Errorf("logout without a token = %d, want 401", r.status)
			}
		}, map[string]float64{decided("allowed"): 1, revoked("token", "logout_local"): 1, httpReq("POST", "/v1/logout", 204): 1,
			decided("revoked_token"): 1, httpReq("GET", "/v1/verify", 401): 1, decided("missing"): 1, httpReq("POST", "/v1/logout", 401): 1}},
		{"an admin revokes a token by its id", func(t *testing.T) {
			body := fmt.Sprintf(`{"jti":"some-jti","exp":%d}`, h.now().Add(time.Minute).Unix())
			if r := h.do("POST", "/v1/admin/revocations", "admin", "application/json", body); r.status != 204 {
				t.Fatalf("revocation = %d %s", r.status, r.body)
			}
		}, map[string]float64{revoked("token", "admin"): 1, httpReq("POST", "/v1/admin/revocations", 204): 1}},
		{"a user ends one of their sessions, an admin another", func(t *testing.T) {
			c1 = h.login("app", "bob", "laptop")
			c2 = h.login("app", "bob", "phone")
			if r := h.do("DELETE", "/v1/sessions/"+c2.sid, "Bearer "+c1.token, "", ""); r.status != 204 {
				t.Fatalf("DELETE own session = %d %s", r.status, r.body)
			}
			if r := h.do("DELETE", "/v1/admin/sessions/"+c1.sid, "admin", "", ""); r.status != 204 {
				t.Fatalf("DELETE as admin = %d %s", r.status, r.body)
			}
		}, map[string]float64{opened: 2, httpReq("POST", "/v1/sessions", 201): 2, decided("allowed"): 1,
			ended("own_session"): 1, revoked("session", "own_session"): 1, httpReq("DELETE", "/v1/sessions/:id", 204): 1,
			ended("admin"): 1, revoked("session", "admin"): 1, httpReq("DELETE", "/v1/admin/sessions/:id", 204): 1}},
		{"an admin logs a user out everywhere", func(t *testing.T) {
			d1 = h.login("app", "carol", "laptop")
			if r := h.do("POST", "/v1/admin/users/carol/logout", "admin", "", ""); r.status != 204 {
				t.Fatalf("admin logout = %d %s", r.status, r.body)
			}
		}, map[string]float64{opened: 1, httpReq("POST", "/v1/sessions", 201): 1,
			revoked("user", "admin"): 1, ended("admin"): 1, revoked("session", "admin"): 1, httpReq("POST", "/v1/admin/users/:subject/logout", 204): 1}},
		{"a ban writes the ban and a cut-off and ends every session", func(t *testing.T) {
			m1 = h.login("app", "mallory", "laptop")
			if r := h.do("PUT", "/v1/admin/users/mallory/ban", "admin", "application/json", `{"reason":"spam"}`); r.status != 200 {
				t.Fatalf("ban = %d %s", r.status, r.body)
			}
			h.wantVerify(t, m1.token, 403, "banned")
			h.wantRefresh(t, m1.refresh, 400, "the banned user's session has ended")
			if r := h.do("POST", "/v1/sessions", "app", "application/json", `{"subject":"mallory"}`); r.status != 403 {
				t.Errorf("login of a banned user = %d, want 403", r.status)
			}
		}, map[string]float64{opened: 1, httpReq("POST", "/v1/sessions", 201): 1,
			revoked("ban", "ban"): 1, revoked("user", "ban"): 1, ended("ban"): 1, revoked("session", "ban"): 1, httpReq("PUT", "/v1/admin/users/:subject/ban", 200): 1,
			decided("banned"): 1, httpReq("GET", "/v1/verify", 403): 1,
			refreshed("refused"): 1, httpReq("POST", "/oauth2/token", 400): 1, httpReq("POST", "/v1/sessions", 403): 1}},
		{"RFC 7009 revokes an access token and a refresh token's session", func(t *testing.T) {
			e1 = h.login("app", "dave", "laptop")
			for _, tok := range []string{e1.token, e1.refresh} {
				if r := h.form("/oauth2/revoke", "app", url.Values{"token": {tok}}); r.status != 200 {
					t.Fatalf("revoke = %d %s", r.status, r.body)
				}
			}
			// Introspecting the revoked access token decides on it too.
			if r := h.form("/oauth2/introspect", "gateway", url.Values{"token": {e1.token}, "token_type_hint": {"access_token"}}); r.body != `{"active":false}`+"\n" {
				t.Errorf("introspection = %d %q, want inactive", r.status, r.body)
			}
		}, map[string]float64{opened: 1, httpReq("POST", "/v1/sessions", 201): 1,
			revoked("token", "rfc7009"): 1, ended("rfc7009"): 1, revoked("session", "rfc7009"): 1, httpReq("POST", "/oauth2/revoke", 200): 2,
			decided("revoked_token"): 1, httpReq("POST", "/oauth2/introspect", 200): 1}},
		{"routes no one serves and methods no one knows are bounded labels", func(t *testing.T) {
			if r := h.exchange(t, h.newRequest("GET", "/no/such/"+a1.sid, "", "", ""), malformedRequest); r.status != 404 {
				t.Errorf("GET of an unknown path = %d, want 404", r.status)
			}
			if r := h.exchange(t, h.newRequest("BREW", "/v1/sessions", "", "", ""), malformedRequest); r.status != 405 {
				t.Errorf("BREW /v1/sessions = %d, want 405", r.status)
			}
		}, map[string]float64{httpReq("GET", "unmatched", 404): 1, httpReq("other", "/v1/sessions", 405): 1}},
		{"a token past its exp and the leeway is expired", func(t *testing.T) {
			h.advance(testTTL + testLeeway + time.Second)
			h.wantVerify(t, d1.token, 401, "expired")
		}, map[string]float64{decided("expired"): 1, httpReq("GET", "/v1/verify", 401): 1}},
	}
	for _, s := range steps {
		before := h.counters()
		s.do(t)
		if diff := cmp.Diff(s.want, h.moved(before)); diff != "" {
			t.Fatalf("step %q: the counters that moved (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestARefusalForAnUnknownStateCountsAsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	before := h.counters()
	h.redis.SetError("LOADING Redis is loading the dataset in memory")
	h.wantVerify(t, l.token, 503, "the revocation state cannot be read")
	h.wantRefresh(t, l.refresh, 503, "the session state cannot be read")
	h.redis.SetError("")
	// The refresh is refused before it starts: client authentication
	// cannot read its failure counts, so it answers 503 and no refresh is
	// attempted (or counted).
	want := map[string]float64{decided("unavailable"): 1, httpReq("GET", "/v1/verify", 503): 1, httpReq("POST", "/oauth2/token", 503): 1}
	if diff := cmp.Diff(want, h.moved(before)); diff != "" {
		t.Errorf("the counters that moved (-want +got):\n%s", diff)
	}
}

// allowedLabels are the only label names, and for the enumerated ones the
// only values, a metric of tokenguard's own may carry.
var allowedLabels = map[string][]string{
	"outcome": {"allowed", "missing", "invalid", "expired", "revoked_token", "session_ended", "cut_off", "banned", "scope", "unavailable", "error",
		"rotated", "reuse_window", "reuse_detected", "refused", "failed",
		"user_logged_out", "replayed",
		"success", "failure", "forbidden", "locked_out", "done", "other"}, // the last line: the console's
	"action":  {"end_session", "logout_everywhere", "ban", "unban", "sign_out", "other"},
	"kind":    {"token", "session", "user", "ban"},
	"cause":   {"logout_local", "logout_others", "logout_global", "own_session", "admin", "rfc7009", "refresh_reuse", "refresh_exhausted", "evicted", "ban", "backchannel_logout", "store_error", "fell_behind"},
	"shard":   {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"},
	"method":  {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PROPFIND", "REPORT", "other"},
	"route":   nil, // a route pattern of the Echo instance, or "unmatched"
	"status":  nil, // an HTTP status code
	"scope":   nil, // a rate limit's fixed name
	"command": nil, // a Redis command name
}

// TestTheExpositionParsesAndNoLabelNamesAUserASessionOrAToken scrapes
// /metrics as Prometheus would after a flow in mirror mode, parses it with
// the Prometheus text parser and lints it, and checks every name, type and
// label: no label value anywhere is a subject, session id, jti, token or
// IP of the flow.
func TestTheExpositionParsesAndNoLabelNamesAUserASessionOrAToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{mirror: true})
	l := h.login("app", "alice-8f3e", "laptop")
	other := h.login("app", "bob-2c91", "phone")
	h.wantVerify(t, l.token, 200, "live")
	h.wantVerify(t, l.token+"x", 401, "tampered")
	if r := h.do("POST", "/v1/logout", "Bearer "+l.token, "", ""); r.status != 204 {
		t.Fatalf("logout = %d", r.status)
	}
	if r := h.do("PUT", "/v1/admin/users/bob-2c91/ban", "admin", "application/json", `{"reason":"spam"}`); r.status != 200 {
		t.Fatalf("ban = %d", r.status)
	}
	h.wantRefresh(t, other.refresh, 400, "banned")
	h.do("GET", "/v1/admin/users/"+url.PathEscape("user-7a0d")+"/sessions", "admin", "", "")
	h.metrics.RateLimited("client")
	// Every change the flow wrote comes back through the change log: the
	// end of alice's session, bob's ban and cut-off, the end of his session.
	const changes = 4
	deadline := time.Now().Add(10 * time.Second)
	for histogramCount(t, h, "tokenguard_mirror_propagation_delay_seconds") < changes {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror applied fewer than the flow's %d changes from the log in 10s", changes)
		}
		time.Sleep(5 * time.Millisecond)
	}

	srv := httptest.NewServer(h.metrics.Handler(slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text exposition format", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "tokenguard_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}

	secrets := []string{"alice-8f3e", "bob-2c91", "user-7a0d", l.sid, other.sid, l.claims.ID, other.claims.ID, l.token, l.refresh, other.refresh, "192.0.2.7", "laptop", "curl/8", "spam"}
	routes := routePatterns(h.e)
	for name, f := range families {
		switch {
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
			continue
		case !strings.HasPrefix(name, "tokenguard_"):
			t.Errorf("%s: not one of tokenguard_*, go_* or process_*", name)
			continue
		}
		switch typ := f.GetType(); {
		case strings.HasSuffix(name, "_total") != (typ == dto.MetricType_COUNTER):
			t.Errorf("%s is a %v: counters, and only they, end in _total", name, typ)
		case typ == dto.MetricType_HISTOGRAM && !strings.HasSuffix(name, "_seconds"):
			t.Errorf("%s is a histogram of something other than seconds", name)
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				values, ok := allowedLabels[lp.GetName()]
				switch {
				case !ok:
					t.Errorf("%s carries the label %q, which is not a bounded one", name, lp.GetName())
				case values != nil && !slices.Contains(values, lp.GetValue()):
					t.Errorf("%s{%s=%q}: not a value of the label's fixed set", name, lp.GetName(), lp.GetValue())
				case lp.GetName() == "route" && !routes[lp.GetValue()] && lp.GetValue() != "unmatched":
					t.Errorf("%s{route=%q}: not a route pattern", name, lp.GetValue())
				}
				for _, s := range secrets {
					if strings.Contains(lp.GetValue(), s) {
						t.Errorf("%s{%s=%q} holds %q from the flow", name, lp.GetName(), lp.GetValue(), s)
					}
				}
			}
		}
	}
	for _, want := range []string{
		"tokenguard_http_requests_total", "tokenguard_http_request_duration_seconds", "tokenguard_token_decisions_total",
		"tokenguard_revocations_total", "tokenguard_sessions_opened_total", "tokenguard_sessions_ended_total", "tokenguard_refreshes_total",
		"tokenguard_client_auth_failures_total", "tokenguard_rate_limited_total", "tokenguard_mirror_entries",
		"tokenguard_mirror_shard_staleness_seconds", "tokenguard_mirror_resyncs_total", "tokenguard_mirror_propagation_delay_seconds",
		"tokenguard_redis_command_errors_total", "go_goroutines", "process_cpu_seconds_total",
	} {
		if _, ok := families[want]; !ok {
			t.Errorf("the exposition lacks %s", want)
		}
	}
	if f := families["tokenguard_mirror_shard_staleness_seconds"]; f != nil {
		if n := len(f.GetMetric()); n != 16 {
			t.Errorf("tokenguard_mirror_shard_staleness_seconds has %d series, want one per shard (16)", n)
		}
		for _, m := range f.GetMetric() {
			if v := m.GetGauge().GetValue(); v != 0 || math.IsInf(v, 0) {
				t.Errorf("shard staleness = %v on a loaded mirror whose clock stands still, want 0", v)
			}
		}
	}
	if got := histogramCount(t, h, "tokenguard_mirror_propagation_delay_seconds"); got != changes {
		t.Errorf("propagation delays observed = %d, want one per change written (%d)", got, changes)
	}
	entries := map[string]float64{}
	for _, m := range families["tokenguard_mirror_entries"].GetMetric() {
		entries[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	// alice's session; bob's session, his cut-off and his ban.
	if diff := cmp.Diff(map[string]float64{"token": 0, "session": 2, "user": 1, "ban": 1}, entries); diff != "" {
		t.Errorf("tokenguard_mirror_entries by kind (-want +got):\n%s", diff)
	}
}

func histogramCount(t *testing.T, h *harness, name string) uint64 {
	t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
