package users

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

func TestSubject(t *testing.T) {
	t.Parallel()
	f := miniFixture(t)
	for _, tc := range []struct {
		name        string
		issuer, sub string
		want        string
		wantErr     error
	}{
		{"our user is named by their bare sub", "", "42", "42", nil},
		{"our own issuer named explicitly is ours", testIssuer, "42", "42", nil},
		{"a trusted issuer's user is qualified by the issuer", foreignIssuer, "42", foreignIssuer + "\x1f42", nil},
		{"an issuer neither ours nor trusted is refused with ErrUnknownIssuer", "https://evil.test/", "42", "", ErrUnknownIssuer},
		{"an empty sub is refused", "", "", "", ErrInvalid},
		{"a sub with a control character is refused", foreignIssuer, "4\n2", "", ErrInvalid},
		{"a sub longer than 255 bytes is refused", "", strings.Repeat("4", 256), "", ErrInvalid},
		{"an issuer with a control character is refused", "https://idp.test/\x00", "42", "", ErrInvalid},
		{"an issuer longer than 1024 bytes is refused", "https://" + strings.Repeat("i", 1020), "42", "", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.users.Subject(tc.issuer, tc.sub)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Subject(%q, %q) = %q, %v; want %q, %v", tc.issuer, tc.sub, got, err, tc.want, tc.wantErr)
			}
		})
	}

	t.Run("an unknown issuer is also invalid input", func(t *testing.T) {
		if !errors.Is(ErrUnknownIssuer, ErrInvalid) {
			t.Errorf("errors.Is(ErrUnknownIssuer, ErrInvalid) = false, want true")
		}
	})
}

func TestSubjectOf(t *testing.T) {
	t.Parallel()
	f := miniFixture(t)
	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"our token's user is named by their bare sub", f.bare(t, "42"), "42"},
		{"a trusted issuer's token's user is qualified by the issuer", f.foreign(t, "42", nil), foreignIssuer + "\x1f42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.tokens.Verify(t.Context(), tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := f.users.SubjectOf(c); got != tc.want {
				t.Errorf("SubjectOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrustedIssuersUsersAreKeptApart(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		// ours is our user "42"; theirs are the trusted issuer's user
		// "42", with and without a session of the issuer's own.
		type world struct {
			ours                 Issued
			oursBare             string
			theirs, theirsInSess string
		}
		setup := func(t *testing.T, f *fixture) world {
			t.Helper()
			return world{
				ours:         f.open(t, "42"),
				oursBare:     f.bare(t, "42"),
				theirs:       f.foreign(t, "42", nil),
				theirsInSess: f.foreign(t, "42", jwt.MapClaims{"session_id": "idp-session"}),
			}
		}
		verdicts := func(t *testing.T, f *fixture, w world) map[string]string {
			t.Helper()
			return map[string]string{
				"our session":           f.verdict(t, w.ours.AccessToken),
				"our refresh":           f.refreshable(t, w.ours.RefreshToken),
				"our bare token":        f.verdict(t, w.oursBare),
				"their token":           f.verdict(t, w.theirs),
				"their session's token": f.verdict(t, w.theirsInSess),
			}
		}
		ourSideUntouched := map[string]string{"our session": "accepted", "our refresh": "live", "our bare token": "accepted"}
		with := func(theirs, theirsInSess string) map[string]string {
			m := map[string]string{"their token": theirs, "their session's token": theirsInSess}
			for k, v := range ourSideUntouched {
				m[k] = v
			}
			return m
		}
		qualified := foreignIssuer + "\x1f42"

		for _, tc := range []struct {
			name       string
			act        func(t *testing.T, f *fixture, w world) error
			want       map[string]string
			wantEvents []audit.Event
		}{
			{
				name: "their user's global logout",
				act: func(t *testing.T, f *fixture, w world) error {
					return f.users.Logout(t.Context(), f.claims(t, w.theirs), ScopeGlobal)
				},
				want:       with("revoked", "revoked"),
				wantEvents: []audit.Event{{Type: audit.TypeLogout, Actor: "idp-app", Subject: qualified, Reason: "global"}},
			},
			{
				name: "their user's local logout from a session of their issuer",
				act: func(t *testing.T, f *fixture, w world) error {
					return f.users.Logout(t.Context(), f.claims(t, w.theirsInSess), ScopeLocal)
				},
				want:       with("accepted", "revoked"),
				wantEvents: []audit.Event{{Type: audit.TypeLogout, Actor: "idp-app", Subject: qualified, SessionID: "idp-session", Reason: "local"}},
			},
			{
				name: "their user's local logout without a session",
				act: func(t *testing.T, f *fixture, w world) error {
					return f.users.Logout(t.Context(), f.claims(t, w.theirs), ScopeLocal)
				},
				want:       with("revoked", "accepted"),
				wantEvents: []audit.Event{{Type: audit.TypeLogout, Actor: "idp-app", Subject: qualified, Reason: "local"}},
			},
			{
				name: "a ban of their user",
				act: func(t *testing.T, f *fixture, _ world) error {
					_, err := f.users.Ban(t.Context(), console, qualified, time.Hour, "spam")
					return err
				},
				want:       with("banned", "banned"),
				wantEvents: []audit.Event{{Type: audit.TypeBan, Actor: console, Subject: qualified, Reason: "for 1h0m0s: spam"}},
			},
			{
				name: "an admin logging their user out everywhere",
				act: func(t *testing.T, f *fixture, _ world) error {
					return f.users.LogOutEverywhere(t.Context(), console, qualified)
				},
				want:       with("revoked", "revoked"),
				wantEvents: []audit.Event{{Type: audit.TypeAdminLogout, Actor: console, Subject: qualified}},
			},
		} {
			t.Run(tc.name+" never touches our user of the same sub", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := setup(t, f)
				if err := tc.act(t, f, w); err != nil {
					t.Fatalf("%s: %v, want nil", tc.name, err)
				}
				if diff := cmp.Diff(verdicts(t, f, w), tc.want); diff != "" {
					t.Errorf("tokens afterwards (-got +want):\n%s", diff)
				}
				if diff := cmp.Diff(f.status(t, "42"), Status{Subject: "42", Sessions: 1}); diff != "" {
					t.Errorf("our user's status (-got +want):\n%s", diff)
				}
				if diff := cmp.Diff(f.events(t), tc.wantEvents); diff != "" {
					t.Errorf("audit trail (-got +want):\n%s", diff)
				}
			})
		}

		t.Run("our user's ban never touches their user of the same sub", func(t *testing.T) {
			f := newFixture(t, rdb, options{})
			w := setup(t, f)
			if _, err := f.users.Ban(t.Context(), console, "42", 0, "spam"); err != nil {
				t.Fatalf("Ban: %v", err)
			}
			want := map[string]string{
				"our session": "banned", "our refresh": "dead", "our bare token": "banned",
				"their token": "accepted", "their session's token": "accepted",
			}
			if diff := cmp.Diff(verdicts(t, f, w), want); diff != "" {
				t.Errorf("tokens afterwards (-got +want):\n%s", diff)
			}
		})
	})
}

