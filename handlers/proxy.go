package handlers

import (
	"fmt"
	"net/netip"
)

// ParseProxy reads one trusted proxy (VerifyConfig.TrustedProxies): an IP
// address, which is one host, or a CIDR. An IPv4-mapped IPv6 address counts
// as the IPv4 address, which is how the peer of an IPv4 connection is seen.
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
