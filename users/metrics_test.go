package users

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

func TestDecisionNamesWhyATokenWasRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"no error is allowed", nil, OutcomeAllowed},
		{"an expired token is expired, though it is invalid too", fmt.Errorf("verify: %w", auth.ErrExpired), OutcomeExpired},
		{"a bad signature is invalid", auth.ErrSignature, OutcomeInvalid},
		{"a revoked token", blacklist.ErrTokenRevoked, OutcomeRevokedToken},
		{"an ended session", blacklist.ErrSessionEnded, OutcomeSessionEnded},
		{"a cut-off", blacklist.ErrCutOff, OutcomeCutOff},
		{"a banned user", fmt.Errorf("%w: the user is banned", blacklist.ErrBanned), OutcomeBanned},
		{"a missing scope", &ScopeError{Required: "admin", msg: "the token lacks a required scope"}, OutcomeScope},
		{"a store that cannot be read", fmt.Errorf("%w: boom", blacklist.ErrUnavailable), OutcomeUnavailable},
		{"anything else", errors.New("boom"), OutcomeError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decision(tc.err); got != tc.want {
				t.Errorf("decision(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestRefreshOutcomeNamesWhatARefreshDid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		is   Issued
		err  error
		want RefreshOutcome
	}{
		{"a new refresh token is a rotation", Issued{Rotated: true}, nil, RefreshRotated},
		{"the current token handed back is the reuse window", Issued{}, nil, RefreshReuseWindow},
		{"a replay is reuse detected", Issued{}, fmt.Errorf("refresh: %w", sessions.ErrReused), RefreshReuseDetected},
		{"a made-up token is refused", Issued{}, fmt.Errorf("%w: unknown", sessions.ErrInvalidGrant), RefreshRefused},
		{"a wider scope is refused", Issued{}, sessions.ErrScope, RefreshRefused},
		{"a banned user is refused", Issued{}, fmt.Errorf("%w: %w", sessions.ErrInvalidGrant, blacklist.ErrBanned), RefreshRefused},
		{"a store that cannot be read fails", Issued{}, fmt.Errorf("%w: boom", sessions.ErrUnavailable), RefreshFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refreshOutcome(tc.is, tc.err); got != tc.want {
				t.Errorf("refreshOutcome(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestEveryEnumeratedValueHasItsOwnLabel(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	check := func(kind string, names []string) {
		t.Helper()
		clear(seen)
		for _, n := range names {
			if n == "" || n == "unknown" || seen[n] {
				t.Errorf("%s label %q is empty, unknown or repeated", kind, n)
			}
			seen[n] = true
		}
	}
	check("outcome", stringsOf(Outcomes()))
	check("revocation", stringsOf(Revocations()))
	check("cause", stringsOf(Causes()))
	check("refresh", stringsOf(RefreshOutcomes()))
	check("back-channel logout", stringsOf(BackchannelOutcomes()))
	if got := Outcome(200).String(); got != "unknown" {
		t.Errorf("an outcome out of range is %q, want unknown", got)
	}
}

func stringsOf[E fmt.Stringer](list []E) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.String()
	}
	return out
}

func TestAuthorizeRequiresEveryScopeAndCountsOneDecision(t *testing.T) {
	t.Parallel()
	m := &tally{}
	f := miniFixtureWith(t, options{metrics: m})
	tok := f.open(t, "alice").AccessToken // scope "read write"
	for _, tc := range []struct {
		name         string
		required     []string
		wantRequired string // the ScopeError's, "-" for an allow
		wantMessage  string
	}{
		{"no requirement allows", nil, "-", ""},
		{"held scopes allow, repeated or space-separated", []string{"read", "write read"}, "-", ""},
		{"an empty requirement allows", []string{""}, "-", ""},
		{"a scope the token lacks refuses, naming all required", []string{"read", "admin"}, "read admin", "the token lacks a required scope"},
		{"a malformed requirement refuses without naming it", []string{`read"`}, "", "the required scope is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.decided.reset()
			_, err := f.users.Authorize(t.Context(), tok, tc.required)
			var se *ScopeError
			switch {
			case tc.wantRequired == "-" && err != nil:
				t.Errorf("Authorize = %v, want the token allowed", err)
			case tc.wantRequired != "-" && (!errors.As(err, &se) || !errors.Is(err, ErrScope)):
				t.Errorf("Authorize = %v, want a *ScopeError wrapping ErrScope", err)
			case se != nil && (se.Required != tc.wantRequired || se.Error() != tc.wantMessage):
				t.Errorf("ScopeError = {%q, %q}, want {%q, %q}", se.Required, se.Error(), tc.wantRequired, tc.wantMessage)
			}
			want := OutcomeAllowed
			if tc.wantRequired != "-" {
				want = OutcomeScope
			}
			if got := m.decided.list(); len(got) != 1 || got[0] != want {
				t.Errorf("decisions counted = %v, want exactly [%v]", got, want)
			}
		})
	}
}
