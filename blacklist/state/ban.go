package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// Ban is a ban on a user.
type Ban struct {
	// At is when the ban was put in place.
	At time.Time `json:"at"`
	// Until is when it lapses by itself; zero means never.
	Until time.Time `json:"until,omitzero"`
	// Reason is what the admin said.
	Reason string `json:"reason,omitempty"`
	// By is who banned the user (a client id).
	By string `json:"by,omitempty"`
}

// ActiveAt reports whether the ban is in force at t.
func (b Ban) ActiveAt(t time.Time) bool {
	return b.Until.IsZero() || t.Before(b.Until)
}

// ParseBan reads a ban as the state spells it: JSON.
func ParseBan(v string) (Ban, error) {
	var b Ban
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return Ban{}, fmt.Errorf("%w: malformed ban for a user", ErrUnavailable)
	}
	return b, nil
}
