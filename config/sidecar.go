package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// foreignAlgs are the algorithms a trusted issuer may be pinned to: the
// asymmetric ones only, since a secret shared with another provider would
// let either side mint the other's tokens.
var foreignAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// ParseProxy reads one entry of verify.trusted_proxies: an IP address (one
// host) or a CIDR.
func ParseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validateSidecar checks the forward-auth settings and the trusted issuers.
func (c Config) validateSidecar(bad func(key, format string, args ...any)) {
	if name := c.Verify.Cookie; name != "" && !isToken(name) {
		bad("verify.cookie", "%q is not a valid cookie name (RFC 6265: no spaces, controls or separators)", name)
	}
	for i, p := range c.Verify.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			bad(fmt.Sprintf("verify.trusted_proxies[%d]", i), "%v", err)
		}
	}
	if d := c.Verify.CacheMaxAge; d < 0 || d > c.Tokens.AccessTTL || d%time.Second != 0 {
		bad("verify.cache_max_age", "want whole seconds from 0 (no-store) to tokens.access_ttl (%v), got %v", c.Tokens.AccessTTL, d)
	}

	seen := map[string]bool{}
	for i, ti := range c.TrustedIssuers {
		p := fmt.Sprintf("trusted_issuers[%d]", i)
		switch {
		case ti.Issuer == "":
			bad(p+".issuer", "must not be empty")
		case strings.Contains(ti.Issuer, "#"):
			// A foreign user is known to the revocation state as
			// <issuer>#<sub>; an issuer holding '#' would make that ambiguous
			// (and RFC 8414 issuers have no fragment anyway).
			bad(p+".issuer", "must not contain '#', got %q", ti.Issuer)
		case ti.Issuer == c.Issuer:
			bad(p+".issuer", "is our own issuer; list other identity providers only")
		case seen[ti.Issuer]:
			bad(p+".issuer", "duplicate trusted issuer %q", ti.Issuer)
		}
		seen[ti.Issuer] = true
		if ti.Audience == "" {
			bad(p+".audience", "must not be empty (the aud its tokens carry for this service)")
		}
		if len(ti.Algorithms) == 0 {
			bad(p+".algorithms", "must list the algorithms its tokens use, from %v", foreignAlgs)
		}
		for _, alg := range ti.Algorithms {
			if !slices.Contains(foreignAlgs, alg) {
				bad(p+".algorithms", "%q is not allowed (want one of %v; never HMAC or none)", alg, foreignAlgs)
			}
		}
		if (ti.JWKSURL == "") == (ti.PublicKeyFile == "") {
			bad(p, "set exactly one of jwks_url and public_key_file")
		}
		if ti.JWKSURL != "" {
			u, err := url.Parse(ti.JWKSURL)
			switch {
			case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
				bad(p+".jwks_url", "want an https URL, got %q", ti.JWKSURL)
			case u.Scheme == "http" && !c.Dev:
				bad(p+".jwks_url", "production mode (dev: false) refuses keys fetched over plain http; use https")
			}
		}
	}
}

// isToken reports whether s is an RFC 7230 token, which is what RFC 6265
// allows as a cookie name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return s != ""
}