// TestALocalSubjectSpelledLikeAForeignUserIsSomeoneElse: a local subject
// may hold any printable bytes, the old spelling of a trusted issuer's user
// ("<issuer>#<sub>") included. It is still our user, and shares no cut-off,
// ban or session with the trusted issuer's user.
func TestALocalSubjectSpelledLikeAForeignUserIsSomeoneElse(t *testing.T) {
	t.Parallel()
	lookalike := foreignIssuer + "#77"
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		type world struct {
			local  Issued
			theirs string
		}
		setup := func(t *testing.T, f *fixture) world {
			t.Helper()
			return world{local: f.open(t, lookalike), theirs: f.foreign(t, "77", jwt.MapClaims{"sid": "idp-session"})}
		}
		verdicts := func(t *testing.T, f *fixture, w world) map[string]string {
			t.Helper()
			return map[string]string{
				"the local user's token":   f.verdict(t, w.local.AccessToken),
				"the local user's refresh": f.refreshable(t, w.local.RefreshToken),
				"their user's token":       f.verdict(t, w.theirs),
			}
		}
		name := func(t *testing.T, f *fixture, issuer, sub string) string {
			t.Helper()
			n, err := f.users.Subject(issuer, sub)
			if err != nil {
				t.Fatalf("Subject(%q, %q): %v", issuer, sub, err)
			}
			return n
		}
		for _, tc := range []struct {
			name string
			act  func(t *testing.T, f *fixture, w world) error
			want map[string]string
		}{
			{"the local user's global logout", func(t *testing.T, f *fixture, w world) error {
				return f.users.Logout(t.Context(), f.claims(t, w.local.AccessToken), ScopeGlobal)
			}, map[string]string{"the local user's token": "revoked", "the local user's refresh": "dead", "their user's token": "accepted"}},
			{"an admin logging the local user out everywhere", func(t *testing.T, f *fixture, _ world) error {
				return f.users.LogOutEverywhere(t.Context(), console, name(t, f, "", lookalike))
			}, map[string]string{"the local user's token": "revoked", "the local user's refresh": "dead", "their user's token": "accepted"}},
			{"a ban of the local user", func(t *testing.T, f *fixture, _ world) error {
				_, err := f.users.Ban(t.Context(), console, name(t, f, "", lookalike), 0, "spam")
				return err
			}, map[string]string{"the local user's token": "banned", "the local user's refresh": "dead", "their user's token": "accepted"}},
			{"their user's global logout", func(t *testing.T, f *fixture, w world) error {
				return f.users.Logout(t.Context(), f.claims(t, w.theirs), ScopeGlobal)
			}, map[string]string{"the local user's token": "accepted", "the local user's refresh": "live", "their user's token": "revoked"}},
			{"a ban of their user", func(t *testing.T, f *fixture, _ world) error {
				_, err := f.users.Ban(t.Context(), console, name(t, f, foreignIssuer, "77"), 0, "spam")
				return err
			}, map[string]string{"the local user's token": "accepted", "the local user's refresh": "live", "their user's token": "banned"}},
		} {
			t.Run(tc.name+" touches only that user", func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := setup(t, f)
				if err := tc.act(t, f, w); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if diff := cmp.Diff(verdicts(t, f, w), tc.want); diff != "" {
					t.Errorf("tokens afterwards (-got +want):\n%s", diff)
				}
			})
		}
	})
}

