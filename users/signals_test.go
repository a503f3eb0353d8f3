package users

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/audit"
)

// changes is a Publisher that keeps what it is told.
type changes struct {
	mu   sync.Mutex
	list []Change
}

func (c *changes) Publish(_ context.Context, ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, ch)
}

// take returns the changes told since the last take.
func (c *changes) take() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.list
	c.list = nil
	return out
}

// summary is what a test compares of a change.
type summary struct {
	Type, Subject             string
	Sessions                  []string
	CutOff, Disabled, Enabled bool
}

func summarize(list []Change) []summary {
	var out []summary
	for _, c := range list {
		s := slices.Clone(c.Sessions)
		slices.Sort(s)
		out = append(out, summary{c.Event.Type, c.Event.Subject, s, c.CutOff, c.Disabled, c.Enabled})
	}
	return out
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestEveryWorkflowThatEndsSessionsOrUsersTellsOneChangeWithAllItEnded(t *testing.T) {
	pub := &changes{}
	f := miniFixtureWith(t, options{signals: pub})
	ctx := t.Context()
	want := func(t *testing.T, w ...summary) {
		t.Helper()
		if diff := cmp.Diff(w, summarize(pub.take())); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	}

	a1, a2, a3 := f.open(t, "alice"), f.open(t, "alice"), f.open(t, "alice")
	if err := f.users.Logout(ctx, a1.Claims, ScopeLocal); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeLogout, Subject: "alice", Sessions: []string{a1.Session.ID}})
	if err := f.users.Logout(ctx, a2.Claims, ScopeOthers); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeLogout, Subject: "alice", Sessions: []string{a3.Session.ID}})
	a4 := f.open(t, "alice")
	if err := f.users.Logout(ctx, a2.Claims, ScopeGlobal); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeLogout, Subject: "alice", Sessions: sorted(a2.Session.ID, a4.Session.ID), CutOff: true})

	f.clock.Advance(time.Second)
	b1, b2 := f.open(t, "bob"), f.open(t, "bob")
	if err := f.users.EndOwnSession(ctx, b1.Claims, b2.Session.ID); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeSessionEnded, Subject: "bob", Sessions: []string{b2.Session.ID}})
	if err := f.users.EndSession(ctx, "admin", b1.Session.ID); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeAdminSessionEnded, Subject: "bob", Sessions: []string{b1.Session.ID}})
	b3 := f.open(t, "bob")
	if err := f.users.LogOutEverywhere(ctx, "admin", "bob"); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeAdminLogout, Subject: "bob", Sessions: []string{b3.Session.ID}, CutOff: true})

	c1 := f.open(t, "carol")
	if _, err := f.users.Ban(ctx, "admin", "carol", 0, "spam"); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeBan, Subject: "carol", Sessions: []string{c1.Session.ID}, CutOff: true, Disabled: true})
	if err := f.users.Unban(ctx, "admin", "carol"); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeUnban, Subject: "carol", Enabled: true})

	d := f.open(t, "dave")
	if _, err := f.users.RevokeRefresh(ctx, app, d.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got := pub.take(); len(got) != 1 || !slices.Equal(got[0].Sessions, []string{d.Session.ID}) {
		t.Errorf("RFC 7009 revocation of a refresh token told %v, want its session", summarize(got))
	}

	// One token, not a session: nothing to tell.
	e := f.open(t, "erin")
	if err := f.users.RevokeToken(ctx, "admin", e.AccessToken); err != nil {
		t.Fatal(err)
	}
	want(t)

	// A trusted issuer's back-channel logout: naming only the user, a
	// user-wide cut-off; naming a session, that session.
	if err := f.users.BackchannelLogout(ctx, f.logoutToken(t, jwt.MapClaims{"sub": "77"})); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeBackchannelLogout, Subject: foreignIssuer + "\x1f77", CutOff: true})
	if err := f.users.BackchannelLogout(ctx, f.logoutToken(t, jwt.MapClaims{"sub": "77", "sid": "s-1"})); err != nil {
		t.Fatal(err)
	}
	want(t, summary{Type: audit.TypeBackchannelLogout, Subject: foreignIssuer + "\x1f77", Sessions: []string{"s-1"}})
}
