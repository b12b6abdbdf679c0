package sip

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

// errNoDNS is what every DNS query of the SIP stack gets.
var errNoDNS = errors.New("sip: dns lookups are disabled: host names in messages are never resolved")

// refusingResolver is the only resolver sipgo is given. Its Dial answers every
// DNS query with an error before a packet leaves, so a host name that a
// request carries (Via, Contact, Record-Route) never makes the server query
// DNS: that would let anyone aim our resolver at a name they choose and stall
// the transaction on its answer. Responses go to the received address and
// rport instead (RFC 3261 §18.2.2, RFC 3581 §4), in-dialog requests to the
// dialog's source address.
type refusingResolver struct {
	log     *slog.Logger
	metrics *Metrics
}

func newRefusingResolver(log *slog.Logger, m *Metrics) *refusingResolver {
	return &refusingResolver{log: log.With("component", "sip"), metrics: m}
}

// resolver returns a pure-Go resolver whose queries all fail at Dial.
func (r *refusingResolver) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: r.dial}
}

func (r *refusingResolver) dial(context.Context, string, string) (net.Conn, error) {
	r.metrics.dnsRefused.Inc()
	r.log.Debug("dns lookup refused: a message named a host instead of an address")
	return nil, errNoDNS
}
