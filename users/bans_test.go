package users

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/sessions"
)

func TestBan(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		for _, tc := range []struct {
			name   string
			d      time.Duration
			reason string
		}{
			{"a ban shorter than a second", MinBanDuration - time.Millisecond, "spam"},
			{"a negative duration", -time.Hour, "spam"},
			{"a ban longer than ten years", MaxBanDuration + time.Second, "spam"},
			{"a reason with a control character", time.Hour, "spam\x00"},
			{"a reason longer than 512 bytes", time.Hour, strings.Repeat("r", 513)},
		} {
			t.Run(tc.name+" is refused with ErrInvalid and changes nothing", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				is := f.open(t, "alice")
				f.refuses(t, "Ban", ErrInvalid, func() error {
					_, err := f.users.Ban(t.Context(), console, "alice", tc.d, tc.reason)
					return err
				})
				if got := f.verdict(t, is.AccessToken); got != "accepted" {
					t.Errorf("alice's token is %s, want accepted", got)
				}
			})
		}

		for _, tc := range []struct {
			name       string
			d          time.Duration
			wantReason string
		}{
			{"a ban for an hour", time.Hour, "for 1h0m0s: spam"},
			{"a ban of the longest duration", MaxBanDuration, "for 87600h0m0s: spam"},
			{"a ban until lifted", 0, "spam"},
		} {
			t.Run(tc.name+" ends every session, refuses the user's tokens as banned, spares other users and is recorded once", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := newLogoutWorld(t, f)
				at := f.clock.Now()
				st, err := f.users.Ban(t.Context(), console, "alice", tc.d, "spam")
				if err != nil {
					t.Fatalf("Ban: %v, want nil", err)
				}
				want := worldAfter("banned", "banned", "banned")
				if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
					t.Errorf("tokens after the ban (-got +want):\n%s", diff)
				}
				wantBan := &blacklist.Ban{At: at, Reason: "spam", By: console}
				if tc.d != 0 {
					wantBan.Until = at.Add(tc.d)
				}
				wantStatus := Status{Subject: "alice", Ban: wantBan, CutOff: at}
				if diff := cmp.Diff(st, wantStatus); diff != "" {
					t.Errorf("the status Ban returned (-got +want):\n%s", diff)
				}
				again, err := f.users.Status(t.Context(), "alice")
				if err != nil {
					t.Fatalf("Status: %v", err)
				}
				if diff := cmp.Diff(again, wantStatus); diff != "" {
					t.Errorf("Status (-got +want):\n%s", diff)
				}
				if _, err := f.users.Refresh(t.Context(), w.caller.RefreshToken, app, ""); !errors.Is(err, sessions.ErrInvalidGrant) {
					t.Errorf("Refresh: %v, want sessions.ErrInvalidGrant", err)
				}
				if _, err := f.users.OpenSession(t.Context(), Open{Subject: "alice", ClientID: app}); !errors.Is(err, blacklist.ErrBanned) {
					t.Errorf("OpenSession: %v, want blacklist.ErrBanned", err)
				}
				wantEvents := []audit.Event{{Type: audit.TypeBan, Actor: console, Subject: "alice", Reason: tc.wantReason}}
				if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
					t.Errorf("audit trail (-got +want):\n%s", diff)
				}
			})
		}

		// The shortest ban lives a second of Redis's own time: only its
		// acceptance is checked, so that a slow run cannot see it lapse.
		t.Run("a ban of the shortest duration is accepted and recorded", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			if _, err := f.users.Ban(t.Context(), console, "alice", MinBanDuration, "spam"); err != nil {
				t.Fatalf("Ban: %v, want nil", err)
			}
			want := []audit.Event{{Type: audit.TypeBan, Actor: console, Subject: "alice", Reason: "for 1s: spam"}}
			if diff := cmp.Diff(f.events(t), want); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a lapsed ban is not reported and the user can log in again", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			at := f.clock.Now()
			if _, err := f.users.Ban(t.Context(), console, "alice", time.Minute, "cool off"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			f.clock.Advance(time.Minute)
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice", CutOff: at}); diff != "" {
				t.Errorf("Status once the ban lapsed (-got +want):\n%s", diff)
			}
			if got := f.verdict(t, f.open(t, "alice").AccessToken); got != "accepted" {
				t.Errorf("a new session's token is %s, want accepted", got)
			}
		})

		t.Run("a second ban replaces the first", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			if _, err := f.users.Ban(t.Context(), console, "alice", time.Hour, "first"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			f.clock.Advance(time.Second)
			at := f.clock.Now()
			st, err := f.users.Ban(t.Context(), "other-console", "alice", 0, "second")
			if err != nil {
				t.Fatalf("second Ban: %v", err)
			}
			want := &blacklist.Ban{At: at, Reason: "second", By: "other-console"}
			if diff := cmp.Diff(st.Ban, want); diff != "" {
				t.Errorf("the ban in force (-got +want):\n%s", diff)
			}
			if got := len(f.events(t)); got != 2 {
				t.Errorf("%d events, want 2, one per ban", got)
			}
		})
	})
}

