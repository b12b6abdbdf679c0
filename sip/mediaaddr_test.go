package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// callServer runs a server whose calls stay up until the caller hangs up,
// and hands each answered call to the test.
func callServer(t *testing.T, allowForeign bool, trusted ...string) (*Server, <-chan *Call) {
	t.Helper()
	calls := make(chan *Call, 4)
	srv := testServer(t, func(o *Options) {
		o.Config.AllowForeignMedia = allowForeign
		o.Config.Trusted = trusted // loopback is trusted by default: here only what the test names
		o.Handler = func(ctx context.Context, c *Call) {
			calls <- c
			<-ctx.Done()
		}
	})
	return srv, calls
}

func newCaller(t *testing.T) *siptest.Caller {
	t.Helper()
	c, err := siptest.NewCaller("mediaaddr", nil)
	if err != nil {
		t.Fatalf("new caller: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) target() string { return "sip:12345@" + s.UDPAddr().String() }

// offerAt is a PCMU offer whose c= line names addr.
func offerAt(addr string) []byte {
	return media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr(addr), Port: 40000,
		SessionID: 1, Version: 1, Codecs: []media.Codec{media.PCMU}, Direction: media.SendRecv})
}

// TestInviteMediaAddress: an offer must name the signalling source as its
// media address; multicast, unspecified and foreign addresses get 488 with a
// Warning, unless sip.allow_foreign_media lets foreign ones in.
func TestInviteMediaAddress(t *testing.T) {
	tests := []struct {
		name         string
		addr         string
		allowForeign bool
		trusted      []string // sip.trusted
		wantCode     int      // 0: answered
		wantWarning  string   // prefix of the Warning header
	}{
		{"the signalling source", "127.0.0.1", false, nil, 0, ""},
		{"multicast", "224.2.3.4", false, nil, 488, "330 hotline"},
		{"multicast even when foreign media is allowed", "239.1.1.1", true, nil, 488, "330 hotline"},
		{"multicast even from a trusted trunk", "239.1.1.1", false, []string{"127.0.0.0/8"}, 488, "330 hotline"},
		{"unspecified in a new call", "0.0.0.0", false, nil, 488, "399 hotline"},
		{"a third party", "192.0.2.10", false, nil, 488, "399 hotline"},
		{"another host on loopback", "127.0.0.2", false, nil, 488, "399 hotline"},
		{"a third party, foreign media allowed", "192.0.2.10", true, nil, 0, ""},
		{"a trusted trunk's media gateway", "192.0.2.10", false, []string{"127.0.0.1"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := callServer(t, tt.allowForeign, tt.trusted...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call, err := newCaller(t).Dial(ctx, siptest.DialOptions{Target: srv.target(), SDP: offerAt(tt.addr)})
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("dial with c=%s: %v, want it answered", tt.addr, err)
				}
				<-calls
				if err := call.Hangup(ctx); err != nil {
					t.Fatalf("hang up: %v", err)
				}
				return
			}
			var se *siptest.StatusError
			if !errors.As(err, &se) || se.Code != tt.wantCode || !strings.HasPrefix(se.Warning, tt.wantWarning) {
				t.Fatalf("dial with c=%s: err = %v (warning %q), want %d with Warning %q...", tt.addr, err, warningOf(se), tt.wantCode, tt.wantWarning)
			}
			if !strings.Contains(se.Warning, tt.addr) {
				t.Fatalf("Warning %q does not name the refused address %s", se.Warning, tt.addr)
			}
			if got := srv.ports.InUse(); got != 0 {
				t.Fatalf("%d RTP ports in use after a refused offer, want 0", got)
			}
		})
	}
}

func warningOf(e *siptest.StatusError) string {
	if e == nil {
		return ""
	}
	return e.Warning
}

