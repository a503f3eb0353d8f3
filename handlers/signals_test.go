package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/internal/ssftest"
	"github.com/tokenguard/tokenguard/signals"
)

// receiverFor is a receiver written from the RFCs (internal/ssftest) that
// trusts our JWKS as served and expects SETs for client.
func (h *harness) receiverFor(t *testing.T, client string) *ssftest.Receiver {
	t.Helper()
	r := h.do(http.MethodGet, "/.well-known/jwks.json", "", "", "")
	rcv, err := ssftest.New(testIssuer, client, []byte(r.body))
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetClock(h.now)
	return rcv
}

// createStream creates a stream as auth (a client id or "Bearer ...") and
// returns its configuration, failing the test unless the answer is 201.
func (h *harness) createStream(t *testing.T, auth, body string) map[string]any {
	t.Helper()
	r := h.do(http.MethodPost, "/ssf/stream", auth, "application/json", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create stream = %d %s, want 201", r.status, r.body)
	}
	return r.json(t)
}

// pollAll polls a stream as client until it returns no more, acking all it
// got, and hands every SET to rcv; it returns the events received anew.
func (h *harness) pollAll(t *testing.T, client, pollURL string, rcv *ssftest.Receiver) []ssftest.Event {
	t.Helper()
	path := strings.TrimPrefix(pollURL, testIssuer)
	var fresh []ssftest.Event
	ack := []string{}
	for range 20 {
		body, _ := json.Marshal(map[string]any{"ack": ack, "returnImmediately": true, "maxEvents": 5})
		r := h.do(http.MethodPost, path, client, "application/json", string(body))
		if r.status != http.StatusOK {
			t.Fatalf("poll = %d %s", r.status, r.body)
		}
		sets := orderedMembers(t, r.body)
		ack = ack[:0]
		for _, m := range sets {
			jti, set := m[0], m[1]
			ev, isNew, err := rcv.Accept(set)
			if err != nil {
				t.Fatalf("the receiver refuses SET %s: %v", jti, err)
			}
			if ev.JTI != jti {
				t.Fatalf("SET under %q has jti %q", jti, ev.JTI)
			}
			if isNew {
				fresh = append(fresh, ev)
			}
			ack = append(ack, jti)
		}
		if len(sets) == 0 {
			return fresh
		}
	}
	t.Fatal("the stream never ran dry")
	return nil
}

