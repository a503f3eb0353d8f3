package users

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/sessions"
)

// hence is an exp d from now.
func hence(d time.Duration) func(now time.Time) time.Time {
	return func(now time.Time) time.Time { return now.Add(d) }
}

// pastExpiry moves a fixture's clock beyond the expiry of every access
// token issued so far, leeway included.
func pastExpiry(f *fixture) { f.clock.Advance(testTTL + testLeeway + time.Second) }

// tampered returns token with the last character of its signature changed.
func tampered(token string) string {
	last := token[len(token)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return token[:len(token)-1] + string(repl)
}

// revocationTTL is how long Redis keeps the revocation of the token with
// id jti.
func (f *fixture) revocationTTL(t *testing.T, jti string) time.Duration {
	t.Helper()
	keys, err := f.rdb.Keys(t.Context(), f.prefix+"{*}:j:"+jti).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("find the revocation of %s: %v, %d keys", jti, err, len(keys))
	}
	ttl, err := f.rdb.PTTL(t.Context(), keys[0]).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", keys[0], err)
	}
	return ttl
}

func TestRevokeToken(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a revoked token is refused while its session's other tokens work, recorded once as admin_revocation", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			next, err := f.users.Refresh(t.Context(), is.RefreshToken, app, "")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if err := f.users.RevokeToken(t.Context(), console, is.AccessToken); err != nil {
				t.Fatalf("RevokeToken: %v, want nil", err)
			}
			got := map[string]string{
				"revoked token":        f.verdict(t, is.AccessToken),
				"same session's token": f.verdict(t, next.AccessToken),
				"refresh token":        f.refreshable(t, next.RefreshToken),
			}
			want := map[string]string{"revoked token": "revoked", "same session's token": "accepted", "refresh token": "live"}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("after the revocation (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{
				Type: audit.TypeAdminRevocation, Actor: console, Subject: "alice", SessionID: is.Session.ID,
				Reason: "token " + is.Claims.ID,
			}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a trusted issuer's token is recorded under its user's qualified name", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			tok := f.foreign(t, "42", jwt.MapClaims{"sid": "idp-session"})
			c := f.claims(t, tok)
			if err := f.users.RevokeToken(t.Context(), console, tok); err != nil {
				t.Fatalf("RevokeToken: %v, want nil", err)
			}
			if got := f.verdict(t, tok); got != "revoked" {
				t.Errorf("the token is %s, want revoked", got)
			}
			want := []audit.Event{{
				Type: audit.TypeAdminRevocation, Actor: console, Subject: foreignIssuer + "\x1f42", SessionID: "idp-session",
				Reason: "token " + c.ID,
			}}
			if diff := cmp.Diff(f.events(t), want); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("an expired token needs nothing written and is no error", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			tok := f.bare(t, "alice")
			pastExpiry(f)
			f.changesNothing(t, "revoking an expired token", func() {
				if err := f.users.RevokeToken(t.Context(), console, tok); err != nil {
					t.Fatalf("RevokeToken: %v, want nil", err)
				}
			})
		})

		for _, tc := range []struct {
			name  string
			token func(t *testing.T, f *fixture) string
		}{
			{"garbage", func(*testing.T, *fixture) string { return "not-a-token" }},
			{"an empty token", func(*testing.T, *fixture) string { return "" }},
			{"a token with a tampered signature", func(t *testing.T, f *fixture) string { return tampered(f.bare(t, "alice")) }},
			{"a refresh token", func(t *testing.T, f *fixture) string { return f.open(t, "alice").RefreshToken }},
		} {
			t.Run(tc.name+" is refused with ErrInvalid and changes nothing", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				tok := tc.token(t, f)
				f.refuses(t, "RevokeToken", ErrInvalid, func() error {
					return f.users.RevokeToken(t.Context(), console, tok)
				})
			})
		}
	})
}

