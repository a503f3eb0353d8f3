package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newTestClient returns a client of srv as admin:s3cret.
func newTestClient(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c, err := New(Config{URL: srv.URL, ClientID: "admin", ClientSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The end-to-end tests in the repository root run every call against the
// real server; these cover what that server does not do (yet): paging the
// session list, and answers no tokenguard gives.

func TestSessionsFollowsNextBeforeUntilExhausted(t *testing.T) {
	var mu sync.Mutex
	var cursors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "admin" || secret != "s3cret" || r.URL.Path != "/v1/admin/users/a%2Fb/sessions" && r.URL.RawPath != "/v1/admin/users/a%2Fb/sessions" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		before := r.URL.Query().Get("before")
		mu.Lock()
		cursors = append(cursors, before)
		mu.Unlock()
		pages := map[string]string{
			"":   `{"sessions":[{"id":"s5"},{"id":"s4"}],"next_before":"s4"}`,
			"s4": `{"sessions":[{"id":"s3"},{"id":"s2"}],"next_before":"s2"}`,
			"s2": `{"sessions":[{"id":"s1","device_name":"laptop"}]}`,
		}
		fmt.Fprint(w, pages[before])
	}))
	t.Cleanup(srv.Close)
	list, err := newTestClient(t, srv).Sessions(context.Background(), User{Subject: "a/b"})
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff([]string{"s5", "s4", "s3", "s2", "s1"}, ids); diff != "" {
		t.Errorf("session ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "s4", "s2"}, cursors); diff != "" {
		t.Errorf("before= sent (-want +got):\n%s", diff)
	}
	if got := string(list[4].JSON); got != `{"id":"s1","device_name":"laptop"}` {
		t.Errorf("the last session's JSON = %s, want it as the server sent it", got)
	}
}

func TestSessionsRefusesACursorThatRepeats(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"sessions":[{"id":"s1"}],"next_before":"s1"}`)
	}))
	t.Cleanup(srv.Close)
	_, err := newTestClient(t, srv).Sessions(context.Background(), User{Subject: "alice"})
	if !errors.Is(err, ErrBadAnswer) {
		t.Errorf("Sessions on a server that repeats its cursor = %v, want ErrBadAnswer", err)
	}
}

func TestAnswersOtherThanTheAPIsAreErrorsThatSayWhat(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
		is      error
	}{
		{"the API's error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":"access_denied","error_description":"the client lacks the admin permission"}`)
		}, "the server answered 403 access_denied: the client lacks the admin permission", nil},
		{"a proxy's page", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
		}, "the server answered 502 bad gateway", nil},
		{"a redirect, not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusFound)
		}, "the server answered 302 found", nil},
		{"a success that is not JSON", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello")
		}, "not the API's JSON", ErrBadAnswer},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			t.Cleanup(srv.Close)
			_, err := newTestClient(t, srv).Status(context.Background(), User{Subject: "alice"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Status = %v, want an error saying %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("Status = %v, want it to be %v", err, c.is)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error %q holds the secret", err)
			}
		})
	}
}

func TestNewRefusesWhatCouldLeakOrMisdirect(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{ClientID: "a", ClientSecret: "b"}, "URL is missing"},
		{"no id", Config{URL: "http://x", ClientSecret: "b"}, "client id is missing"},
		{"no secret", Config{URL: "http://x", ClientID: "a"}, "secret is missing"},
		{"credentials in the URL", Config{URL: "http://u:hunter2@x", ClientID: "a", ClientSecret: "b"}, "must not carry credentials"},
		{"not http", Config{URL: "ftp://x", ClientID: "a", ClientSecret: "b"}, "http or https"},
		{"a relative URL", Config{URL: "127.0.0.1:8080", ClientID: "a", ClientSecret: "b"}, "http or https"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New = %v, want an error saying %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error %q repeats the password", err)
			}
		})
	}
}

// trail is a fake audit trail, newest first, paged like the real one.
type trail struct {
	mu     sync.Mutex
	events []string // ids, oldest first; each id is its time in ms
	limit  int
}

func (tr *trail) add(ids ...string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, ids...)
}

func (tr *trail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	before := r.URL.Query().Get("before")
	var page []string
	for i := len(tr.events) - 1; i >= 0; i-- {
		if before != "" {
			if tr.events[i] == before {
				before = ""
			}
			continue
		}
		page = append(page, tr.events[i])
		if len(page) == tr.limit {
			break
		}
	}
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i, id := range page {
		if i > 0 {
			b.WriteString(",")
		}
		ms, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(&b, `{"id":%q,"time":%q,"type":"ban"}`, id, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
	}
	b.WriteString("]")
	if len(page) == tr.limit {
		fmt.Fprintf(&b, `,"next_before":%q`, page[len(page)-1])
	}
	b.WriteString("}")
	fmt.Fprint(w, b.String())
}

func TestFollowPrintsEachNewEventOnceOldestFirst(t *testing.T) {
	tr := &trail{limit: 2, events: []string{"1000", "2000", "3000"}}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	done := make(chan error, 1)
	go func() {
		done <- newTestClient(t, srv).Follow(ctx, EventQuery{Limit: 2}, 10*time.Millisecond, func(e Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.ID)
			return nil
		})
	}()
	await := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(seen()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("Follow emitted %v, want %d events", seen(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	await(2) // the newest page: 2000, 3000
	// More new events than a page holds: Follow pages back to 3000.
	tr.add("4000", "5000", "6000")
	await(5)
	tr.add("7000")
	await(6)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow returned %v when cancelled, want nil", err)
	}
	if diff := cmp.Diff([]string{"2000", "3000", "4000", "5000", "6000", "7000"}, seen()); diff != "" {
		t.Errorf("emitted (-want +got):\n%s", diff)
	}
}

func TestEventsNamesATrustedIssuersUserBySubjectAndIssuer(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawQuery
		fmt.Fprint(w, `{"events":[]}`)
	}))
	t.Cleanup(srv.Close)
	if _, err := newTestClient(t, srv).Events(context.Background(), EventQuery{Subject: "77", Issuer: "https://idp.test/"}); err != nil {
		t.Fatal(err)
	}
	if want := "issuer=https%3A%2F%2Fidp.test%2F&subject=77"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
}