func TestUnban(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("lifting a ban lets new sessions work while what the ban revoked stays revoked, recorded once", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			at := f.clock.Now()
			if _, err := f.users.Ban(t.Context(), console, "alice", 0, "spam"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			n := len(f.events(t))
			if err := f.users.Unban(t.Context(), console, "alice"); err != nil {
				t.Fatalf("Unban: %v, want nil", err)
			}
			want := worldAfter("revoked", "revoked", "revoked")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after the unban (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice", CutOff: at}); diff != "" {
				t.Errorf("Status (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: audit.TypeUnban, Actor: console, Subject: "alice"}}
			if diff := cmp.Diff(f.eventsSince(t, n), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
			f.clock.Advance(time.Microsecond)
			fresh := f.open(t, "alice")
			if got := f.verdict(t, fresh.AccessToken); got != "accepted" {
				t.Errorf("a new session's token is %s, want accepted", got)
			}
			if _, err := f.users.Refresh(t.Context(), fresh.RefreshToken, app, ""); err != nil {
				t.Errorf("Refresh of a new session: %v, want nil", err)
			}
		})
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a user nobody acted on has no ban, no cut-off and no sessions", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice"}); diff != "" {
				t.Errorf("Status (-got +want):\n%s", diff)
			}
		})

		t.Run("the session count is the user's live sessions only", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			f.open(t, "alice")
			f.open(t, "alice")
			gone := f.open(t, "alice")
			f.open(t, "bob")
			if err := f.users.EndSession(t.Context(), console, gone.Session.ID); err != nil {
				t.Fatalf("EndSession: %v", err)
			}
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice", Sessions: 2}); diff != "" {
				t.Errorf("Status (-got +want):\n%s", diff)
			}
			f.clock.Advance(testIdle)
			if got := f.status(t, "alice").Sessions; got != 0 {
				t.Errorf("Status once the sessions idled out: %d sessions, want 0", got)
			}
		})

		t.Run("the cut-off is the latest global logout", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			if err := f.users.Logout(t.Context(), f.claims(t, is.AccessToken), ScopeGlobal); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			f.clock.Advance(time.Minute)
			at := f.clock.Now()
			if err := f.users.LogOutEverywhere(t.Context(), console, "alice"); err != nil {
				t.Fatalf("LogOutEverywhere: %v", err)
			}
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice", CutOff: at}); diff != "" {
				t.Errorf("Status (-got +want):\n%s", diff)
			}
		})
	})
}

// TestParseBanDurationIsTheOneReadingOfADuration: the admin API and the
// console read a ban's duration through it.
func TestParseBanDurationIsTheOneReadingOfADuration(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    time.Duration
		invalid bool
	}{
		{"", 0, false},
		{"30m", 30 * time.Minute, false},
		{"0s", -1, false}, // said explicitly: a duration Ban refuses, not "until lifted"
		{"tomorrow", 0, true},
		{"30", 0, true},
	} {
		got, err := ParseBanDuration(c.in)
		if c.invalid != errors.Is(err, ErrInvalid) || (!c.invalid && (err != nil || got != c.want)) {
			t.Errorf("ParseBanDuration(%q) = %v, %v; want %v (invalid %v)", c.in, got, err, c.want, c.invalid)
		}
	}
}
