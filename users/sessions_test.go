package users

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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

func TestOpenSession(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a new session's tokens pass Authenticate and name the session, and nothing is recorded", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is, err := f.users.OpenSession(t.Context(), Open{
				Subject:  "alice",
				ClientID: app,
				Scope:    "read",
				Claims:   map[string]any{"tenant": "acme"},
				Device:   sessions.Device{Name: "phone", IP: "2001:db8::1", UserAgent: "test"},
			})
			if err != nil {
				t.Fatalf("OpenSession: %v, want nil", err)
			}
			c := f.claims(t, is.AccessToken)
			got := []string{c.Subject, c.SessionID, c.ClientID, c.Scope}
			want := []string{"alice", is.Session.ID, app, "read"}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("sub, sid, client_id, scope of the access token (-got +want):\n%s", diff)
			}
			extra, err := c.Extra("tenant")
			if err != nil || string(extra["tenant"]) != `"acme"` {
				t.Errorf("the tenant claim is %s (%v), want \"acme\"", extra["tenant"], err)
			}
			if !is.Rotated || is.Claims.ID != c.ID {
				t.Errorf("Issued.Rotated = %v, Issued.Claims.ID = %q; want true and the token's jti %q", is.Rotated, is.Claims.ID, c.ID)
			}
			if got := f.refreshable(t, is.RefreshToken); got != "live" {
				t.Errorf("the refresh token is %s, want live", got)
			}
			if diff := cmp.Diff(f.sessionIDs(t, "alice"), []string{is.Session.ID}); diff != "" {
				t.Errorf("alice's sessions (-got +want):\n%s", diff)
			}
			if got := f.events(t); len(got) != 0 {
				t.Errorf("audit trail %+v, want none: opening a session is not audited", got)
			}
		})

		t.Run("a banned user is refused with ErrBanned and nothing is stored", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			if _, err := f.users.Ban(t.Context(), console, "alice", 0, "spam"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			f.changesNothing(t, "a refused login", func() {
				_, err := f.users.OpenSession(t.Context(), Open{Subject: "alice", ClientID: app})
				if !errors.Is(err, blacklist.ErrBanned) {
					t.Fatalf("OpenSession: %v, want blacklist.ErrBanned", err)
				}
			})
		})

		manyClaims := map[string]any{}
		for i := range maxExtraClaims + 1 {
			manyClaims[fmt.Sprintf("c%d", i)] = i
		}
		// The adversarial review's case: 32 claims of 1.5 KB make a token
		// of 64,786 bytes, which verification refuses.
		bigClaims := map[string]any{}
		for i := range maxExtraClaims {
			bigClaims[fmt.Sprintf("c%d", i)] = strings.Repeat("x", 1536)
		}
		for _, tc := range []struct {
			name string
			open Open
		}{
			{"an empty subject is refused", Open{ClientID: app}},
			{"a subject with a control character is refused", Open{Subject: "ali\nce", ClientID: app}},
			{"a subject of invalid UTF-8 is refused", Open{Subject: "ali\xffce", ClientID: app}},
			{"a subject longer than 255 bytes is refused", Open{Subject: strings.Repeat("a", 256), ClientID: app}},
			{"a scope with two spaces in a row is refused", Open{Subject: "alice", ClientID: app, Scope: "read  write"}},
			{"a scope with a quote is refused", Open{Subject: "alice", ClientID: app, Scope: `read "write"`}},
			{"more than 32 extra claims are refused", Open{Subject: "alice", ClientID: app, Claims: manyClaims}},
			{"an empty claim name is refused", Open{Subject: "alice", ClientID: app, Claims: map[string]any{"": 1}}},
			{"a reserved claim name is refused", Open{Subject: "alice", ClientID: app, Claims: map[string]any{"sub": "bob"}}},
			{"a reserved claim name in another case is refused", Open{Subject: "alice", ClientID: app, Claims: map[string]any{"SID": "x"}}},
			{"claims too large for a token verification accepts are refused", Open{Subject: "alice", ClientID: app, Claims: bigClaims}},
			{"one claim too large for a token is refused", Open{Subject: "alice", ClientID: app, Claims: map[string]any{"pad": strings.Repeat("x", auth.MaxTokenBytes)}}},
			{"a device ip that is no address is refused", Open{Subject: "alice", ClientID: app, Device: sessions.Device{IP: "192.0.2"}}},
			{"a device name with a newline is refused", Open{Subject: "alice", ClientID: app, Device: sessions.Device{Name: "a\nb"}}},
			{"a user agent longer than 512 bytes is refused", Open{Subject: "alice", ClientID: app, Device: sessions.Device{UserAgent: strings.Repeat("u", 513)}}},
		} {
			t.Run(tc.name+" with ErrInvalid and nothing is stored", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				f.refuses(t, "OpenSession", ErrInvalid, func() error {
					_, err := f.users.OpenSession(t.Context(), tc.open)
					return err
				})
			})
		}

		t.Run("a session beyond MaxPerUser evicts the oldest one, recorded once as session_evicted", func(t *testing.T) {
			f := newFixture(t, rdb, options{maxPerUser: 2})
			bob := f.open(t, "bob")
			oldest := f.open(t, "alice")
			f.clock.Advance(time.Second)
			middle := f.open(t, "alice")
			f.clock.Advance(time.Second)
			newest := f.open(t, "alice")

			got := map[string]string{
				"oldest": f.verdict(t, oldest.AccessToken),
				"middle": f.verdict(t, middle.AccessToken),
				"newest": f.verdict(t, newest.AccessToken),
				"bob's":  f.verdict(t, bob.AccessToken),
			}
			want := map[string]string{"oldest": "revoked", "middle": "accepted", "newest": "accepted", "bob's": "accepted"}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("access tokens after the third login (-got +want):\n%s", diff)
			}
			if got := f.refreshable(t, oldest.RefreshToken); got != "dead" {
				t.Errorf("the evicted session's refresh token is %s, want dead", got)
			}
			if diff := cmp.Diff(f.sessionIDs(t, "alice"), sortedIDs(middle, newest)); diff != "" {
				t.Errorf("alice's sessions (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: sessions.CauseEvicted, Actor: app, Subject: "alice", SessionID: oldest.Session.ID}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a ban written while the session is being stored leaves no session behind", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			// The ban lands after OpenSession's first look and before the
			// session is written: the ban's end of every session cannot
			// see it, so only the second look can.
			f.rdb.AddHook(&onScript{marker: ":user-sessions:", before: func(ctx context.Context) {
				if err := f.rev.Ban(ctx, "alice", blacklist.Ban{Reason: "raced"}, testTTL); err != nil {
					t.Errorf("ban during the login: %v", err)
				}
			}})
			is, err := f.users.OpenSession(t.Context(), Open{Subject: "alice", ClientID: app})
			if !errors.Is(err, blacklist.ErrBanned) {
				t.Fatalf("OpenSession: %v, want blacklist.ErrBanned", err)
			}
			if is.AccessToken != "" || is.RefreshToken != "" {
				t.Errorf("OpenSession handed out tokens with its error")
			}
			if got := f.sessionIDs(t, "alice"); len(got) != 0 {
				t.Errorf("alice's sessions %v, want none", got)
			}
			// Lifting the ban revives nothing: the session is gone, not
			// merely hidden by the ban.
			if err := f.users.Unban(t.Context(), console, "alice"); err != nil {
				t.Fatalf("Unban: %v", err)
			}
			st, err := f.users.Status(t.Context(), "alice")
			if err != nil || st.Sessions != 0 {
				t.Errorf("Status after unban: %d sessions, %v; want 0, nil", st.Sessions, err)
			}
		})

		t.Run("a login whose caller goes away once the session is stored leaves no session behind", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			ctx, cancel := context.WithCancel(t.Context())
			f.rdb.AddHook(&onScript{marker: ":user-sessions:", after: func(context.Context) { cancel() }})
			is, err := f.users.OpenSession(ctx, Open{Subject: "alice", ClientID: app})
			// The second look for a ban cannot be made: the session it
			// guards is ended rather than left to nobody.
			if !errors.Is(err, blacklist.ErrUnavailable) {
				t.Fatalf("OpenSession: %v, want blacklist.ErrUnavailable", err)
			}
			if is.AccessToken != "" || is.RefreshToken != "" {
				t.Errorf("OpenSession handed out tokens with its error")
			}
			if got := f.sessionIDs(t, "alice"); len(got) != 0 {
				t.Errorf("alice's sessions %v, want none", got)
			}
			if got := f.events(t); len(got) != 0 {
				t.Errorf("events %+v, want none", got)
			}
		})
	})
}

