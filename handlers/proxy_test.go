package handlers

import (
	"net/netip"
	"testing"
)

func TestParseProxyTakesAddressesAndCIDRs(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":        "127.0.0.1/32",
		"10.1.2.3/8":       "10.0.0.0/8",
		"::1":              "::1/128",
		"::ffff:192.0.2.1": "192.0.2.1/32",
		"fd00::/8":         "fd00::/8",
	} {
		got, err := ParseProxy(in)
		if err != nil || got != netip.MustParsePrefix(want) {
			t.Errorf("ParseProxy(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"gateway", "300.1.1.1", "10.0.0.0/33", ""} {
		if got, err := ParseProxy(in); err == nil {
			t.Errorf("ParseProxy(%q) = %v, want an error", in, got)
		}
	}
}
