package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// crossingPhone is a raw UDP agent phone whose 200 OK crosses our CANCEL
// (RFC 3261 §9.2): it rings, and when the CANCEL arrives it first answers
// the INVITE, then the CANCEL. It reports each request it receives.
type crossingPhone struct {
	conn     *net.UDPConn
	requests chan sip.RequestMethod
}

func newCrossingPhone(t *testing.T) *crossingPhone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &crossingPhone{conn: conn, requests: make(chan sip.RequestMethod, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve(t)
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return p
}

func (p *crossingPhone) contact() string {
	return "sip:1001@127.0.0.1:" + strconv.Itoa(p.conn.LocalAddr().(*net.UDPAddr).Port) + ";transport=udp"
}

func (p *crossingPhone) serve(t *testing.T) {
	buf := make([]byte, 65535)
	var invite *sip.Request
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Errorf("phone: parse: %v", err)
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		p.requests <- req.Method
		send := func(res *sip.Response) {
			if _, err := p.conn.WriteToUDP([]byte(res.String()), from); err != nil {
				t.Errorf("phone: send %d: %v", res.StatusCode, err)
			}
		}
		switch req.Method {
		case sip.INVITE:
			invite = req
			invite.To().Params.Add("tag", "crossing-phone")
			send(sip.NewResponseFromRequest(invite, sip.StatusRinging, "Ringing", nil))
		case sip.CANCEL:
			port := p.conn.LocalAddr().(*net.UDPAddr).Port
			body := media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr("127.0.0.1"), Port: port + 2,
				SessionID: 1, Version: 1, Codecs: []media.Codec{media.PCMU}, Direction: media.SendRecv})
			ok := sip.NewSDPResponseFromRequest(invite, body)
			ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: port}})
			send(ok) // the answer crosses the CANCEL
			send(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		case sip.BYE:
			send(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		}
	}
}

// The caller hangs up (or another agent of a ring-all group answers) while
// this phone rings, and the phone's 200 OK crosses our CANCEL: DialAgent
// returns the cancellation and the phone's call is confirmed with ACK and
// ended with BYE at once — never left up, never bridged.
func TestDialAgentAnswerCrossesCancel(t *testing.T) {
	srv := testServer(t, nil)
	phone := newCrossingPhone(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		receive(t, phone.requests, "invite")
		time.Sleep(100 * time.Millisecond) // let the 180 arrive: CANCEL, not a dropped transaction
		cancel()
	}()
	leg, err := srv.DialAgent(ctx, DialAgentOptions{AgentID: "1001", Contact: phone.contact(), CallerID: "100"})
	if !errors.Is(err, context.Canceled) || leg != nil {
		t.Fatalf("DialAgent = %v, %v; want context.Canceled and no leg", leg, err)
	}
	var got []sip.RequestMethod
	for len(got) < 3 {
		got = append(got, receive(t, phone.requests, "cancel, ack and bye"))
	}
	if got[0] != sip.CANCEL || got[1] != sip.ACK || got[2] != sip.BYE {
		t.Fatalf("phone received %v after the invite, want CANCEL, ACK, BYE", got)
	}
	poll.Until(t, "every RTP port released", func() bool { return srv.ports.InUse() == 0 })
}
