package signals

import (
	"fmt"
	"net/url"
	"strings"
)

// CheckHostPatterns checks events.allowed_receiver_hosts: each entry a host
// name or address ("hooks.example.com", "192.0.2.7"), or "*." and a name
// for any name below it ("*.example.com" matches "a.example.com" and
// "a.b.example.com", not "example.com"). Names compare case-insensitively.
func CheckHostPatterns(patterns []string) error {
	for i, p := range patterns {
		name := strings.TrimPrefix(p, "*.")
		if name == "" || strings.ContainsAny(name, "*/:@?#[] \t") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
			return fmt.Errorf("events.allowed_receiver_hosts[%d]: want a host name, or *. and a name, got %q", i, p)
		}
	}
	return nil
}

// hostAllowed reports whether host matches one of patterns.
func hostAllowed(host string, patterns []string) bool {
	host = strings.ToLower(host)
	for _, p := range patterns {
		p = strings.ToLower(p)
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+rest) {
				return true
			}
			continue
		}
		if host == p {
			return true
		}
	}
	return false
}

// checkReceiver is the one rule on a push endpoint, which tokenguard will
// POST to from inside the deployment's network (an SSRF risk): an absolute
// https URL (http too in dev mode) without credentials or fragment, whose
// host matches allowed. Outside dev mode an empty allowed admits none; in
// dev mode an empty allowed admits any host.
func checkReceiver(raw string, dev bool, allowed []string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalid("delivery.endpoint_url must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && dev:
	default:
		return invalid("delivery.endpoint_url must be an https URL")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("delivery.endpoint_url must not hold credentials or a fragment")
	}
	if len(raw) > 2048 {
		return invalid("delivery.endpoint_url is longer than 2048 bytes")
	}
	if dev && len(allowed) == 0 {
		return nil
	}
	if !hostAllowed(u.Hostname(), allowed) {
		return invalid("delivery.endpoint_url: host %q is not in events.allowed_receiver_hosts", u.Hostname())
	}
	return nil
}
