package sip

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// TestQueuedCallerVanishes: a caller waiting in a queue (the IVR sets the
// queue's media timeout, ivr.queue_media_timeout) stays while their phone
// sends RTP, silence included, and is dropped with end reason media_timeout
// once it stops without a BYE.
func TestQueuedCallerVanishes(t *testing.T) {
	const queueTimeout = 300 * time.Millisecond
	ended := make(chan *Call, 1)
	srv := testServer(t, func(o *Options) {
		o.Handler = func(ctx context.Context, c *Call) {
			// As the IVR does on queueing, after the greeting: RTP has flowed.
			for c.MediaStats().PacketsIn == 0 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			c.SetMediaTimeout(queueTimeout)
			<-ctx.Done()
			ended <- c
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := newCaller(t).Dial(ctx, siptest.DialOptions{Target: srv.target()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	select {
	case c := <-ended:
		t.Fatalf("call ended (%s) while the caller was sending RTP", c.EndReason())
	case <-time.After(3 * queueTimeout):
	}
	call.Vanish()
	gone := time.Now()
	var c *Call
	select {
	case c = <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("caller not dropped 3 s after their RTP stopped")
	}
	if c.EndReason() != "media_timeout" || c.HungUpBy() != HungUpBySystem {
		t.Fatalf("ended by %q with reason %q, want system and media_timeout", c.HungUpBy(), c.EndReason())
	}
	if took := time.Since(gone); took < queueTimeout-50*time.Millisecond {
		t.Fatalf("dropped %v after the RTP stopped, before the queue's media timeout %v", took, queueTimeout)
	}
	// A packet sent just before Vanish may be read just after it.
	if last := c.LastPacketAt(); last.After(gone.Add(50*time.Millisecond)) || gone.Sub(last) > 200*time.Millisecond {
		t.Fatalf("LastPacketAt %v, want the last packet before the phone vanished at %v", last, gone)
	}
}

// TestAgentVanishesMidCall: a bridged agent whose softphone vanishes (no BYE,
// no RTP) ends its leg at the media timeout with reason media_timeout and
// gets a BYE, while the caller, still talking, stays on the line.
func TestAgentVanishesMidCall(t *testing.T) {
	const timeout = 400 * time.Millisecond
	agent := newFakeAgent(t, uasAnswer)
	type outcome struct {
		leg      *AgentLeg
		callerUp bool
	}
	out := make(chan outcome, 1)
	srv := testServer(t, func(o *Options) {
		o.Config.MediaTimeout = configs.Duration(timeout)
		o.Handler = func(ctx context.Context, c *Call) {
			leg, err := c.srv.DialAgent(ctx, DialAgentOptions{AgentID: "1001", Contact: agent.contact(), CallerID: c.Caller(), CallID: c.ID()})
			if err != nil {
				t.Errorf("DialAgent: %v", err)
				return
			}
			br := media.NewBridge(c.Media(), leg.Session(), media.BridgeOptions{})
			br.Start()
			select {
			case <-leg.Done():
			case <-ctx.Done():
			}
			br.Stop()
			out <- outcome{leg: leg, callerUp: ctx.Err() == nil}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := newCaller(t).Dial(ctx, siptest.DialOptions{Target: srv.target()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer call.Hangup(ctx)
	inv := receive(t, agent.invited, "invite to the agent")
	offer, err := media.ParseSDP(inv.Body())
	if err != nil {
		t.Fatal(err)
	}
	agent.dialog()
	agent.sendRTP(netip.AddrPortFrom(offer.Addr, uint16(offer.Port)), 10) // talks 200 ms, then vanishes
	gone := time.Now()
	var o outcome
	select {
	case o = <-out:
	case <-time.After(5 * time.Second):
		t.Fatal("agent leg still up 5 s after its softphone vanished")
	}
	if o.leg.EndReason() != "media_timeout" || o.leg.HungUpBy() != HungUpBySystem {
		t.Fatalf("agent leg ended by %q with reason %q, want system and media_timeout", o.leg.HungUpBy(), o.leg.EndReason())
	}
	if took := time.Since(gone); took < timeout-50*time.Millisecond {
		t.Fatalf("agent leg ended %v after its RTP stopped, before the media timeout %v", took, timeout)
	}
	if !o.callerUp {
		t.Fatal("the caller's call ended with the agent's leg: the caller was still sending RTP")
	}
	receive(t, agent.byes, "BYE to the vanished agent")
}

// A caller that never sent RTP (one-way audio, silence suppression) is not
// a phone gone without its BYE: the queue's shorter timeout does not apply,
// and sip.media_timeout still does.
func TestQueueTimeoutNeedsRTPThatFlowed(t *testing.T) {
	const queueTimeout = 300 * time.Millisecond
	ended := make(chan *Call, 1)
	srv := testServer(t, func(o *Options) {
		o.Config.MediaTimeout = configs.Duration(2 * time.Second)
		o.Handler = func(ctx context.Context, c *Call) {
			c.SetMediaTimeout(queueTimeout)
			<-ctx.Done()
			ended <- c
		}
	})
	p := newRawPeer(t, "127.0.0.1", srv)
	if status, _ := p.invite("never-rtp"); status != 200 {
		t.Fatalf("INVITE: %d, want 200", status)
	}
	start := time.Now()
	select {
	case c := <-ended:
		t.Fatalf("a caller that never sent RTP ended after %v (%s), before sip.media_timeout", time.Since(start), c.EndReason())
	case <-time.After(3 * queueTimeout):
	}
	select {
	case c := <-ended:
		if c.EndReason() != "media_timeout" {
			t.Fatalf("ended with %q, want media_timeout", c.EndReason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sip.media_timeout (2 s) did not end a call without RTP")
	}
}
