package sip

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// trustedNets are the sources (carrier trunks, the agents' networks) that are
// never banned and pass the rate limit and the per-source call cap: a forged
// or careless failure must never cut the hotline off from its own trunk.
type trustedNets []netip.Prefix

// parseTrusted reads CIDRs ("192.0.2.0/24") or single addresses ("192.0.2.7").
func parseTrusted(list []string) (trustedNets, error) {
	out := make(trustedNets, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q: want a CIDR such as \"203.0.113.0/24\" or an address such as \"203.0.113.10\"", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// contains reports whether ip is in one of the networks (IPv4-mapped IPv6
// addresses count as IPv4).
func (t trustedNets) contains(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(t, func(p netip.Prefix) bool { return p.Contains(ip) })
}
