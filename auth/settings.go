package auth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// Settings are our identity, keys and trusted issuers as configured,
// before any key file is read or key set fetched. The rules on them are
// written once, in this file: LoadKey, NewTrustedIssuer and New enforce them
// on what they are given, and Check applies them all up front.
type Settings struct {
	// Issuer and Audience are ours (Config.Issuer, Config.Audience).
	Issuer, Audience string
	// Keys may be empty, when the caller generates a key instead
	// (GenerateEdDSAKey); otherwise exactly one of them signs.
	Keys []KeyConfig
	// TrustedIssuers are the other identity providers.
	TrustedIssuers []TrustedIssuerConfig
	// AllowHTTPJWKS accepts key sets fetched over plain http, which only a
	// development setup may do: on the network path, anyone could swap the
	// keys.
	AllowHTTPJWKS bool
}

// Check reports every rule the settings break, without reading a file or
// the network, so that start-up can refuse a bad configuration before it
// connects to anything. Each error names its setting by its path in
// tokenguard's configuration file (keys[1].alg, trusted_issuers[0].jwks_url)
// and never holds a secret.
func (s Settings) Check() error {
	var errs []error
	at := func(path string) report {
		return func(setting, format string, args ...any) {
			p := path
			if setting != "" && p != "" {
				p += "."
			}
			errs = append(errs, fmt.Errorf("%s%s: %s", p, setting, fmt.Sprintf(format, args...)))
		}
	}
	item := func(list string) itemReport {
		return func(i int, setting, format string, args ...any) {
			if i < 0 {
				at(list)(setting, format, args...)
				return
			}
			at(fmt.Sprintf("%s[%d]", list, i))(setting, format, args...)
		}
	}
	checkIdentity(s.Issuer, s.Audience, at(""))
	ids := make([]keyID, len(s.Keys))
	for i, k := range s.Keys {
		k.problems(at(fmt.Sprintf("keys[%d]", i)))
		ids[i] = keyID{kid: k.ID, signs: !k.VerifyOnly}
	}
	if len(s.Keys) > 0 {
		checkKeySet(ids, item("keys"))
	}
	issuers := make([]string, len(s.TrustedIssuers))
	for i, ti := range s.TrustedIssuers {
		bad := at(fmt.Sprintf("trusted_issuers[%d]", i))
		ti.problems(bad)
		if u, err := url.Parse(ti.JWKSURL); err == nil && u.Scheme == "http" && !s.AllowHTTPJWKS {
			bad("jwks_url", "production mode (dev: false) refuses keys fetched over plain http; use https")
		}
		issuers[i] = ti.Issuer
	}
	checkTrustedSet(s.Issuer, issuers, item("trusted_issuers"))
	return errors.Join(errs...)
}

// report is how a rule tells what it found: the setting at fault, as the
// configuration file names it ("" for the whole item), and what is wrong.
type report func(setting, format string, args ...any)

// itemReport is the report of a rule on a list: i is the item at fault, or
// -1 for the list as a whole.
type itemReport func(i int, setting, format string, args ...any)

// ofItem drops the index, for a caller whose messages name the item
// anyway (a set rule's messages hold the kid or issuer at fault).
func (r report) ofItem(_ int, setting, format string, args ...any) { r(setting, format, args...) }

// firstProblem runs rules and returns the first problem they report, or
// nil.
func firstProblem(rules func(bad report)) error {
	var err error
	rules(func(setting, format string, args ...any) {
		if err != nil {
			return
		}
		msg := fmt.Sprintf(format, args...)
		if setting != "" {
			msg = setting + ": " + msg
		}
		err = errors.New(msg)
	})
	return err
}

// checkIdentity reports an empty issuer or audience.
func checkIdentity(issuer, audience string, bad report) {
	if issuer == "" {
		bad("issuer", "must not be empty")
	}
	if audience == "" {
		bad("audience", "must not be empty")
	}
}