// orderedMembers reads the sets of a poll answer in the order written, as
// a receiver that keeps the stream's order does.
func orderedMembers(t *testing.T, body string) [][2]string {
	t.Helper()
	var raw struct {
		Sets jsontext.Value `json:"sets"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(raw.Sets))
	if _, err := dec.ReadToken(); err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("sets %s: %v", raw.Sets, err)
		}
		key := k.String()
		v, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("sets %s: %v", raw.Sets, err)
		}
		out = append(out, [2]string{key, v.String()})
	}
	return out
}

func TestTheSSFConfigurationHasEveryRequiredMember(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.do(http.MethodGet, "/.well-known/ssf-configuration", "", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("= %d %s", r.status, r.body)
	}
	got := r.json(t)
	want := map[string]any{
		"spec_version":               "1_0",
		"issuer":                     testIssuer,
		"jwks_uri":                   testIssuer + "/.well-known/jwks.json",
		"delivery_methods_supported": []any{"urn:ietf:rfc:8935", "urn:ietf:rfc:8936"},
		"configuration_endpoint":     testIssuer + "/ssf/stream",
		"status_endpoint":            testIssuer + "/ssf/status",
		"verification_endpoint":      testIssuer + "/ssf/verify",
		"authorization_schemes":      []any{map[string]any{"spec_urn": "urn:ietf:rfc:6749"}, map[string]any{"spec_urn": "urn:ietf:rfc:7617"}},
		"default_subjects":           "ALL",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ssf-configuration (-want +got):\n%s", diff)
	}
}

func TestStreamsAreManagedByTheirClientWithBasicOrItsOwnToken(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.clientToken(t, "receiver", "events")
	bearer := "Bearer " + tok.AccessToken
	cfg := h.createStream(t, bearer, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://127.0.0.1:9/events"},"events_requested":["https://schemas.openid.net/secevent/caep/event-type/session-revoked","urn:example:unknown"],"description":"test"}`)
	id, _ := cfg["stream_id"].(string)
	if cfg["aud"] != "receiver" || cfg["iss"] != testIssuer || id == "" {
		t.Fatalf("created %v, want aud receiver, our iss and an id", cfg)
	}
	if diff := cmp.Diff([]any{signals.TypeSessionRevoked}, cfg["events_delivered"]); diff != "" {
		t.Errorf("events_delivered (-want +got):\n%s", diff)
	}

	// Read with HTTP Basic, the same client.
	if r := h.do(http.MethodGet, "/ssf/stream?stream_id="+id, "receiver", "", ""); r.status != http.StatusOK || r.json(t)["stream_id"] != id {
		t.Fatalf("read = %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodGet, "/ssf/stream", "receiver", "", ""); r.status != http.StatusOK || !strings.Contains(r.body, id) {
		t.Fatalf("list = %d %s", r.status, r.body)
	}
	// Update and replace.
	r := h.do(http.MethodPatch, "/ssf/stream", bearer, "application/json", `{"stream_id":"`+id+`","description":"renamed"}`)
	if r.status != http.StatusOK || r.json(t)["description"] != "renamed" || r.json(t)["delivery"].(map[string]any)["endpoint_url"] != "http://127.0.0.1:9/events" {
		t.Fatalf("update = %d %s", r.status, r.body)
	}
	r = h.do(http.MethodPut, "/ssf/stream", bearer, "application/json", `{"stream_id":"`+id+`","iss":"`+testIssuer+`","aud":"receiver","delivery":{"method":"urn:ietf:rfc:8936"}}`)
	if r.status != http.StatusOK || r.json(t)["description"] != nil || len(r.json(t)["events_delivered"].([]any)) != len(signals.Supported) {
		t.Fatalf("replace = %d %s, want a poll stream of every event without description", r.status, r.body)
	}
	if got := r.json(t)["delivery"].(map[string]any)["endpoint_url"]; got != testIssuer+"/ssf/poll/"+id {
		t.Errorf("poll endpoint_url = %v", got)
	}
	// Status.
	for _, st := range []string{"paused", "disabled", "enabled"} {
		r := h.do(http.MethodPost, "/ssf/status", bearer, "application/json", `{"stream_id":"`+id+`","status":"`+st+`","reason":"test"}`)
		if r.status != http.StatusOK || r.json(t)["status"] != st {
			t.Fatalf("set status %s = %d %s", st, r.status, r.body)
		}
		if r := h.do(http.MethodGet, "/ssf/status?stream_id="+id, "receiver", "", ""); r.json(t)["status"] != st {
			t.Fatalf("status after setting %s = %s", st, r.body)
		}
	}
	// Another client sees nothing of it.
	if r := h.do(http.MethodGet, "/ssf/stream?stream_id="+id, "receiver2", "", ""); r.status != http.StatusNotFound {
		t.Errorf("another client's read = %d %s, want 404", r.status, r.body)
	}
	if r := h.do(http.MethodDelete, "/ssf/stream?stream_id="+id, "receiver2", "", ""); r.status != http.StatusNotFound {
		t.Errorf("another client's delete = %d %s, want 404", r.status, r.body)
	}
	// Delete.
	if r := h.do(http.MethodDelete, "/ssf/stream?stream_id="+id, bearer, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodGet, "/ssf/stream?stream_id="+id, "receiver", "", ""); r.status != http.StatusNotFound {
		t.Errorf("read after delete = %d, want 404", r.status)
	}
}

func TestStreamManagementRefusesWhoeverLacksThePermissionEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	user := h.login("app", "alice", "laptop")
	noEvents := h.clientToken(t, "receiver", "")
	// A token of receiver's without the events scope: receiver holds only
	// events, so ask app's token instead for a token lacking it.
	appTok := h.clientToken(t, "app", "")
	body := `{"delivery":{"method":"urn:ietf:rfc:8936"}}`
	for _, c := range []struct {
		name, auth string
		status     int
		code       string
	}{
		{"no credentials", "", 401, "invalid_client"},
		{"a client without the permission", "app", 403, "access_denied"},
		{"a user's token", "Bearer " + user.token, 403, "access_denied"},
		{"a client token of a client without the permission", "Bearer " + appTok.AccessToken, 403, "access_denied"},
		{"a garbage token", "Bearer nope", 401, "invalid_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := conforming
			if c.auth == "" {
				conf = malformedRequest
			}
			r := h.exchange(t, h.newRequest(http.MethodPost, "/ssf/stream", c.auth, "application/json", body), conf)
			if r.status != c.status || r.json(t)["error"] != c.code {
				t.Errorf("= %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	if r := h.do(http.MethodPost, "/ssf/stream", "Bearer "+noEvents.AccessToken, "application/json", body); r.status != http.StatusCreated {
		t.Errorf("the events client's own token = %d %s, want 201", r.status, r.body)
	}
	// A revoked client token is refused at once.
	if r := h.form("/oauth2/revoke", "app", url.Values{"token": {noEvents.AccessToken}}); r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	if r := h.do(http.MethodGet, "/ssf/stream", "Bearer "+noEvents.AccessToken, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("a revoked client token = %d, want 401", r.status)
	}
}

func TestStreamRequestsAreCheckedStrictly(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, c := range []struct{ name, body string }{
		{"no delivery", `{}`},
		{"an unknown method", `{"delivery":{"method":"urn:example:smoke"}}`},
		{"a push endpoint that is no URL", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"not a url"}}`},
		{"a push endpoint with credentials", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://u:p@example.com/x"}}`},
		{"a push endpoint of another scheme", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"file:///etc/passwd"}}`},
		{"a poll endpoint chosen by the receiver", `{"delivery":{"method":"urn:ietf:rfc:8936","endpoint_url":"https://example.com/"}}`},
		{"a stream_id on create", `{"stream_id":"x","delivery":{"method":"urn:ietf:rfc:8936"}}`},
		{"an unknown member", `{"delivery":{"method":"urn:ietf:rfc:8936"},"format":"x"}`},
		{"a member twice", `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"a","description":"b"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.exchange(t, h.newRequest(http.MethodPost, "/ssf/stream", "receiver", "application/json", c.body), malformedRequest)
			if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
				t.Errorf("= %d %s, want 400 invalid_request", r.status, r.body)
			}
		})
	}
}