func TestRevokeID(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a token revoked by its jti is refused until its exp, recorded once as admin_revocation without a subject", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			tok := f.bare(t, "alice")
			other := f.bare(t, "alice")
			c := f.claims(t, tok)
			if err := f.users.RevokeID(t.Context(), console, "", c.ID, c.ExpiresAt.Time); err != nil {
				t.Fatalf("RevokeID: %v, want nil", err)
			}
			// The entry outlives the token by the leeway, and no more.
			if ttl, most := f.revocationTTL(t, c.ID), testTTL+testLeeway; ttl > most || ttl < most-time.Minute {
				t.Errorf("the revocation lives %v, want about %v", ttl, most)
			}
			got := map[string]string{"revoked": f.verdict(t, tok), "other": f.verdict(t, other)}
			if diff := cmp.Diff(got, map[string]string{"revoked": "revoked", "other": "accepted"}); diff != "" {
				t.Errorf("after the revocation (-got +want):\n%s", diff)
			}
			want := []audit.Event{{Type: audit.TypeAdminRevocation, Actor: console, Reason: "token " + c.ID}}
			if diff := cmp.Diff(f.events(t), want); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("a trusted issuer's token is revoked by its jti with its issuer, and only it", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			ours := f.bare(t, "alice")
			oc := f.claims(t, ours)
			jti := oc.ID
			// The other issuer happens to use the same jti.
			theirs := f.foreign(t, "alice", jwt.MapClaims{"jti": jti})
			exp := f.claims(t, theirs).ExpiresAt.Time
			if err := f.users.RevokeID(t.Context(), console, foreignIssuer, jti, exp); err != nil {
				t.Fatalf("RevokeID(their jti): %v, want nil", err)
			}
			got := map[string]string{"theirs": f.verdict(t, theirs), "ours": f.verdict(t, ours)}
			if diff := cmp.Diff(got, map[string]string{"theirs": "revoked", "ours": "accepted"}); diff != "" {
				t.Errorf("after revoking their jti (-got +want):\n%s", diff)
			}
			if err := f.users.RevokeID(t.Context(), console, "", jti, oc.ExpiresAt.Time); err != nil {
				t.Fatalf("RevokeID(our jti): %v, want nil", err)
			}
			if got := f.verdict(t, ours); got != "revoked" {
				t.Errorf("our token after revoking our jti is %s, want revoked", got)
			}
			want := []audit.Event{
				{Type: audit.TypeAdminRevocation, Actor: console, Reason: "token " + jti + " of " + foreignIssuer},
				{Type: audit.TypeAdminRevocation, Actor: console, Reason: "token " + jti},
			}
			if diff := cmp.Diff(f.events(t), want); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
		})

		t.Run("an exp at the latest a token can have is accepted, for ours and a trusted issuer's", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			for issuer, life := range map[string]time.Duration{"": testTTL, foreignIssuer: auth.DefaultMaxTokenLifetime} {
				if err := f.users.RevokeID(t.Context(), console, issuer, "jti-at-the-bound", f.clock.Now().Add(life+testLeeway)); err != nil {
					t.Errorf("RevokeID(issuer %q, exp now + %v + leeway): %v, want nil", issuer, life, err)
				}
			}
		})

		for _, tc := range []struct {
			name   string
			issuer string
			jti    string
			exp    func(now time.Time) time.Time
		}{
			{"an empty jti", "", "", hence(time.Minute)},
			{"a jti longer than 255 bytes", "", strings.Repeat("j", 256), hence(time.Minute)},
			{"a jti with a control character", "", "j\x7f", hence(time.Minute)},
			{"a missing exp", "", "jti-1", func(time.Time) time.Time { return time.Time{} }},
			{"an exp at the epoch", "", "jti-1", func(time.Time) time.Time { return time.Unix(0, 0) }},
			{"a negative exp", "", "jti-1", func(time.Time) time.Time { return time.Unix(-1, 0) }},
			{"an exp in the year 5138", "", "jti-1", func(time.Time) time.Time { return time.Unix(99999999999, 0) }},
			{"an exp a second beyond access_ttl + leeway", "", "jti-1", hence(testTTL + testLeeway + time.Second)},
			{"a trusted issuer's exp beyond its max_token_lifetime + leeway", foreignIssuer, "jti-1", hence(auth.DefaultMaxTokenLifetime + testLeeway + time.Second)},
			{"an issuer neither ours nor trusted", "https://evil.test/", "jti-1", hence(time.Minute)},
			{"an issuer with a control character", foreignIssuer + "\x1f", "jti-1", hence(time.Minute)},
		} {
			t.Run(tc.name+" is refused with ErrInvalid and changes nothing", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				f.refuses(t, "RevokeID", ErrInvalid, func() error {
					return f.users.RevokeID(t.Context(), console, tc.issuer, tc.jti, tc.exp(f.clock.Now()))
				})
			})
		}
	})
}