// sortedIDs returns the session ids of issued sessions, sorted.
func sortedIDs(is ...Issued) []string {
	ids := make([]string, 0, len(is))
	for _, i := range is {
		ids = append(ids, i.Session.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a session whose stored claims no longer fit in a token is refused with ErrInvalid naming the limit", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			// Stored before OpenSession bounded the claims, as an
			// upgrade finds it.
			id, err := sessions.NewID("alice")
			if err != nil {
				t.Fatal(err)
			}
			big := map[string]any{"pad": strings.Repeat("x", auth.MaxTokenBytes)}
			rt, _, err := f.sessions.Open(t.Context(), sessions.Session{ID: id, Subject: "alice", ClientID: app, Claims: big})
			if err != nil {
				t.Fatalf("sessions.Open: %v", err)
			}
			is, err := f.users.Refresh(t.Context(), rt, app, "")
			if !errors.Is(err, ErrInvalid) || is.AccessToken != "" {
				t.Fatalf("Refresh = %d-byte token, %v; want ErrInvalid and no token", len(is.AccessToken), err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(auth.MaxTokenBytes)) {
				t.Errorf("Refresh error %q does not name the limit of %d bytes", err, auth.MaxTokenBytes)
			}
		})

		t.Run("a refresh rotates the refresh token and issues a token of the same session", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			first := f.open(t, "alice")
			f.clock.Advance(time.Second)
			next, err := f.users.Refresh(t.Context(), first.RefreshToken, app, "read")
			if err != nil {
				t.Fatalf("Refresh: %v, want nil", err)
			}
			if !next.Rotated || next.RefreshToken == first.RefreshToken {
				t.Errorf("Refresh: Rotated %v, same refresh token %v; want a new one", next.Rotated, next.RefreshToken == first.RefreshToken)
			}
			c := f.claims(t, next.AccessToken)
			if c.SessionID != first.Session.ID || c.Scope != "read" || c.Subject != "alice" {
				t.Errorf("the new token has sid %q, scope %q, sub %q; want %q, read, alice", c.SessionID, c.Scope, c.Subject, first.Session.ID)
			}
			got := map[string]string{
				"old access token":    f.verdict(t, first.AccessToken),
				"old refresh token":   f.refreshable(t, first.RefreshToken),
				"new refresh token":   f.refreshable(t, next.RefreshToken),
				"session count":       fmt.Sprint(len(f.sessionIDs(t, "alice"))),
				"audit events so far": fmt.Sprint(len(f.events(t))),
			}
			want := map[string]string{
				"old access token":    "accepted",
				"old refresh token":   "dead",
				"new refresh token":   "live",
				"session count":       "1",
				"audit events so far": "0",
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("after the refresh (-got +want):\n%s", diff)
			}
		})

		t.Run("an empty scope issues the session's scope", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			first := f.open(t, "alice")
			next, err := f.users.Refresh(t.Context(), first.RefreshToken, app, "")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got := f.claims(t, next.AccessToken).Scope; got != "read write" {
				t.Errorf("scope %q, want %q", got, "read write")
			}
		})

		t.Run("a reused refresh token ends its session and is recorded once as refresh_reuse by the client", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			other := f.open(t, "alice")
			first := f.open(t, "alice")
			next, err := f.users.Refresh(t.Context(), first.RefreshToken, app, "")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			_, err = f.users.Refresh(t.Context(), first.RefreshToken, app, "")
			if !errors.Is(err, sessions.ErrReused) {
				t.Fatalf("Refresh with the rotated token: %v, want sessions.ErrReused", err)
			}
			got := map[string]string{
				"first access token":      f.verdict(t, first.AccessToken),
				"rotated access token":    f.verdict(t, next.AccessToken),
				"rotated refresh token":   f.refreshable(t, next.RefreshToken),
				"other session's access":  f.verdict(t, other.AccessToken),
				"other session's refresh": f.refreshable(t, other.RefreshToken),
			}
			want := map[string]string{
				"first access token":      "revoked",
				"rotated access token":    "revoked",
				"rotated refresh token":   "dead",
				"other session's access":  "accepted",
				"other session's refresh": "live",
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("after the reuse (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: sessions.CauseReuse, Actor: app, Subject: "alice", SessionID: first.Session.ID}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a banned user's refresh ends the session with ErrInvalidGrant and ErrBanned", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			// The ban is written but has not ended the sessions yet, as
			// when a refresh races Ban.
			if err := f.rev.Ban(t.Context(), "alice", blacklist.Ban{Reason: "raced"}, testTTL); err != nil {
				t.Fatalf("blacklist Ban: %v", err)
			}
			_, err := f.users.Refresh(t.Context(), is.RefreshToken, app, "")
			if !errors.Is(err, sessions.ErrInvalidGrant) || !errors.Is(err, blacklist.ErrBanned) {
				t.Fatalf("Refresh: %v, want both sessions.ErrInvalidGrant and blacklist.ErrBanned", err)
			}
			if got := f.sessionIDs(t, "alice"); len(got) != 0 {
				t.Errorf("alice's sessions %v, want none", got)
			}
			if err := f.rev.Unban(t.Context(), "alice"); err != nil {
				t.Fatalf("blacklist Unban: %v", err)
			}
			// Unbanned, the session stays dead: it was ended, not hidden.
			if got := f.verdict(t, is.AccessToken); got != "revoked" {
				t.Errorf("the session's access token after unban is %s, want revoked", got)
			}
			if _, err := f.users.Refresh(t.Context(), is.RefreshToken, app, ""); !errors.Is(err, sessions.ErrInvalidGrant) {
				t.Errorf("Refresh after unban: %v, want sessions.ErrInvalidGrant", err)
			}
		})

		t.Run("another client's refresh is refused with ErrInvalidGrant and changes nothing", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			f.refuses(t, "Refresh", sessions.ErrInvalidGrant, func() error {
				_, err := f.users.Refresh(t.Context(), is.RefreshToken, "intruder", "")
				return err
			})
		})
	})
}