// TestATrustedIssuersIdentifiersNeverLandOnOurs: a trusted issuer chooses
// its tokens' sid and jti, and our session ids are no secret (they appear
// in X-Auth-Session and in refresh tokens). A token of theirs carrying our
// session's sid and our token's jti must reach none of our state, and ours
// none of theirs.
func TestATrustedIssuersIdentifiersNeverLandOnOurs(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		type world struct {
			ours   Issued
			theirs string
		}
		setup := func(t *testing.T, f *fixture) world {
			t.Helper()
			ours := f.open(t, "alice")
			return world{ours: ours, theirs: f.foreign(t, "mallory", jwt.MapClaims{"sid": ours.Session.ID, "jti": ours.Claims.ID})}
		}
		verdicts := func(t *testing.T, f *fixture, w world) map[string]string {
			t.Helper()
			return map[string]string{
				"our token":    f.verdict(t, w.ours.AccessToken),
				"our refresh":  f.refreshable(t, w.ours.RefreshToken),
				"our sessions": strings.Join(f.sessionIDs(t, "alice"), ","),
				"their token":  f.verdict(t, w.theirs),
			}
		}
		ourSide := func(w world, theirs string) map[string]string {
			return map[string]string{"our token": "accepted", "our refresh": "live", "our sessions": w.ours.Session.ID, "their token": theirs}
		}
		for _, tc := range []struct {
			name string
			act  func(t *testing.T, f *fixture, w world) error
			want func(w world) map[string]string
		}{
			{"their local logout, from a session whose sid is ours", func(t *testing.T, f *fixture, w world) error {
				return f.users.Logout(t.Context(), f.claims(t, w.theirs), ScopeLocal)
			}, func(w world) map[string]string { return ourSide(w, "revoked") }},
			{"their logout of their other sessions", func(t *testing.T, f *fixture, w world) error {
				return f.users.Logout(t.Context(), f.claims(t, w.theirs), ScopeOthers)
			}, func(w world) map[string]string { return ourSide(w, "accepted") }},
			{"RFC 7009 revocation of their token, whose jti is ours", func(t *testing.T, f *fixture, w world) error {
				done, err := f.users.RevokeAccess(t.Context(), app, w.theirs)
				if !done {
					t.Errorf("RevokeAccess: done = false, want true")
				}
				return err
			}, func(w world) map[string]string { return ourSide(w, "revoked") }},
			{"an admin revoking their token", func(t *testing.T, f *fixture, w world) error {
				return f.users.RevokeToken(t.Context(), console, w.theirs)
			}, func(w world) map[string]string { return ourSide(w, "revoked") }},
			{"our user's local logout", func(t *testing.T, f *fixture, w world) error {
				return f.users.Logout(t.Context(), f.claims(t, w.ours.AccessToken), ScopeLocal)
			}, func(world) map[string]string {
				return map[string]string{"our token": "revoked", "our refresh": "dead", "our sessions": "", "their token": "accepted"}
			}},
			{"RFC 7009 revocation of our token, whose jti they share", func(t *testing.T, f *fixture, w world) error {
				_, err := f.users.RevokeAccess(t.Context(), app, w.ours.AccessToken)
				return err
			}, func(w world) map[string]string {
				return map[string]string{"our token": "revoked", "our refresh": "live", "our sessions": w.ours.Session.ID, "their token": "accepted"}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, rdb, options{})
				w := setup(t, f)
				if err := tc.act(t, f, w); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if diff := cmp.Diff(verdicts(t, f, w), tc.want(w)); diff != "" {
					t.Errorf("tokens afterwards (-got +want):\n%s", diff)
				}
			})
		}
	})
}

func TestSplitSubjectUndoesSubject(t *testing.T) {
	t.Parallel()
	f := miniFixture(t)
	for _, tc := range []struct{ issuer, sub, wantIssuer string }{
		{"", "42", ""},
		{testIssuer, "42", ""},
		{foreignIssuer, "42", foreignIssuer},
		{foreignIssuer, "a#b c", foreignIssuer},
		{"", foreignIssuer + "#42", ""},
	} {
		name, err := f.users.Subject(tc.issuer, tc.sub)
		if err != nil {
			t.Fatalf("Subject(%q, %q): %v", tc.issuer, tc.sub, err)
		}
		if iss, sub := SplitSubject(name); iss != tc.wantIssuer || sub != tc.sub {
			t.Errorf("SplitSubject(Subject(%q, %q)) = %q, %q; want %q, %q", tc.issuer, tc.sub, iss, sub, tc.wantIssuer, tc.sub)
		}
	}
}