func TestRevokeAccess(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		for _, tc := range []struct {
			name  string
			token func(t *testing.T, f *fixture) string
		}{
			{"our access token", func(t *testing.T, f *fixture) string { return f.open(t, "alice").AccessToken }},
			{"a trusted issuer's access token", func(t *testing.T, f *fixture) string { return f.foreign(t, "42", nil) }},
			{"a token of no session", func(t *testing.T, f *fixture) string { return f.bare(t, "alice") }},
		} {
			t.Run(tc.name+" is done and refused afterwards, and its user's other tokens are not", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				other := f.open(t, "alice")
				tok := tc.token(t, f)
				done, err := f.users.RevokeAccess(t.Context(), app, tok)
				if err != nil || !done {
					t.Fatalf("RevokeAccess: %v, %v; want true, nil", done, err)
				}
				got := map[string]string{"revoked": f.verdict(t, tok), "other": f.verdict(t, other.AccessToken)}
				if diff := cmp.Diff(got, map[string]string{"revoked": "revoked", "other": "accepted"}); diff != "" {
					t.Errorf("after the revocation (-got +want):\n%s", diff)
				}
				// Revoking again is no error: RFC 7009 revocation is
				// idempotent.
				if done, err := f.users.RevokeAccess(t.Context(), app, tok); err != nil || !done {
					t.Errorf("RevokeAccess again: %v, %v; want true, nil", done, err)
				}
				// As before the move to this package, RFC 7009 revocation of
				// an access token is logged, not audited.
				if got := f.events(t); len(got) != 0 {
					t.Errorf("events %+v, want none", got)
				}
			})
		}

		for _, tc := range []struct {
			name     string
			token    func(t *testing.T, f *fixture) string
			wantDone bool
		}{
			{"an expired access token is done with nothing written", func(t *testing.T, f *fixture) string {
				tok := f.bare(t, "alice")
				pastExpiry(f)
				return tok
			}, true},
			{"a refresh token is left for the caller to try as one", func(t *testing.T, f *fixture) string { return f.open(t, "alice").RefreshToken }, false},
			{"garbage is not done", func(*testing.T, *fixture) string { return "garbage" }, false},
			{"a tampered token is not done", func(t *testing.T, f *fixture) string { return tampered(f.bare(t, "alice")) }, false},
		} {
			t.Run(tc.name+" and changes nothing", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				tok := tc.token(t, f)
				f.changesNothing(t, "RevokeAccess", func() {
					done, err := f.users.RevokeAccess(t.Context(), app, tok)
					if err != nil || done != tc.wantDone {
						t.Fatalf("RevokeAccess: %v, %v; want %v, nil", done, err, tc.wantDone)
					}
				})
			})
		}
	})
}