// TestReinviteMediaAddress: in a call, c=0.0.0.0 is hold (RFC 3264 §8.4) and
// is answered 200 (we stop sending); a re-INVITE moving the media to a third
// party gets 488 and leaves the call as it was.
func TestReinviteMediaAddress(t *testing.T) {
	srv, calls := callServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := newCaller(t).Dial(ctx, siptest.DialOptions{Target: srv.target()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer call.Hangup(ctx)
	c := <-calls
	err = call.MoveMedia(ctx, netip.MustParseAddr("192.0.2.10"))
	var se *siptest.StatusError
	if !errors.As(err, &se) || se.Code != 488 || !strings.HasPrefix(se.Warning, "399 hotline") {
		t.Fatalf("re-INVITE to a third party: err = %v, want 488 with Warning 399", err)
	}
	if d := c.Media().Direction(); d != media.SendRecv {
		t.Fatalf("direction after the refused re-INVITE = %s, want sendrecv", d)
	}
	if err := call.HoldOldStyle(ctx); err != nil {
		t.Fatalf("hold with c=0.0.0.0: %v", err)
	}
	if d := c.Media().Direction(); d != media.RecvOnly {
		t.Fatalf("direction after hold with c=0.0.0.0 = %s, want recvonly (we send nothing)", d)
	}
	if err := call.Unhold(ctx); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	if d := c.Media().Direction(); d != media.SendRecv {
		t.Fatalf("direction after unhold = %s, want sendrecv", d)
	}
	select {
	case <-c.ctx.Done():
		t.Fatalf("call ended: %s", c.EndReason())
	default:
	}
}

// TestInviteMediaAddressSIPp: SIPp (a peer nobody here wrote) offering media
// at a third party's address gets 488 with the Warning naming it; a Warning
// that does not match fails the SIPp call (check_it).
func TestInviteMediaAddressSIPp(t *testing.T) {
	siptest.RequireSIPp(t)
	srv, _ := callServer(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := siptest.RunSIPp(ctx, siptest.SIPpOptions{Scenario: "foreign_media.xml",
		Target: srv.UDPAddr().String(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("sipp: %v", err)
	}
	if res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("sipp successful=%d failed=%d exit=%d, want the 488 with its Warning\nerrors: %s\nstderr: %s",
			res.Successful, res.Failed, res.ExitCode, res.Errors, res.Stderr)
	}
	if got := srv.ports.InUse(); got != 0 {
		t.Fatalf("%d RTP ports in use after the refused offer, want 0", got)
	}
}

// TestCheckMediaAddr is the rule table: who offers, what c= says, from where.
func TestCheckMediaAddr(t *testing.T) {
	src := netip.MustParseAddr("198.51.100.7")
	tests := []struct {
		name         string
		addr         string
		inDialog     bool
		from         int
		allowForeign bool
		wantCode     int // 0: accepted
	}{
		{"caller, own address", "198.51.100.7", false, mediaFromCaller, false, 0},
		{"caller, IPv4-mapped own address", "::ffff:198.51.100.7", false, mediaFromCaller, false, 0},
		{"caller, third party", "203.0.113.9", false, mediaFromCaller, false, 399},
		{"caller, third party, foreign allowed", "203.0.113.9", false, mediaFromCaller, true, 0},
		{"caller, multicast", "224.0.0.9", false, mediaFromCaller, true, 330},
		{"caller, IPv6 multicast", "ff02::1", false, mediaFromCaller, false, 330},
		{"caller, unspecified in a new call", "0.0.0.0", false, mediaFromCaller, false, 399},
		{"caller, IPv6 unspecified in a new call", "::", false, mediaFromCaller, true, 399},
		{"caller, hold in a re-INVITE", "0.0.0.0", true, mediaFromCaller, false, 0},
		{"caller, third party in a re-INVITE", "203.0.113.9", true, mediaFromCaller, false, 399},
		{"agent, another of its addresses", "10.8.0.5", false, mediaFromAgent, false, 0},
		{"agent, multicast", "239.0.0.1", true, mediaFromAgent, false, 330},
		{"agent, unspecified in a new call", "0.0.0.0", false, mediaFromAgent, false, 399},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{cfg: DefaultConfig()}
			s.cfg.AllowForeignMedia = tt.allowForeign
			err := s.checkMediaAddr(&media.SessionDescription{Addr: netip.MustParseAddr(tt.addr)}, src, tt.inDialog, tt.from)
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantCode != 0 && (err == nil || err.code != tt.wantCode):
				t.Fatalf("got %v, want warn-code %d", err, tt.wantCode)
			}
		})
	}
}
