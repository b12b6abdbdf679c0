package sip

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// receive returns the next value sent on ch and fails the test when none
// comes within 5 s.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestDialAgentAnswered(t *testing.T) {
	srv := testServer(t, nil)
	agent := newFakeAgent(t, uasAnswer)
	leg, err := srv.DialAgent(context.Background(), DialAgentOptions{AgentID: "1001", Contact: agent.contact(),
		CallerID: "138\r\n0013\"<8000>", CallID: "call-1"})
	if err != nil {
		t.Fatalf("DialAgent: %v", err)
	}
	inv := receive(t, agent.invited, "invite")
	if want := "127.0.0.1:" + strconv.Itoa(srv.UDPAddr().Port); inv.Source() != want {
		t.Errorf("invite came from %s, want the server's listening socket %s", inv.Source(), want)
	}
	if got := inv.From().Address.User; got != "13800138000" {
		t.Errorf("From user %q, want the sanitized caller id 13800138000", got)
	}
	if leg.AgentID() != "1001" || leg.AnsweredAt().IsZero() || leg.HungUpBy() != "" {
		t.Fatalf("leg %s answered %v hung up by %q", leg.AgentID(), leg.AnsweredAt(), leg.HungUpBy())
	}
	offer, err := media.ParseSDP(inv.Body())
	if err != nil {
		t.Fatalf("offer sdp: %v", err)
	}
	if len(offer.Codecs) != 2 || offer.Codecs[0] != media.PCMU || offer.Codecs[1] != media.PCMA ||
		!offer.HasTelephoneEvent || offer.TelephoneEvent != 101 {
		t.Errorf("offer %+v, want PCMU, PCMA and telephone-event 101", offer)
	}
	// Agent → us.
	go agent.sendRTP(netip.AddrPortFrom(offer.Addr, uint16(offer.Port)), 10)
	// Us → agent.
	playCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go func() {
		_, _ = leg.Session().Play(playCtx, []*media.Prompt{media.NewPrompt("t", tone(300*time.Millisecond))}, media.PlayOptions{})
	}()
	if n := agent.readRTP(700 * time.Millisecond); n < 5 {
		t.Errorf("agent received %d rtp packets, want at least 5", n)
	}
	if in := leg.Session().Stats().PacketsIn; in < 5 {
		t.Errorf("leg received %d rtp packets, want at least 5", in)
	}
	leg.Hangup(context.Background())
	receive(t, agent.byes, "bye at the agent")
	select {
	case <-leg.Done():
	default:
		t.Error("Done not closed after Hangup")
	}
	if leg.HungUpBy() != HungUpBySystem || srv.ports.InUse() != 0 {
		t.Errorf("hung up by %q, ports in use %d; want system, 0", leg.HungUpBy(), srv.ports.InUse())
	}
	leg.Hangup(context.Background()) // idempotent
}

func TestDialAgentAgentHangsUp(t *testing.T) {
	srv := testServer(t, nil)
	agent := newFakeAgent(t, uasAnswer)
	leg, err := srv.DialAgent(context.Background(), DialAgentOptions{AgentID: "1001", Contact: agent.contact(), CallerID: "100"})
	if err != nil {
		t.Fatalf("DialAgent: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := agent.dialog().Bye(ctx); err != nil {
		t.Fatalf("agent bye: %v", err)
	}
	receive(t, leg.Done(), "leg done")
	if leg.HungUpBy() != HungUpByAgent || srv.ports.InUse() != 0 {
		t.Errorf("hung up by %q, ports in use %d; want agent, 0", leg.HungUpBy(), srv.ports.InUse())
	}
}

func TestDialAgentNotConnected(t *testing.T) {
	tests := []struct {
		name string
		mode uasMode
		want error
	}{
		{"busy", uasBusy, ErrAgentBusy},
		{"declined", uasDecline, ErrAgentDeclined},
		{"rings until the ring timeout", uasRingForever, ErrAgentNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testServer(t, nil)
			agent := newFakeAgent(t, tt.mode)
			start := time.Now()
			leg, err := srv.DialAgent(context.Background(), DialAgentOptions{AgentID: "1001", Contact: agent.contact(),
				CallerID: "100", RingTimeout: 500 * time.Millisecond})
			if !errors.Is(err, tt.want) || leg != nil {
				t.Fatalf("DialAgent = %v, %v; want %v", leg, err, tt.want)
			}
			if tt.mode == uasRingForever {
				if d := time.Since(start); d < 500*time.Millisecond {
					t.Errorf("gave up after %s, before the ring timeout", d)
				}
				receive(t, agent.cancelled, "cancel at the agent")
			}
			if n := srv.ports.InUse(); n != 0 {
				t.Errorf("ports in use %d, want 0", n)
			}
		})
	}
}

func TestDialAgentCallerHangsUpWhileRinging(t *testing.T) {
	srv := testServer(t, nil)
	agent := newFakeAgent(t, uasRingForever)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		receive(t, agent.invited, "invite")
		time.Sleep(100 * time.Millisecond) // let the 180 arrive
		cancel()
	}()
	leg, err := srv.DialAgent(ctx, DialAgentOptions{AgentID: "1001", Contact: agent.contact(), CallerID: "100"})
	if !errors.Is(err, context.Canceled) || leg != nil {
		t.Fatalf("DialAgent = %v, %v; want context.Canceled", leg, err)
	}
	receive(t, agent.cancelled, "cancel at the agent")
	if n := srv.ports.InUse(); n != 0 {
		t.Errorf("ports in use %d, want 0", n)
	}
}

func TestDialAgentBadContact(t *testing.T) {
	srv := testServer(t, nil)
	if _, err := srv.DialAgent(context.Background(), DialAgentOptions{AgentID: "1001", Contact: "not a uri"}); err == nil {
		t.Fatal("DialAgent to a malformed contact succeeded")
	}
	if n := srv.ports.InUse(); n != 0 {
		t.Errorf("ports in use %d, want 0", n)
	}
}
