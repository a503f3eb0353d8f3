package users

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/sessions"
)

func TestNew(t *testing.T) {
	t.Parallel()
	f := miniFixture(t)
	complete := Config{Tokens: f.tokens, Revocations: f.rev, Sessions: f.sessions, Audit: f.audit}
	for _, tc := range []struct {
		name    string
		change  func(c *Config)
		wantErr string // empty: New succeeds
	}{
		{"a config without a logger or clock is complete", func(*Config) {}, ""},
		{"a missing token service is refused", func(c *Config) { c.Tokens = nil }, "users: Tokens is required"},
		{"a missing revocation store is refused", func(c *Config) { c.Revocations = nil }, "users: Revocations is required"},
		{"a missing session store is refused", func(c *Config) { c.Sessions = nil }, "users: Sessions is required"},
		{"a missing audit trail is refused", func(c *Config) { c.Audit = nil }, "users: Audit is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := complete
			tc.change(&cfg)
			s, err := New(cfg)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr || (err == nil) != (s != nil) {
				t.Errorf("New: %v, %v; want the error %q and a service only without one", s, err, tc.wantErr)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		want    Scope
		wantErr error
	}{
		{"no scope is a local logout", "", ScopeLocal, nil},
		{"local is read", "local", ScopeLocal, nil},
		{"others is read", "others", ScopeOthers, nil},
		{"global is read", "global", ScopeGlobal, nil},
		{"an upper-case scope is refused", "GLOBAL", "", ErrInvalid},
		{"an unknown scope is refused", "everywhere", "", ErrInvalid},
		{"a scope with spaces is refused", " local", "", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("ParseScope(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		v        string
		max      int
		required bool
		wantErr  string // empty: accepted
	}{
		{"an empty optional value is accepted", "", 8, false, ""},
		{"an empty required value is refused", "", 8, true, "name is required"},
		{"a value of exactly the limit is accepted", "abcdefgh", 8, true, ""},
		{"a value over the limit is refused", "abcdefghi", 8, true, "name is longer than 8 bytes"},
		{"the limit counts bytes, not characters", "ééééé", 8, true, "name is longer than 8 bytes"},
		{"printable Unicode is accepted", "Zoë 🙂", 16, true, ""},
		{"a tab is refused", "a\tb", 8, true, "name holds a control character or invalid UTF-8"},
		{"DEL is refused", "a\x7fb", 8, true, "name holds a control character or invalid UTF-8"},
		{"invalid UTF-8 is refused", "a\xffb", 8, true, "name holds a control character or invalid UTF-8"},
		{"an encoded replacement character is refused", "a\uFFFDb", 8, true, "name holds a control character or invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkText("name", tc.v, tc.max, tc.required)
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("checkText(%q): %v does not wrap ErrInvalid", tc.v, err)
				}
			}
			if got != tc.wantErr {
				t.Errorf("checkText(%q) = %q, want %q", tc.v, got, tc.wantErr)
			}
		})
	}
}

func TestCheckSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		sub    string
		wantOK bool
	}{
		{"an ordinary subject is accepted", "user-42", true},
		{"an email address is accepted", "alice@example.com", true},
		{"a subject of 255 bytes is accepted", strings.Repeat("s", 255), true},
		{"an empty subject is refused", "", false},
		{"a subject of 256 bytes is refused", strings.Repeat("s", 256), false},
		{"a subject with a newline is refused", "alice\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSubject(tc.sub)
			if (err == nil) != tc.wantOK || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("checkSubject(%q) = %v, want accepted: %v", tc.sub, err, tc.wantOK)
			}
		})
	}
}

func TestCheckScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		scope  string
		wantOK bool
	}{
		{"no scope is accepted", "", true},
		{"one scope is accepted", "read", true},
		{"scopes separated by single spaces are accepted", "read write admin:users", true},
		{"every printable ASCII character but quote and backslash is accepted", "!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", true},
		{"a scope of 1024 bytes is accepted", strings.Repeat("s", 1024), true},
		{"a scope of 1025 bytes is refused", strings.Repeat("s", 1025), false},
		{"a leading space is refused", " read", false},
		{"a trailing space is refused", "read ", false},
		{"two spaces in a row are refused", "read  write", false},
		{"a tab is refused", "read\twrite", false},
		{"a double quote is refused", `re"ad`, false},
		{"a backslash is refused", `re\ad`, false},
		{"a non-ASCII character is refused", "lecture-é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckScope(tc.scope)
			if (err == nil) != tc.wantOK || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("CheckScope(%q) = %v, want accepted: %v", tc.scope, err, tc.wantOK)
			}
		})
	}
}