// problems reports to bad each rule that one key's settings break, with the
// setting at fault ("" for the key as a whole). It reads no file.
func (c KeyConfig) problems(bad report) {
	if c.ID == "" {
		bad("kid", "must not be empty")
	}
	if !slices.Contains(algorithms, c.Alg) {
		bad("alg", "want one of %v, got %q", algorithms, c.Alg)
		return
	}
	if c.Alg == algHS256 {
		secret, from := "", ""
		if c.SecretEnv != "" {
			secret, from = "secret_env", "$"+c.SecretEnv+": "
		}
		switch {
		case c.PrivateKeyFile != "" || c.PublicKeyFile != "" || (c.SecretEnv == "" && len(c.Secret) == 0):
			bad("", "an HS256 key takes its secret from secret_env, and nothing else")
		case len(c.Secret) == 0:
			bad(secret, "%sthe secret is empty (is the environment variable set?)", from)
		case len(c.Secret) < minSecretBytes:
			// RFC 7518 section 3.2.
			bad(secret, "%san HMAC secret needs at least %d bytes, got %d", from, minSecretBytes, len(c.Secret))
		}
		return
	}
	switch {
	case len(c.Secret) != 0 || c.SecretEnv != "":
		bad("", "a %s key takes key files, not a secret (secret_env)", c.Alg)
	case c.PrivateKeyFile == "" && c.PublicKeyFile == "":
		bad("", "a %s key needs private_key_file (or public_key_file when verify_only)", c.Alg)
	case c.PrivateKeyFile == "" && !c.VerifyOnly:
		bad("", "a signing key needs private_key_file; set verify_only: true for a public key only")
	}
}

// keyID is what the rules on a set of keys look at.
type keyID struct {
	kid   string
	signs bool
}

// checkKeySet reports to bad each rule a set of keys breaks: every kid is
// unique, and exactly one key signs. i is the key at fault, or -1 for the
// set as a whole.
func checkKeySet(keys []keyID, bad itemReport) {
	seen := make(map[string]bool, len(keys))
	signers := 0
	for i, k := range keys {
		if k.kid != "" && seen[k.kid] {
			bad(i, "kid", "duplicate kid %q", k.kid)
		}
		seen[k.kid] = true
		if k.signs {
			signers++
		}
	}
	if signers != 1 {
		bad(-1, "", "exactly one key must sign (the others verify_only: true), got %d", signers)
	}
}

// problems reports to bad each rule that one trusted issuer's settings
// break, with the setting at fault ("" for the issuer as a whole). It reads
// no file and fetches nothing.
func (c TrustedIssuerConfig) problems(bad report) {
	switch {
	case c.Issuer == "":
		bad("issuer", "must not be empty")
	case strings.ContainsFunc(c.Issuer, unicode.IsControl):
		// The revocation state qualifies a trusted issuer's identifiers
		// with the issuer and a control character, which no local name
		// holds; an issuer holding one could make that ambiguous.
		bad("issuer", "must not contain control characters, got %q", c.Issuer)
	case strings.Contains(c.Issuer, "#"):
		// RFC 8414 issuers have no fragment.
		bad("issuer", "must not contain '#', got %q", c.Issuer)
	}
	if c.MaxTokenLifetime < 0 {
		bad("max_token_lifetime", "must not be negative, got %s", c.MaxTokenLifetime)
	}
	if c.Audience == "" {
		bad("audience", "must not be empty (the aud its tokens carry for this service)")
	}
	if len(c.Algorithms) == 0 {
		bad("algorithms", "must list the algorithms its tokens use, from %v", ForeignAlgorithms)
	}
	for _, alg := range c.Algorithms {
		if !slices.Contains(ForeignAlgorithms, alg) {
			bad("algorithms", "%q is not allowed (want one of %v; never HMAC or none)", alg, ForeignAlgorithms)
		}
	}
	if (c.JWKSURL == "") == (c.PublicKeyFile == "") {
		bad("", "set exactly one of jwks_url and public_key_file")
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			bad("jwks_url", "want an https URL, got %q", c.JWKSURL)
		}
	}
}

// checkTrustedSet reports to bad each trusted issuer that is our own issuer
// or listed twice.
func checkTrustedSet(own string, issuers []string, bad itemReport) {
	seen := make(map[string]bool, len(issuers))
	for i, iss := range issuers {
		switch {
		case iss == "":
		case iss == own:
			bad(i, "issuer", "is our own issuer; list other identity providers only")
		case seen[iss]:
			bad(i, "issuer", "duplicate trusted issuer %q", iss)
		}
		seen[iss] = true
	}
}