// wantEvent checks one received event's type and subject.
func wantEvent(t *testing.T, ev ssftest.Event, typ, sub, sid string) {
	t.Helper()
	if ev.Type != typ {
		t.Errorf("event %s is %s, want %s", ev.JTI, ev.Type, typ)
	}
	user := ev.SubID
	if sid != "" {
		if ev.SubID["format"] != "complex" {
			t.Errorf("event %s sub_id = %v, want a complex subject", ev.JTI, ev.SubID)
		}
		session, _ := ev.SubID["session"].(map[string]any)
		if session["format"] != "opaque" || session["id"] != sid {
			t.Errorf("event %s session = %v, want opaque %s", ev.JTI, session, sid)
		}
		user, _ = ev.SubID["user"].(map[string]any)
	}
	if user["format"] != "iss_sub" || user["iss"] != testIssuer || user["sub"] != sub {
		t.Errorf("event %s user = %v, want iss_sub %s of %s", ev.JTI, user, sub, testIssuer)
	}
}

func TestEveryWayASessionOrUserEndsIsPolledAsSignedEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rcv := h.receiverFor(t, "receiver")
	cfg := h.createStream(t, "receiver", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	pollURL := cfg["delivery"].(map[string]any)["endpoint_url"].(string)
	other := h.createStream(t, "receiver2", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)

	// A local logout: one session-revoked for the session.
	a := h.login("app", "alice", "laptop")
	if r := h.do(http.MethodPost, "/v1/logout", "Bearer "+a.token, "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	got := h.pollAll(t, "receiver", pollURL, rcv)
	if len(got) != 1 {
		t.Fatalf("local logout made %d events, want 1", len(got))
	}
	wantEvent(t, got[0], signals.TypeSessionRevoked, "alice", a.sid)
	if got[0].Body["initiating_entity"] != "user" {
		t.Errorf("initiating_entity = %v, want user", got[0].Body["initiating_entity"])
	}

	// A global logout of two sessions: each session, then the user, all
	// of one txn.
	b1, b2 := h.login("app", "bob", "laptop"), h.login("app", "bob", "phone")
	if r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+b1.token, "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	got = h.pollAll(t, "receiver", pollURL, rcv)
	if len(got) != 3 {
		t.Fatalf("global logout of 2 sessions made %d events, want 3", len(got))
	}
	var sids []string
	for _, ev := range got {
		if ev.Txn != got[0].Txn || ev.Txn == "" {
			t.Errorf("txn %q and %q: one action's events must share theirs", ev.Txn, got[0].Txn)
		}
		if s, ok := ev.SubID["session"].(map[string]any); ok {
			sids = append(sids, s["id"].(string))
			wantEvent(t, ev, signals.TypeSessionRevoked, "bob", s["id"].(string))
		} else {
			wantEvent(t, ev, signals.TypeSessionRevoked, "bob", "")
		}
	}
	slices.Sort(sids)
	want := []string{b1.sid, b2.sid}
	slices.Sort(want)
	if diff := cmp.Diff(want, sids); diff != "" {
		t.Errorf("sessions revoked (-want +got):\n%s", diff)
	}

	// A device ended by its user, an admin ending a session, a replayed
	// refresh token: one session-revoked each.
	c1, c2 := h.login("app", "carol", "laptop"), h.login("app", "carol", "phone")
	if r := h.do(http.MethodDelete, "/v1/sessions/"+c2.sid, "Bearer "+c1.token, "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	if r := h.do(http.MethodDelete, "/v1/admin/sessions/"+c1.sid, "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	d := h.login("app", "dave", "laptop")
	h.mustRefresh(t, d.refresh)
	h.advance(testReuse + time.Second)
	h.wantRefresh(t, d.refresh, http.StatusBadRequest, "a replay past the reuse window")
	got = h.pollAll(t, "receiver", pollURL, rcv)
	if len(got) != 3 {
		t.Fatalf("a device ended, an admin end and a replay made %d events, want 3", len(got))
	}
	wantEvent(t, got[0], signals.TypeSessionRevoked, "carol", c2.sid)
	wantEvent(t, got[1], signals.TypeSessionRevoked, "carol", c1.sid)
	wantEvent(t, got[2], signals.TypeSessionRevoked, "dave", d.sid)
	if got[1].Body["initiating_entity"] != "admin" || got[2].Body["initiating_entity"] != "policy" {
		t.Errorf("initiating_entity = %v, %v; want admin, policy", got[1].Body["initiating_entity"], got[2].Body["initiating_entity"])
	}

	// A ban ending a session, then the unban.
	e := h.login("app", "erin", "laptop")
	if r := h.do(http.MethodPut, "/v1/admin/users/erin/ban", "admin", "application/json", `{"reason":"spam"}`); r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	if r := h.do(http.MethodDelete, "/v1/admin/users/erin/ban", "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	got = h.pollAll(t, "receiver", pollURL, rcv)
	if len(got) != 4 {
		t.Fatalf("ban and unban made %d events, want 4", len(got))
	}
	wantEvent(t, got[0], signals.TypeSessionRevoked, "erin", e.sid)
	wantEvent(t, got[1], signals.TypeSessionRevoked, "erin", "")
	wantEvent(t, got[2], signals.TypeAccountDisabled, "erin", "")
	wantEvent(t, got[3], signals.TypeAccountEnabled, "erin", "")

	// An admin logging a trusted issuer's user out: the user carries the
	// issuer.
	if r := h.do(http.MethodPost, "/v1/admin/users/42/logout?issuer="+url.QueryEscape(idpIssuer), "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatal(r.body)
	}
	got = h.pollAll(t, "receiver", pollURL, rcv)
	if len(got) != 1 || got[0].SubID["iss"] != idpIssuer || got[0].SubID["sub"] != "42" {
		t.Fatalf("a trusted issuer's user's logout made %v, want one event with iss %s and sub 42", got, idpIssuer)
	}

	// Nothing twice, and the other stream got the same events under its
	// own audience.
	if rcv.Duplicates() != 0 {
		t.Errorf("%d duplicates after acks", rcv.Duplicates())
	}
	rcv2 := h.receiverFor(t, "receiver2")
	if got := h.pollAll(t, "receiver2", other["delivery"].(map[string]any)["endpoint_url"].(string), rcv2); len(got) != len(rcv.Events()) {
		t.Errorf("the other stream got %d events, want %d", len(got), len(rcv.Events()))
	}
}

func TestAPollReturnsUnacknowledgedEventsAgainAndAVerificationOnRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rcv := h.receiverFor(t, "receiver")
	cfg := h.createStream(t, "receiver", `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]}`)
	id := cfg["stream_id"].(string)
	path := "/ssf/poll/" + id
	if r := h.do(http.MethodPost, "/ssf/verify", "receiver", "application/json", `{"stream_id":"`+id+`","state":"s-1"}`); r.status != http.StatusNoContent {
		t.Fatalf("verify = %d %s", r.status, r.body)
	}
	// Nothing waits yet but the verification; an empty poll that waits
	// returns empty.
	first := h.do(http.MethodPost, path, "receiver", "application/json", `{"returnImmediately":true}`).json(t)["sets"].(map[string]any)
	if len(first) != 1 {
		t.Fatalf("first poll = %v, want the verification", first)
	}
	var jti string
	for k, v := range first {
		ev, _, err := rcv.Accept(v.(string))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != signals.TypeVerification || ev.Body["state"] != "s-1" || ev.SubID["format"] != "opaque" || ev.SubID["id"] != id {
			t.Errorf("verification event = %+v", ev)
		}
		jti = k
	}
	// Not acknowledged: returned again, and the receiver dedups it.
	again := h.do(http.MethodPost, path, "receiver", "application/json", `{"returnImmediately":true}`).json(t)["sets"].(map[string]any)
	if _, ok := again[jti]; !ok || len(again) != 1 {
		t.Fatalf("second poll = %v, want the unacknowledged %s again", again, jti)
	}
	if _, fresh, err := rcv.Accept(again[jti].(string)); err != nil || fresh {
		t.Errorf("the receiver took the repeat as fresh (%v) or refused it (%v)", fresh, err)
	}
	// Acknowledge only (maxEvents 0), then nothing is left.
	if r := h.do(http.MethodPost, path, "receiver", "application/json", `{"ack":["`+jti+`"],"maxEvents":0}`); r.status != http.StatusOK || len(r.json(t)["sets"].(map[string]any)) != 0 {
		t.Fatalf("ack-only poll = %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPost, path, "receiver", "application/json", `{}`); len(r.json(t)["sets"].(map[string]any)) != 0 {
		t.Fatalf("poll after the ack = %s, want no sets", r.body)
	}
	// A ban: the stream asked for session-revoked only.
	h.login("app", "zed", "laptop")
	if r := h.do(http.MethodPut, "/v1/admin/users/zed/ban", "admin", "application/json", `{"reason":"x"}`); r.status != http.StatusOK {
		t.Fatal(r.body)
	}
	for _, ev := range h.pollAll(t, "receiver", "/ssf/poll/"+id, rcv) {
		if ev.Type != signals.TypeSessionRevoked {
			t.Errorf("delivered %s, which the stream did not request", ev.Type)
		}
	}
	// Another client cannot poll it.
	if r := h.do(http.MethodPost, path, "receiver2", "application/json", `{}`); r.status != http.StatusNotFound {
		t.Errorf("another client's poll = %d, want 404", r.status)
	}
}