func TestRevokeRefresh(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("the client's own refresh token ends its session, recorded once as refresh_revoked", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := newLogoutWorld(t, f)
			done, err := f.users.RevokeRefresh(t.Context(), app, w.caller.RefreshToken)
			if err != nil || !done {
				t.Fatalf("RevokeRefresh: %v, %v; want true, nil", done, err)
			}
			want := worldAfter("revoked", "accepted", "accepted")
			if diff := cmp.Diff(w.verdicts(t, f), want); diff != "" {
				t.Errorf("tokens after the revocation (-got +want):\n%s", diff)
			}
			wantEvents := []audit.Event{{Type: sessions.CauseRevoked, Actor: app, Subject: "alice", SessionID: w.caller.Session.ID}}
			if diff := cmp.Diff(f.events(t), wantEvents); diff != "" {
				t.Errorf("audit trail (-got +want):\n%s", diff)
			}
			// Once ended, the token is no live refresh token any more.
			done, err = f.users.RevokeRefresh(t.Context(), app, w.caller.RefreshToken)
			if err != nil || done {
				t.Errorf("RevokeRefresh again: %v, %v; want false, nil", done, err)
			}
			if got := len(f.events(t)); got != 1 {
				t.Errorf("%d events after revoking again, want still 1", got)
			}
		})

		t.Run("another client's refresh token is refused with ErrOtherClient and nothing ends", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			f.refuses(t, "RevokeRefresh", ErrOtherClient, func() error {
				done, err := f.users.RevokeRefresh(t.Context(), "intruder", is.RefreshToken)
				if done {
					t.Errorf("RevokeRefresh: done, want false")
				}
				return err
			})
			if got := f.verdict(t, is.AccessToken); got != "accepted" {
				t.Errorf("the session's access token is %s, want accepted", got)
			}
		})

		for _, tc := range []struct {
			name  string
			token func(t *testing.T, f *fixture) string
		}{
			{"garbage", func(*testing.T, *fixture) string { return "garbage" }},
			{"an access token", func(t *testing.T, f *fixture) string { return f.open(t, "alice").AccessToken }},
			{"a rotated-away refresh token", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				if _, err := f.users.Refresh(t.Context(), is.RefreshToken, app, ""); err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				return is.RefreshToken
			}},
		} {
			t.Run(tc.name+" is not done and changes nothing", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				tok := tc.token(t, f)
				f.changesNothing(t, "RevokeRefresh", func() {
					done, err := f.users.RevokeRefresh(t.Context(), app, tok)
					if err != nil || done {
						t.Fatalf("RevokeRefresh: %v, %v; want false, nil", done, err)
					}
				})
			})
		}
	})
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("a live refresh token is described", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			opened := f.clock.Now().Truncate(time.Millisecond)
			is := f.open(t, "alice")
			f.clock.Advance(time.Minute)
			rotated := f.clock.Now().Truncate(time.Millisecond)
			next, err := f.users.Refresh(t.Context(), is.RefreshToken, app, "")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			info, ok, err := f.users.RefreshToken(t.Context(), next.RefreshToken)
			if err != nil || !ok {
				t.Fatalf("RefreshToken: %v, %v; want true, nil", ok, err)
			}
			want := sessions.Info{
				SessionID: is.Session.ID,
				Subject:   "alice",
				ClientID:  app,
				Scope:     "read write",
				CreatedAt: opened,
				IssuedAt:  rotated,
				ExpiresAt: rotated.Add(testIdle),
			}
			if diff := cmp.Diff(info, want); diff != "" {
				t.Errorf("RefreshToken (-got +want):\n%s", diff)
			}
		})

		t.Run("a refresh token issued after its user's cut-off is live", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			is := f.open(t, "alice")
			if err := f.rev.CutOff(t.Context(), "alice", f.clock.Now(), testTTL); err != nil {
				t.Fatalf("CutOff: %v", err)
			}
			f.clock.Advance(time.Millisecond)
			next, err := f.users.Refresh(t.Context(), is.RefreshToken, app, "")
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got := f.refreshable(t, next.RefreshToken); got != "live" {
				t.Errorf("the refresh token is %s, want live", got)
			}
		})

		for _, tc := range []struct {
			name string
			// token opens what the case needs and returns the token to
			// look at.
			token func(t *testing.T, f *fixture) string
		}{
			{"a refresh token whose session was revoked", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				// Only the revocation entry: the session store still
				// holds the session, as when its end is half done.
				if err := f.rev.RevokeSession(t.Context(), is.Session.ID); err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}
				return is.RefreshToken
			}},
			{"a refresh token whose session was ended", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				if err := f.users.EndSession(t.Context(), console, is.Session.ID); err != nil {
					t.Fatalf("EndSession: %v", err)
				}
				return is.RefreshToken
			}},
			{"a refresh token whose user was cut off after it was issued", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				f.clock.Advance(time.Millisecond)
				if err := f.rev.CutOff(t.Context(), "alice", f.clock.Now(), testTTL); err != nil {
					t.Fatalf("CutOff: %v", err)
				}
				return is.RefreshToken
			}},
			{"a refresh token of a banned user", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				f.clock.Advance(-time.Second) // the ban's cut-off precedes the token
				if err := f.rev.Ban(t.Context(), "alice", blacklist.Ban{Reason: "spam"}, testTTL); err != nil {
					t.Fatalf("blacklist Ban: %v", err)
				}
				f.clock.Advance(time.Second)
				return is.RefreshToken
			}},
			{"an expired refresh token", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				f.clock.Advance(testIdle)
				return is.RefreshToken
			}},
			{"a rotated-away refresh token", func(t *testing.T, f *fixture) string {
				is := f.open(t, "alice")
				if _, err := f.users.Refresh(t.Context(), is.RefreshToken, app, ""); err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				return is.RefreshToken
			}},
			{"an access token", func(t *testing.T, f *fixture) string { return f.open(t, "alice").AccessToken }},
			{"garbage", func(*testing.T, *fixture) string { return "garbage" }},
		} {
			t.Run(tc.name+" is not live", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				tok := tc.token(t, f)
				info, ok, err := f.users.RefreshToken(t.Context(), tok)
				if err != nil || ok {
					t.Fatalf("RefreshToken: %v, %v; want false, nil", ok, err)
				}
				if diff := cmp.Diff(info, sessions.Info{}); diff != "" {
					t.Errorf("RefreshToken described a dead token (-got +want):\n%s", diff)
				}
			})
		}
	})
}

