package users

import (
	"context"
	"slices"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/sessions"
)

// Change is what a workflow did to a user's access, as the systems told of
// it (the SSF transmitter) need it: the audit event recorded, the sessions
// it ended and what it did to the user as a whole. One Change is one
// action, whatever its number of sessions.
type Change struct {
	// Event is the workflow's audit event; its Subject is the user's name
	// (Subject, SubjectOf).
	Event audit.Event
	// Sessions are the ids of the sessions the action ended, as the
	// user's tokens carry them in sid (a trusted issuer's as it sent it).
	Sessions []string
	// CutOff reports that every token of the user issued until the
	// event's time is refused from now on.
	CutOff bool
	// Disabled and Enabled report that the user was banned, or that a ban
	// was lifted.
	Disabled, Enabled bool
}

// Publisher is told of every Change, once it has happened and been
// recorded. It must not wait for anyone outside tokenguard: a workflow
// calls it before it answers.
type Publisher interface {
	Publish(ctx context.Context, c Change)
}

// change describes what the action behind audit event e did, with the
// sessions it ended besides e.SessionID. It is the one table from audit
// event types to their effects on a user.
func change(e audit.Event, ended []sessions.Session) Change {
	c := Change{Event: e}
	if e.SessionID != "" {
		c.Sessions = append(c.Sessions, e.SessionID)
	}
	for _, s := range ended {
		if !slices.Contains(c.Sessions, s.ID) {
			c.Sessions = append(c.Sessions, s.ID)
		}
	}
	switch e.Type {
	case audit.TypeLogout:
		c.CutOff = e.Reason == string(ScopeGlobal)
		if e.Reason == string(ScopeOthers) {
			// The caller's own session lives on.
			c.Sessions = slices.DeleteFunc(c.Sessions, func(id string) bool { return id == e.SessionID })
		}
	case audit.TypeAdminRevocation:
		// One token, not its session.
		c.Sessions = nil
	case audit.TypeAdminLogout:
		c.CutOff = true
	case audit.TypeBan:
		c.CutOff, c.Disabled = true, true
	case audit.TypeUnban:
		c.Enabled = true
	case audit.TypeBackchannelLogout:
		// A logout token naming only its user ends every session the
		// issuer's user has: a user-wide cut-off. With a sid, that session.
		c.CutOff = e.SessionID == ""
	}
	return c
}

// affects reports whether c tells anything about a user.
func (c Change) affects() bool {
	return c.Event.Subject != "" && (len(c.Sessions) > 0 || c.CutOff || c.Disabled || c.Enabled)
}
