package sip

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Results of a refused INVITE (label "result" of hotline_sip_invites_total).
const (
	inviteNodeFull   = "node_full"   // sip.max_calls calls in progress on this node
	inviteSourceFull = "source_full" // sip.max_calls_per_source from this source
)

// callCaps bounds the calls in progress, from the initial INVITE until the
// call ends (un-ACKed ones included): per node, so a flood cannot take every
// RTP port, and per untrusted source, so one source cannot take the node.
type callCaps struct {
	max, perSource int

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int // at most max entries: zero counts are deleted
}

func newCallCaps(max, perSource int) *callCaps {
	return &callCaps{max: max, perSource: perSource, bySource: make(map[netip.Addr]int)}
}

// acquire counts one call from ip, or names the cap it would break. A trusted
// source (a carrier trunk) is held to the node cap only. release must be
// called once when the call ends.
func (c *callCaps) acquire(ip netip.Addr, trusted bool) (release func(), refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.max {
		return nil, inviteNodeFull
	}
	perSource := ip.IsValid() && !trusted
	if perSource && c.bySource[ip] >= c.perSource {
		return nil, inviteSourceFull
	}
	c.total++
	if perSource {
		c.bySource[ip]++
	}
	var once sync.Once
	return func() { once.Do(func() { c.release(ip, perSource) }) }, ""
}

func (c *callCaps) release(ip netip.Addr, perSource bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if !perSource {
		return
	}
	if n := c.bySource[ip] - 1; n > 0 {
		c.bySource[ip] = n
	} else {
		delete(c.bySource, ip)
	}
}

// inUse is the number of calls counted now.
func (c *callCaps) inUse() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// overloaded is the 503 of a cap with Retry-After (RFC 3261 §21.5.4): the
// caller, or the trunk, tries again later or elsewhere.
func overloaded(req *sip.Request, retryAfter time.Duration) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(retryAfter/time.Second))))
	return res
}
