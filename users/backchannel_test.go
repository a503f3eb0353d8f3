package users

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// logoutToken signs a back-channel logout token of the trusted issuer at
// the fixture's now: claims change the defaults, a nil value removes one.
func (f *fixture) logoutToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	now := f.clock.Now()
	c := jwt.MapClaims{
		"iss":    foreignIssuer,
		"aud":    testAudience,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{auth.LogoutEvent: map[string]any{}},
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["typ"] = "logout+jwt"
	s, err := tok.SignedString(f.foreignKey)
	if err != nil {
		t.Fatalf("sign a logout token: %v", err)
	}
	return s
}

// TestABackchannelLogoutWithSidEndsThatSessionOfTheIssuerOnly: the sid,
// qualified by its issuer, ends that session of the issuer's, and nothing
// else: not the user's other sessions, not ours of the same id, not our
// user of the same sub. Recorded once; a replay is refused and changes
// nothing.
func TestABackchannelLogoutWithSidEndsThatSessionOfTheIssuerOnly(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		m := &tally{}
		f := newFixture(t, rdb, options{metrics: m})
		ours := f.open(t, "42")
		ended := f.foreign(t, "42", jwt.MapClaims{"sid": "s1"})
		sameIDAsOurs := f.foreign(t, "42", jwt.MapClaims{"sid": ours.Session.ID})
		other := f.foreign(t, "42", jwt.MapClaims{"sid": "s2"})
		logout := f.logoutToken(t, jwt.MapClaims{"sub": "42", "sid": "s1", "jti": "j1"})

		if err := f.users.BackchannelLogout(t.Context(), logout); err != nil {
			t.Fatalf("BackchannelLogout = %v, want nil", err)
		}
		for name, c := range map[string]struct{ token, want string }{
			"the issuer's token of the session logged out":           {ended, "revoked"},
			"the issuer's token of another session of the same user": {other, "accepted"},
			"the issuer's token whose sid is our session's id":       {sameIDAsOurs, "accepted"},
			"our user 42's token of our own session":                 {ours.AccessToken, "accepted"},
		} {
			if got := f.verdict(t, c.token); got != c.want {
				t.Errorf("%s: %s, want %s", name, got, c.want)
			}
		}
		want := []audit.Event{{Type: audit.TypeBackchannelLogout, Actor: foreignIssuer, Subject: foreignIssuer + "\x1f42", SessionID: "s1", Reason: "jti j1"}}
		if diff := cmp.Diff(f.events(t), want); diff != "" {
			t.Errorf("audit trail (-got +want):\n%s", diff)
		}

		f.changesNothing(t, "the replay", func() {
			if err := f.users.BackchannelLogout(t.Context(), logout); !errors.Is(err, ErrReplayed) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("BackchannelLogout(the same token again) = %v, want ErrReplayed wrapping ErrInvalid", err)
			}
		})
		if diff := cmp.Diff(m.backchannel.list(), []BackchannelOutcome{BackchannelSession, BackchannelReplayed}); diff != "" {
			t.Errorf("outcomes counted (-got +want):\n%s", diff)
		}
	})
}

// TestABackchannelLogoutWithSubOnlyCutsOffTheIssuersUser: every token of
// the issuer's user issued up to the logout is refused at once, none of
// another user's or of our user of the same sub, and none the issuer
// issued after the logout (a new login), even when the logout arrives
// late.
func TestABackchannelLogoutWithSubOnlyCutsOffTheIssuersUser(t *testing.T) {
	t.Parallel()
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		m := &tally{}
		f := newFixture(t, rdb, options{metrics: m})
		ours := f.open(t, "42")
		a := f.foreign(t, "42", jwt.MapClaims{"sid": "s1"})
		b := f.foreign(t, "42", nil)
		someoneElse := f.foreign(t, "43", nil)
		logout := f.logoutToken(t, jwt.MapClaims{"sub": "42", "jti": "j2"})
		// The logout reaches us two seconds after the issuer sent it, and
		// the user has logged in again meanwhile.
		f.clock.Advance(2 * time.Second)
		relogin := f.foreign(t, "42", nil)

		if err := f.users.BackchannelLogout(t.Context(), logout); err != nil {
			t.Fatalf("BackchannelLogout = %v, want nil", err)
		}
		for name, c := range map[string]struct{ token, want string }{
			"the user's token of a session":            {a, "revoked"},
			"the user's token without a session":       {b, "revoked"},
			"the user's token issued after the logout": {relogin, "accepted"},
			"another user of the issuer":               {someoneElse, "accepted"},
			"our user 42":                              {ours.AccessToken, "accepted"},
		} {
			if got := f.verdict(t, c.token); got != c.want {
				t.Errorf("%s: %s, want %s", name, got, c.want)
			}
		}
		want := []audit.Event{{Type: audit.TypeBackchannelLogout, Actor: foreignIssuer, Subject: foreignIssuer + "\x1f42", Reason: "jti j2"}}
		if diff := cmp.Diff(f.events(t), want); diff != "" {
			t.Errorf("audit trail (-got +want):\n%s", diff)
		}
		// The issuer's user's own trail has it too, under the qualified name.
		mine, err := f.users.Events(t.Context(), audit.Query{Subject: foreignIssuer + "\x1f42", Limit: 10})
		if err != nil || len(mine) != 1 {
			t.Errorf("the user's trail = %+v, %v; want the one event", mine, err)
		}
		if diff := cmp.Diff(m.backchannel.list(), []BackchannelOutcome{BackchannelUser}); diff != "" {
			t.Errorf("outcomes counted (-got +want):\n%s", diff)
		}
	})
}