// logoutWorld is what a logout test starts from: alice logged in on two
// devices (the caller's and another), alice holding a token of no session,
// and bob logged in.
type logoutWorld struct {
	caller, other, bob Issued
	bare               string
}

func newLogoutWorld(t *testing.T, f *fixture) logoutWorld {
	t.Helper()
	return logoutWorld{
		caller: f.open(t, "alice"),
		other:  f.open(t, "alice"),
		bob:    f.open(t, "bob"),
		bare:   f.bare(t, "alice"),
	}
}

// verdicts says of each token of the world whether it still works.
func (w logoutWorld) verdicts(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	return map[string]string{
		"caller access":  f.verdict(t, w.caller.AccessToken),
		"caller refresh": f.refreshable(t, w.caller.RefreshToken),
		"other access":   f.verdict(t, w.other.AccessToken),
		"other refresh":  f.refreshable(t, w.other.RefreshToken),
		"bare token":     f.verdict(t, w.bare),
		"bob access":     f.verdict(t, w.bob.AccessToken),
		"bob refresh":    f.refreshable(t, w.bob.RefreshToken),
	}
}

// worldAfter is what verdicts should say once an action left the caller's
// and the other session's access tokens and the bare token as given: a
// session whose access token is still accepted keeps a live refresh token,
// any other has a dead one, and bob's session is never touched.
func worldAfter(caller, other, bare string) map[string]string {
	refresh := func(access string) string {
		if access == "accepted" {
			return "live"
		}
		return "dead"
	}
	return map[string]string{
		"caller access": caller, "caller refresh": refresh(caller),
		"other access": other, "other refresh": refresh(other),
		"bare token": bare,
		"bob access": "accepted", "bob refresh": "live",
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		for _, tc := range []struct {
			name  string
			scope Scope
			want  map[string]string
			// alive are the sessions of alice left, of "caller" and "other".
			alive []string
		}{
			{
				name:  "a local logout ends the caller's session only",
				scope: ScopeLocal,
				want:  worldAfter("revoked", "accepted", "accepted"),
				alive: []string{"other"},
			},
			{
				name:  "logging out the others ends every session of the user but the caller's",
				scope: ScopeOthers,
				want:  worldAfter("accepted", "revoked", "accepted"),
				alive: []string{"caller"},
			},
			{
				name:  "a global logout ends every session of the user and cuts off tokens without a session",
				scope: ScopeGlobal,
				want:  worldAfter("revoked", "revoked", "revoked"),
			},
		} {
			t.Run(tc.name+", leaves other users alone and is recorded once", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := newLogoutWorld(t, f)
				if err := f.users.Logout(t.Context(), f.claims(t, w.caller.AccessToken), tc.scope); err != nil {
					t.Fatalf("Logout(%s): %v, want nil", tc.scope, err)
				}
				if diff := cmp.Diff(w.verdicts(t, f), tc.want); diff != "" {
					t.Errorf("tokens after the logout (-got +want):\n%s", diff)
				}
				byName := map[string]Issued{"caller": w.caller, "other": w.other}
				var alive []Issued
				for _, n := range tc.alive {
					alive = append(alive, byName[n])
				}
				if diff := cmp.Diff(f.sessionIDs(t, "alice"), sortedIDs(alive...)); diff != "" {
					t.Errorf("alice's sessions (-got +want):\n%s", diff)
				}
				if diff := cmp.Diff(f.sessionIDs(t, "bob"), sortedIDs(w.bob)); diff != "" {
					t.Errorf("bob's sessions (-got +want):\n%s", diff)
				}
				want := []audit.Event{{Type: audit.TypeLogout, Actor: app, Subject: "alice", SessionID: w.caller.Session.ID, Reason: string(tc.scope)}}
				if diff := cmp.Diff(f.events(t), want); diff != "" {
					t.Errorf("audit trail (-got +want):\n%s", diff)
				}
			})
		}

		t.Run("a session opened right after a global logout works", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			if err := f.users.Logout(t.Context(), f.claims(t, is.AccessToken), ScopeGlobal); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			// Within the same second as the cut-off: the issue time to the
			// microsecond is what tells the new session from the old.
			f.clock.Advance(time.Microsecond)
			fresh := f.open(t, "alice")
			if got := f.verdict(t, fresh.AccessToken); got != "accepted" {
				t.Errorf("the new session's access token is %s, want accepted", got)
			}
			if _, err := f.users.Refresh(t.Context(), fresh.RefreshToken, app, ""); err != nil {
				t.Errorf("Refresh of the new session: %v, want nil", err)
			}
		})

		t.Run("a local logout with a token of no session revokes that token only", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			c := f.claims(t, w.bare)
			if err := f.users.Logout(t.Context(), c, ScopeLocal); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			want := worldAfter("accepted", "accepted", "revoked")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after the logout (-got +want):\n%s", diff)
			}
			another := f.bare(t, "alice")
			if got := f.verdict(t, another); got != "accepted" {
				t.Errorf("another token of no session is %s, want accepted: only the jti is revoked", got)
			}
			wantEvents := []audit.Event{{Type: audit.TypeLogout, Actor: app, Subject: "alice", Reason: "local"}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a local logout of a session whose state has lapsed still kills its tokens", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			c := f.claims(t, is.AccessToken)
			f.dropSessionState(t, is.Session.ID)
			if err := f.users.Logout(t.Context(), c, ScopeLocal); err != nil {
				t.Fatalf("Logout: %v, want nil", err)
			}
			if got := f.verdict(t, is.AccessToken); got != "revoked" {
				t.Errorf("the session's access token is %s, want revoked", got)
			}
			want := []audit.Event{{Type: audit.TypeLogout, Actor: app, Subject: "alice", SessionID: is.Session.ID, Reason: "local"}}
			if diff := cmp.Diff(f.events(t), want); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("an unknown scope is refused with ErrInvalid and changes nothing", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			f.refuses(t, "Logout", ErrInvalid, func() error {
				return f.users.Logout(t.Context(), f.claims(t, is.AccessToken), Scope("everywhere"))
			})
		})
	})
}

