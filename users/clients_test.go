package users

import (
	"errors"
	"testing"
)

func TestIssueClientToken(t *testing.T) {
	t.Parallel()
	perms := []string{"read", "write"}
	for _, tc := range []struct {
		name        string
		permissions []string
		scope       string
		want        string
	}{
		{"an empty scope asks for every permission of the client", perms, "", "read write"},
		{"a subset of the permissions is granted as asked", perms, "write", "write"},
		{"a client without permissions gets a token of no scope", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := miniFixture(t)
			ct, err := f.users.IssueClientToken(t.Context(), "svc", tc.permissions, tc.scope)
			if err != nil {
				t.Fatalf("IssueClientToken: %v", err)
			}
			c := f.claims(t, ct.AccessToken)
			if c.Scope != tc.want || ct.Claims.Scope != tc.want {
				t.Errorf("scope %q (claims %q), want %q", c.Scope, ct.Claims.Scope, tc.want)
			}
			if id, ok := ClientOf(f.users.SubjectOf(c)); !ok || id != "svc" {
				t.Errorf("ClientOf(SubjectOf(the token)) = %q, %v; want svc, true: the client is known under a name of its own", id, ok)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		scope string
		want  error
	}{
		{"a scope beyond the permissions is refused with ErrScopeNotHeld", "read admin", ErrScopeNotHeld},
		{"a malformed scope is refused with ErrInvalid", "read  write", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := miniFixture(t)
			_, err := f.users.IssueClientToken(t.Context(), "svc", perms, tc.scope)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("IssueClientToken(%q): %v, want %v wrapping ErrInvalid", tc.scope, err, tc.want)
			}
		})
	}
}
