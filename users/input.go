package users

import (
	"net/netip"
	"slices"
	"strings"
)

// Limits on what a workflow accepts. Each is enforced here and nowhere
// else; adapters report the error's text as it is.
const (
	maxSubjectBytes    = 255
	maxIssuerBytes     = 1024
	maxJTIBytes        = 255
	maxScopeBytes      = 1024
	maxExtraClaims     = 32
	maxClaimNameBytes  = 64
	maxDeviceNameBytes = 128
	maxUserAgentBytes  = 512
	maxReasonBytes     = 512
)

// checkText refuses an empty (when required), oversized or
// control-character value of the named field.
func checkText(field, v string, maxLen int, required bool) error {
	if v == "" {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if len(v) > maxLen {
		return invalid("%s is longer than %d bytes", field, maxLen)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return invalid("%s holds a control character or invalid UTF-8", field)
		}
	}
	return nil
}

// checkSubject refuses a subject that no workflow accepts.
func checkSubject(subject string) error {
	return checkText("subject", subject, maxSubjectBytes, true)
}

// checkIssuer refuses a malformed issuer; empty is ours.
func checkIssuer(issuer string) error {
	return checkText("issuer", issuer, maxIssuerBytes, false)
}

// CheckScope enforces RFC 6749 §3.3: space-separated tokens of printable
// ASCII without '"' or '\'. Empty is no scope.
func CheckScope(scope string) error {
	if scope == "" {
		return nil
	}
	if len(scope) > maxScopeBytes {
		return invalid("scope is longer than %d bytes", maxScopeBytes)
	}
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" {
			return invalid("scope: tokens are separated by single spaces")
		}
		for i := 0; i < len(tok); i++ {
			if b := tok[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
				return invalid("scope: invalid character in %q", tok)
			}
		}
	}
	return nil
}

// ScopeError is Authorize's refusal of a token for want of a scope. It
// wraps ErrScope; its text is meant for the caller.
type ScopeError struct {
	// Required is the scope that was required, space-separated; empty when
	// the requirement itself was malformed.
	Required string
	msg      string
}

func (e *ScopeError) Error() string        { return e.msg }
func (e *ScopeError) Is(target error) bool { return target == ErrScope }

// requireScopes checks that have, a token's scope, holds every scope token
// of required. A malformed requirement refuses too: it can only come from a
// proxy's configuration or from a client making its own request stricter.
func requireScopes(have string, required []string) error {
	if len(required) == 0 {
		return nil // the common case: nothing required, nothing to parse
	}
	var want []string
	for _, v := range required {
		if CheckScope(v) != nil {
			return &ScopeError{msg: "the required scope is malformed"}
		}
		want = append(want, strings.Fields(v)...)
	}
	held := strings.Fields(have)
	for _, sc := range want {
		if !slices.Contains(held, sc) {
			return &ScopeError{Required: strings.Join(want, " "), msg: "the token lacks a required scope"}
		}
	}
	return nil
}

// validate checks a session to open.
func (o Open) validate() error {
	if err := checkSubject(o.Subject); err != nil {
		return err
	}
	if err := CheckScope(o.Scope); err != nil {
		return err
	}
	if len(o.Claims) > maxExtraClaims {
		return invalid("claims: at most %d extra claims", maxExtraClaims)
	}
	for name := range o.Claims {
		if err := checkText("claims: a claim name", name, maxClaimNameBytes, true); err != nil {
			return err
		}
	}
	if err := checkText("device.name", o.Device.Name, maxDeviceNameBytes, false); err != nil {
		return err
	}
	if err := checkText("device.user_agent", o.Device.UserAgent, maxUserAgentBytes, false); err != nil {
		return err
	}
	if o.Device.IP != "" {
		if _, err := netip.ParseAddr(o.Device.IP); err != nil {
			return invalid("device.ip is not an IP address")
		}
	}
	return nil
}
