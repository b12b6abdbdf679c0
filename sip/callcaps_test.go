package sip

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// invite places a call from p and returns the final status and Retry-After;
// answered calls stay up (the server's handler holds them).
func (p *rawPeer) invite(callID string) (status int, retryAfter string) {
	p.t.Helper()
	p.send(withBody(p.request("INVITE", "12345", callID, 1), p.offerSDP(40008)))
	res, _ := p.final("INVITE", 3*time.Second)
	if res == nil {
		p.t.Fatalf("INVITE %s unanswered", callID)
	}
	if res.StatusCode == 200 {
		p.send(p.inDialog("ACK", res, 1))
	}
	if h := res.GetHeader("Retry-After"); h != nil {
		retryAfter = h.Value()
	}
	return res.StatusCode, retryAfter
}

// One source that never stops calling gets sip.max_calls_per_source calls,
// then 503 with Retry-After; other sources still get through; a trusted source
// (the trunk) is held to sip.max_calls only. A flood of un-ACKed INVITEs from
// one source used to be answered without end, each holding an RTP port.
func TestCallCaps(t *testing.T) {
	srv := testServer(t, func(o *Options) {
		o.Handler = holdCalls
		o.Config.Trusted = []string{"127.0.0.3"}
		o.Config.MaxCalls, o.Config.MaxCallsPerSource = 10, 3
	})
	flood := newRawPeer(t, "127.0.0.1", srv)
	for i := range 5 {
		status, retry := flood.invite("flood-" + strconv.Itoa(i))
		switch {
		case i < 3 && status != 200:
			t.Fatalf("call %d from one source: %d, want 200", i, status)
		case i >= 3 && (status != 503 || retry != "10"):
			t.Fatalf("call %d from one source over its cap: %d Retry-After %q, want 503 with 10", i, status, retry)
		}
	}
	if status, _ := newRawPeer(t, "127.0.0.2", srv).invite("other"); status != 200 {
		t.Fatalf("another source's call: %d, want 200", status)
	}
	trunk := newRawPeer(t, "127.0.0.3", srv)
	for i := range 6 { // 3 + 1 + 6 = max_calls
		if status, _ := trunk.invite("trunk-" + strconv.Itoa(i)); status != 200 {
			t.Fatalf("trusted call %d: %d, want 200 (exempt from the per-source cap)", i, status)
		}
	}
	if status, retry := trunk.invite("trunk-full"); status != 503 || retry != "10" {
		t.Fatalf("call past max_calls: %d Retry-After %q, want 503 with 10", status, retry)
	}
	if n := srv.caps.inUse(); n != 10 {
		t.Fatalf("calls counted %d, want 10", n)
	}
	if src, node := testutil.ToFloat64(srv.metrics.invites.WithLabelValues(inviteSourceFull)),
		testutil.ToFloat64(srv.metrics.invites.WithLabelValues(inviteNodeFull)); src != 2 || node != 1 {
		t.Fatalf("invites source_full=%v node_full=%v, want 2 and 1", src, node)
	}
}

// SIPp, a real caller, opening more calls at once from one address than
// sip.max_calls_per_source: the calls over the cap fail with 503, the others
// are answered and end normally, and the cap's count returns to zero.
func TestCallCapWithSIPp(t *testing.T) {
	siptest.RequireSIPp(t)
	srv := testServer(t, func(o *Options) {
		o.Config.Trusted = nil
		o.Config.MaxCallsPerSource = 8
		o.Handler = func(ctx context.Context, _ *Call) { // hang up after 2 s
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := siptest.RunSIPp(ctx, siptest.SIPpOptions{
		Scenario: "no_key.xml", Target: net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.UDPAddr().Port)),
		Calls: 12, Rate: 200, Timeout: 15 * time.Second, ExtraArgs: []string{"-rp", "1000"},
	})
	if err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if res.Successful != 8 || res.Failed != 4 {
		t.Fatalf("sipp successful=%d failed=%d, want 8 and 4\nerrors: %s", res.Successful, res.Failed, res.Errors)
	}
	if n := testutil.ToFloat64(srv.metrics.invites.WithLabelValues(inviteSourceFull)); n != 4 {
		t.Fatalf("invites source_full=%v, want 4", n)
	}
	poll.Until(t, "the cap's count to return to zero", func() bool { return srv.caps.inUse() == 0 })
}