func TestEndOwnSession(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a user ends another of their sessions, recorded once as session_ended", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			if err := f.users.EndOwnSession(t.Context(), f.claims(t, w.caller.AccessToken), w.other.Session.ID); err != nil {
				t.Fatalf("EndOwnSession: %v, want nil", err)
			}
			want := worldAfter("accepted", "revoked", "accepted")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after ending the session (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{
				Type: audit.TypeSessionEnded, Actor: app, Subject: "alice", SessionID: w.other.Session.ID,
				Reason: "ended from session " + w.caller.Session.ID,
			}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a user ends their own current session", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			if err := f.users.EndOwnSession(t.Context(), f.claims(t, is.AccessToken), is.Session.ID); err != nil {
				t.Fatalf("EndOwnSession: %v, want nil", err)
			}
			if got := f.verdict(t, is.AccessToken); got != "revoked" {
				t.Errorf("the session's access token is %s, want revoked", got)
			}
			if got := len(f.events(t)); got != 1 {
				t.Errorf("%d events, want 1", got)
			}
		})

		for _, tc := range []struct {
			name string
			id   func(w logoutWorld) string
		}{
			{"another user's session", func(w logoutWorld) string { return w.bob.Session.ID }},
			{"a session that does not exist", func(logoutWorld) string { return "AAAAAAAAAAAAAAAAAAAAAA" }},
			{"a malformed id", func(logoutWorld) string { return "../../etc" }},
		} {
			t.Run(tc.name+" is answered ErrNotFound and nothing changes", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := newLogoutWorld(t, f)
				f.refuses(t, "EndOwnSession", sessions.ErrNotFound, func() error {
					return f.users.EndOwnSession(t.Context(), f.claims(t, w.caller.AccessToken), tc.id(w))
				})
			})
		}
	})
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("an admin ends any user's session, recorded once as admin_session_ended", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			if err := f.users.EndSession(t.Context(), console, w.other.Session.ID); err != nil {
				t.Fatalf("EndSession: %v, want nil", err)
			}
			want := worldAfter("accepted", "revoked", "accepted")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after ending the session (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: audit.TypeAdminSessionEnded, Actor: console, Subject: "alice", SessionID: w.other.Session.ID}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a session that does not exist is answered ErrNotFound and nothing changes", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			f.open(t, "alice")
			f.refuses(t, "EndSession", sessions.ErrNotFound, func() error {
				return f.users.EndSession(t.Context(), console, "AAAAAAAAAAAAAAAAAAAAAA")
			})
		})
	})
}

func TestLogOutEverywhere(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("an admin logs a user out of every session and token, recorded once as admin_logout", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			at := f.clock.Now()
			if err := f.users.LogOutEverywhere(t.Context(), console, "alice"); err != nil {
				t.Fatalf("LogOutEverywhere: %v, want nil", err)
			}
			want := worldAfter("revoked", "revoked", "revoked")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after the logout (-got +want):\n%s", diff)
			}
			if diff := cmp.Diff(f.status(t, "alice"), Status{Subject: "alice", CutOff: at}); diff != "" {
				t.Errorf("Status (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: audit.TypeAdminLogout, Actor: console, Subject: "alice"}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
			f.clock.Advance(time.Microsecond)
			if got := f.verdict(t, f.open(t, "alice").AccessToken); got != "accepted" {
				t.Errorf("a session opened afterwards has its token %s, want accepted", got)
			}
		})
	})
}