// TestARefusedLogoutTokenChangesNothing: a token the specification refuses,
// or whose ids no workflow takes, is ErrInvalid with the reason, and
// writes nothing, not even the mark of its jti.
func TestARefusedLogoutTokenChangesNothing(t *testing.T) {
	t.Parallel()
	for name, claims := range map[string]jwt.MapClaims{
		"a nonce":                        {"sub": "42", "nonce": "n"},
		"no events":                      {"sub": "42", "events": nil},
		"neither sub nor sid":            {},
		"a sid with a control character": {"sid": "s\x1f1"},
		"a sub longer than any subject":  {"sub": strings.Repeat("x", 256)},
		"another audience":               {"sub": "42", "aud": "someone-else"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := &tally{}
			f := miniFixtureWith(t, options{metrics: m})
			token := f.logoutToken(t, claims)
			f.refuses(t, "BackchannelLogout", ErrInvalid, func() error { return f.users.BackchannelLogout(t.Context(), token) })
			err := f.users.BackchannelLogout(t.Context(), token)
			if !strings.HasPrefix(err.Error(), "logout_token: ") {
				t.Errorf("error text %q, want it to start with logout_token: ", err)
			}
			if diff := cmp.Diff(m.backchannel.list(), []BackchannelOutcome{BackchannelInvalid, BackchannelInvalid}); diff != "" {
				t.Errorf("outcomes counted (-got +want):\n%s", diff)
			}
		})
	}
}

// failScripts fails every script on a key containing marker while on.
type failScripts struct {
	onScript
	on atomic.Bool
}

func (h *failScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() && h.matches(cmd) {
			cmd.SetErr(errors.New("READONLY injected failure"))
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

// TestABackchannelLogoutThatFailsCanBeSentAgain: when the session's end
// cannot be written, the logout fails as unavailable and its jti is
// forgotten, so the issuer's retry of the same token goes through.
func TestABackchannelLogoutThatFailsCanBeSentAgain(t *testing.T) {
	t.Parallel()
	m := &tally{}
	f := miniFixtureWith(t, options{metrics: m})
	hook := &failScripts{onScript: onScript{marker: ":s:"}}
	f.rdb.AddHook(hook)
	a := f.foreign(t, "42", jwt.MapClaims{"sid": "s1"})
	logout := f.logoutToken(t, jwt.MapClaims{"sid": "s1"})

	hook.on.Store(true)
	// Its jti forgotten, the failed logout leaves nothing behind.
	f.refuses(t, "BackchannelLogout with the store failing", blacklist.ErrUnavailable, func() error {
		return f.users.BackchannelLogout(t.Context(), logout)
	})
	if got := f.verdict(t, a); got != "accepted" {
		t.Errorf("the session's token after the failed logout: %s, want accepted", got)
	}
	hook.on.Store(false)
	if err := f.users.BackchannelLogout(t.Context(), logout); err != nil {
		t.Fatalf("BackchannelLogout sent again = %v, want nil", err)
	}
	if got := f.verdict(t, a); got != "revoked" {
		t.Errorf("the session's token after the logout went through: %s, want revoked", got)
	}
	if diff := cmp.Diff(m.backchannel.list(), []BackchannelOutcome{BackchannelFailed, BackchannelSession}); diff != "" {
		t.Errorf("outcomes counted (-got +want):\n%s", diff)
	}
}