func TestInactive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error is not inactive", nil, false},
		{"an invalid token is inactive", auth.ErrExpired, true},
		{"a revoked token is inactive", blacklist.ErrRevoked, true},
		{"a banned user's token is inactive", blacklist.ErrBanned, true},
		{"an unreachable store says nothing about the token", blacklist.ErrUnavailable, false},
		{"a session store failure says nothing about the token", sessions.ErrUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Inactive(tc.err); got != tc.want {
				t.Errorf("Inactive(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestWorkflowsFinishWhenTheCallerHasGone passes each workflow that makes
// several writes a context cancelled before the call: a client that hangs
// up must not leave a logout or a ban half done, so every write happens and
// the event is recorded.
func TestWorkflowsFinishWhenTheCallerHasGone(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		for _, tc := range []struct {
			name     string
			act      func(ctx context.Context, f *fixture, w logoutWorld, caller *auth.Claims) error
			want     map[string]string
			wantType string
		}{
			{
				name: "a local logout",
				act: func(ctx context.Context, f *fixture, _ logoutWorld, c *auth.Claims) error {
					return f.users.Logout(ctx, c, ScopeLocal)
				},
				want:     worldAfter("revoked", "accepted", "accepted"),
				wantType: audit.TypeLogout,
			},
			{
				name: "logging out the others",
				act: func(ctx context.Context, f *fixture, _ logoutWorld, c *auth.Claims) error {
					return f.users.Logout(ctx, c, ScopeOthers)
				},
				want:     worldAfter("accepted", "revoked", "accepted"),
				wantType: audit.TypeLogout,
			},
			{
				name: "a global logout",
				act: func(ctx context.Context, f *fixture, _ logoutWorld, c *auth.Claims) error {
					return f.users.Logout(ctx, c, ScopeGlobal)
				},
				want:     worldAfter("revoked", "revoked", "revoked"),
				wantType: audit.TypeLogout,
			},
			{
				name: "ending one's own session",
				act: func(ctx context.Context, f *fixture, w logoutWorld, c *auth.Claims) error {
					return f.users.EndOwnSession(ctx, c, w.other.Session.ID)
				},
				want:     worldAfter("accepted", "revoked", "accepted"),
				wantType: audit.TypeSessionEnded,
			},
			{
				name: "an admin ending a session",
				act: func(ctx context.Context, f *fixture, w logoutWorld, _ *auth.Claims) error {
					return f.users.EndSession(ctx, console, w.other.Session.ID)
				},
				want:     worldAfter("accepted", "revoked", "accepted"),
				wantType: audit.TypeAdminSessionEnded,
			},
			{
				name: "an admin logging a user out everywhere",
				act: func(ctx context.Context, f *fixture, _ logoutWorld, _ *auth.Claims) error {
					return f.users.LogOutEverywhere(ctx, console, "alice")
				},
				want:     worldAfter("revoked", "revoked", "revoked"),
				wantType: audit.TypeAdminLogout,
			},
			{
				name: "a ban",
				act: func(ctx context.Context, f *fixture, _ logoutWorld, _ *auth.Claims) error {
					_, err := f.users.Ban(ctx, console, "alice", time.Hour, "spam")
					return err
				},
				want:     worldAfter("banned", "banned", "banned"),
				wantType: audit.TypeBan,
			},
		} {
			t.Run(tc.name+" finishes and is recorded", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := newLogoutWorld(t, f)
				caller := f.claims(t, w.caller.AccessToken)
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				if err := tc.act(ctx, f, w, caller); err != nil {
					t.Fatalf("%s with a cancelled context: %v, want nil", tc.name, err)
				}
				if diff := cmp.Diff(w.verdicts(t, f), tc.want); diff != "" {
					t.Errorf("tokens afterwards (-got +want):\n%s", diff)
				}
				var types []string
				for _, e := range f.events(t) {
					types = append(types, e.Type)
				}
				if diff := cmp.Diff(types, []string{tc.wantType}); diff != "" {
					t.Errorf("audit event types (-got +want):\n%s", diff)
				}
			})
		}

		t.Run("an unban finishes and is recorded", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			if _, err := f.users.Ban(t.Context(), console, "alice", 0, "spam"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := f.users.Unban(ctx, console, "alice"); err != nil {
				t.Fatalf("Unban with a cancelled context: %v, want nil", err)
			}
			st, err := f.users.Status(t.Context(), "alice")
			if err != nil || st.Ban != nil {
				t.Errorf("Status after the unban: ban %+v, %v; want none", st.Ban, err)
			}
			events := f.events(t)
			if len(events) != 2 || events[1].Type != audit.TypeUnban {
				t.Errorf("audit trail %+v, want the ban then the unban", events)
			}
		})
	})
}