// TestTheStateNeverOutgrowsTheLiveTokens runs every path that writes
// revocation state, for our users and a trusted issuer's, with the longest
// lifetimes each accepts, then reads back every key: no revocation entry
// lives longer than the tokens it can concern (the issuer's lifetime plus
// twice the leeway), and no key lives forever but an indefinite ban.
func TestTheStateNeverOutgrowsTheLiveTokens(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, options{})
		ctx := t.Context()
		now := f.clock.Now()
		theirLife := auth.DefaultMaxTokenLifetime
		// theirs is a token of the trusted issuer living as long as it may.
		theirs := func(sub string, extra jwt.MapClaims) string {
			c := jwt.MapClaims{"exp": now.Add(theirLife).Unix()}
			for k, v := range extra {
				c[k] = v
			}
			return f.foreign(t, sub, c)
		}
		name := func(issuer, sub string) string {
			n, err := f.users.Subject(issuer, sub)
			if err != nil {
				t.Fatalf("Subject: %v", err)
			}
			return n
		}
		steps := map[string]func() error{
			"our local logout":  func() error { return f.users.Logout(ctx, f.claims(t, f.open(t, "a1").AccessToken), ScopeLocal) },
			"our other logouts": func() error { return f.users.Logout(ctx, f.claims(t, f.open(t, "a2").AccessToken), ScopeOthers) },
			"our global logout": func() error { return f.users.Logout(ctx, f.claims(t, f.open(t, "a3").AccessToken), ScopeGlobal) },
			"our logout without a session": func() error {
				return f.users.Logout(ctx, f.claims(t, f.bare(t, "a4")), ScopeLocal)
			},
			"our token revoked by an admin": func() error { return f.users.RevokeToken(ctx, console, f.bare(t, "a5")) },
			"our jti revoked at the latest exp": func() error {
				return f.users.RevokeID(ctx, console, "", "j-ours", now.Add(testTTL+testLeeway))
			},
			"our token revoked through RFC 7009": func() error { _, err := f.users.RevokeAccess(ctx, app, f.bare(t, "a6")); return err },
			"our refresh token revoked": func() error {
				_, err := f.users.RevokeRefresh(ctx, app, f.open(t, "a7").RefreshToken)
				return err
			},
			"our session ended by an admin":  func() error { return f.users.EndSession(ctx, console, f.open(t, "a8").Session.ID) },
			"our user logged out everywhere": func() error { return f.users.LogOutEverywhere(ctx, console, name("", "a9")) },
			"our user banned for a day": func() error {
				_, err := f.users.Ban(ctx, console, name("", "b1"), 24*time.Hour, "")
				return err
			},
			"our user banned until lifted": func() error { _, err := f.users.Ban(ctx, console, name("", "b2"), 0, ""); return err },
			"our user banned and unbanned": func() error {
				if _, err := f.users.Ban(ctx, console, name("", "b3"), 0, ""); err != nil {
					return err
				}
				return f.users.Unban(ctx, console, name("", "b3"))
			},
			"their local logout": func() error {
				return f.users.Logout(ctx, f.claims(t, theirs("t1", jwt.MapClaims{"sid": "s-1"})), ScopeLocal)
			},
			"their logout without a session":  func() error { return f.users.Logout(ctx, f.claims(t, theirs("t2", nil)), ScopeLocal) },
			"their global logout":             func() error { return f.users.Logout(ctx, f.claims(t, theirs("t3", nil)), ScopeGlobal) },
			"their token revoked by an admin": func() error { return f.users.RevokeToken(ctx, console, theirs("t4", nil)) },
			"their jti revoked at the latest exp": func() error {
				return f.users.RevokeID(ctx, console, foreignIssuer, "j-theirs", now.Add(theirLife+testLeeway))
			},
			"their token revoked through RFC 7009": func() error {
				_, err := f.users.RevokeAccess(ctx, app, theirs("t5", nil))
				return err
			},
			"their token claiming to live 3,000 years revoked through RFC 7009": func() error {
				tok := f.foreign(t, "t8", jwt.MapClaims{"exp": now.AddDate(3000, 0, 0).Unix()})
				_, err := f.users.RevokeAccess(ctx, app, tok)
				return err
			},
			"a jti revoked with an exp in the year 5138": func() error {
				if err := f.users.RevokeID(ctx, console, "", "j-far", time.Unix(99999999999, 0)); !errors.Is(err, ErrInvalid) {
					return fmt.Errorf("RevokeID = %v, want ErrInvalid", err)
				}
				return nil
			},
			"their user logged out everywhere": func() error { return f.users.LogOutEverywhere(ctx, console, name(foreignIssuer, "t6")) },
			"their user banned until lifted": func() error {
				_, err := f.users.Ban(ctx, console, name(foreignIssuer, "t7"), 0, "")
				return err
			},
		}
		for step, run := range steps {
			if err := run(); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}

		keys, err := f.rdb.Keys(ctx, f.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		ks := keyspace.New(f.prefix)
		indefinite := map[string]bool{}
		entries := 0
		for _, key := range keys {
			ttl, err := f.rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			kind, id, isEntry := ks.ParseEntry(key)
			if !isEntry {
				if ttl < 0 {
					t.Errorf("%q has no TTL", key)
				}
				continue
			}
			entries++
			life := testTTL
			if issuer, _ := SplitSubject(id); issuer != "" {
				life = theirLife
			}
			switch {
			case kind == keyspace.KindBan && ttl == -1:
				indefinite[id] = true
			case kind == keyspace.KindBan:
				if ttl > 24*time.Hour {
					t.Errorf("the ban %q lives %v, longer than it was given", id, ttl)
				}
			case ttl < 0:
				t.Errorf("the entry %q has no TTL", key)
			case ttl > life+2*testLeeway+time.Second:
				t.Errorf("the entry %q lives %v, longer than any token it concerns: %v", key, ttl, life+2*testLeeway)
			}
		}
		if want := map[string]bool{"b2": true, name(foreignIssuer, "t7"): true}; !cmp.Equal(indefinite, want) {
			t.Errorf("entries without TTL: %v, want only the bans until lifted %v", indefinite, want)
		}
		if entries < len(steps)-2 {
			t.Errorf("%d revocation entries, want at least one a step that writes (%d): the test reads the wrong keys", entries, len(steps)-2)
		}
	})
}
