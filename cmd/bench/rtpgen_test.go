package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// relayStandIn is a two-port relay in the test: what the server does for
// one bridge, with every 10th packet towards the agent held back 8 ms.
type relayStandIn struct {
	caller, agent *net.UDPConn
	wg            sync.WaitGroup
}

func newRelayStandIn(t *testing.T, g *rtpGen) *relayStandIn {
	t.Helper()
	r := &relayStandIn{}
	var err error
	if r.caller, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopback)}); err != nil {
		t.Fatal(err)
	}
	if r.agent, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopback)}); err != nil {
		t.Fatal(err)
	}
	callerPeer := &net.UDPAddr{IP: net.ParseIP(loopback), Port: g.port(sideCaller)}
	agentPeer := &net.UDPAddr{IP: net.ParseIP(loopback), Port: g.port(sideAgent)}
	// The greeting's first packet: not marked, names the caller leg's port.
	prompt := make([]byte, 172)
	prompt[0] = 0x80
	if _, err := r.caller.WriteToUDP(prompt, callerPeer); err != nil {
		t.Fatal(err)
	}
	r.wg.Go(func() {
		buf := make([]byte, 1500)
		for i := 0; ; i++ {
			n, _, err := r.caller.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if i%10 == 9 {
				time.Sleep(8 * time.Millisecond)
			}
			_, _ = r.agent.WriteToUDP(buf[:n], agentPeer)
		}
	})
	r.wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := r.agent.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = r.caller.WriteToUDP(buf[:n], callerPeer)
		}
	})
	t.Cleanup(func() { r.caller.Close(); r.agent.Close(); r.wg.Wait() })
	return r
}

// TestRTPGenMeasuresARelay: the generator latches on the server's ports,
// sends 50 packets a second per leg, and measures the relayed packets'
// latency and added jitter: the 8 ms held back every tenth packet in one
// direction shows as added jitter over 5 ms and as a gap per leg. The same
// with the sender on a real-time thread (-rtp-realtime), where allowed.
func TestRTPGenMeasuresARelay(t *testing.T) {
	for _, realtime := range []bool{false, true} {
		t.Run(fmt.Sprintf("realtime=%v", realtime), func(t *testing.T) { testRTPGenMeasuresARelay(t, realtime) })
	}
}

func testRTPGenMeasuresARelay(t *testing.T, realtime bool) {
	g, err := newRTPGen(1, realtime)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	g.setPlan(100*time.Millisecond, 5*time.Second)
	newRelayStandIn(t, g)
	time.Sleep(300 * time.Millisecond) // both legs up
	g.reset()
	time.Sleep(2 * time.Second)
	w := g.snapshot()
	t.Logf("%s", w)
	allowed := realtime && canRealtime()
	switch {
	case w.Realtime != allowed:
		t.Fatalf("sender real-time = %v, want %v (asked %v)", w.Realtime, allowed, realtime)
	case w.Legs != 2:
		t.Fatalf("legs heard = %d, want 2 (caller and agent)", w.Legs)
	case w.Sent < 2*2*35 || w.Sent > 2*2*65:
		t.Fatalf("sent %d packets in 2 s on 2 legs, want about 200 (50/s each)", w.Sent)
	case w.Received < w.Sent*8/10:
		t.Fatalf("received %d of %d sent", w.Received, w.Sent)
	case w.JitterWithin > 0.97 || w.JitterP99 < 5:
		t.Fatalf("added jitter p99 %.2f ms, %.2f within 5 ms: the held-back packets do not show", w.JitterP99, w.JitterWithin)
	case w.JitterP50 > 2:
		t.Fatalf("added jitter p50 %.2f ms: most packets are relayed at once", w.JitterP50)
	case w.GapMax < 25:
		t.Fatalf("worst gap %.2f ms, want ≥ 25 (20 ms + 8 ms held back)", w.GapMax)
	}
}

// TestRTPGenCallerPlan: a caller leg talks only in its plan's window.
func TestRTPGenCallerPlan(t *testing.T) {
	g, err := newRTPGen(1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	g.setPlan(300*time.Millisecond, 400*time.Millisecond)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopback)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() { // the server's prompts, so the leg stays up
		p := make([]byte, 172)
		p[0] = 0x80
		for range 60 {
			_, _ = srv.WriteToUDP(p, &net.UDPAddr{IP: net.ParseIP(loopback), Port: g.port(sideCaller)})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var got []time.Time
	start := time.Now()
	buf := make([]byte, 1500)
	_ = srv.SetReadDeadline(start.Add(1200 * time.Millisecond))
	for {
		if _, _, err := srv.ReadFromUDP(buf); err != nil {
			break
		}
		got = append(got, time.Now())
	}
	if len(got) < 12 || len(got) > 28 {
		t.Fatalf("caller leg sent %d packets, want about 20 (400 ms at 50/s)", len(got))
	}
	if first := got[0].Sub(start); first < 250*time.Millisecond {
		t.Fatalf("caller leg started %v after the answer, want its plan's 300 ms", first)
	}
}

// TestScenariosNameTheGoPeer: with MediaPort the callers' and the agents'
// SDP name the Go peer's port and SIPp streams nothing; without it SIPp's
// own media port and rtp_stream, as before.
func TestScenariosNameTheGoPeer(t *testing.T) {
	tests := []struct {
		name      string
		run       sippRun
		wantPort  string
		wantAudio bool
	}{
		{"caller, go peer", sippRun{Scenario: "bridge_caller.xml", Key: '1', AnswerWait: time.Second,
			Data: map[string]int64{"AudioAtMS": 4000, "RestMS": 4000, "MediaPort": 40123}}, "m=audio 40123 ", false},
		{"caller, sipp", sippRun{Scenario: "bridge_caller.xml", Key: '1', AnswerWait: time.Second, Audio: talkAudio(),
			Data: map[string]int64{"AudioAtMS": 4000, "RestMS": 4000}}, "m=audio [media_port] ", true},
		{"agent, go peer", sippRun{Scenario: "agent_uas.xml", UAS: true,
			Data: map[string]int64{"TalkMS": 1000, "MediaPort": 40124}}, "m=audio 40124 ", false},
		{"agent, sipp", sippRun{Scenario: "agent_uas.xml", UAS: true, Audio: talkAudio(),
			Data: map[string]int64{"TalkMS": 1000}}, "m=audio [media_port] ", true},
		{"ivr caller", sippRun{Scenario: "ivr_pcap.xml", Key: '1', AnswerWait: time.Second, AfterKey: time.Second},
			"m=audio [media_port] ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := stage(dir, tt.run); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "scenario.xml"))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			if !strings.Contains(text, tt.wantPort) {
				t.Errorf("SDP does not contain %q:\n%s", tt.wantPort, text)
			}
			if got := strings.Contains(text, "<exec rtp_stream"); got != tt.wantAudio {
				t.Errorf("<exec rtp_stream> in the scenario = %v, want %v", got, tt.wantAudio)
			}
		})
	}
}

// TestRTPGenSamplesLegs: with 1 leg in 8 measured, the kernel delivers
// every packet of a server port whose bits 1-3 are zero (RTP ports are
// even: bit 0 does not count) and 1 in 16 of
// any other port's (by RTP sequence number), so both legs stay known.
func TestRTPGenSamplesLegs(t *testing.T) {
	g, err := newRTPGen(8, false)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	var measured, other *net.UDPConn
	for i := 0; i < 200 && (measured == nil || other == nil); i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopback)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		switch port := c.LocalAddr().(*net.UDPAddr).Port; {
		case (port>>1)&7 == 0 && measured == nil:
			measured = c
		case (port>>1)&7 != 0 && other == nil:
			other = c
		}
	}
	if measured == nil || other == nil {
		t.Skip("no loopback port with the wanted low bits in 200 tries")
	}
	to := &net.UDPAddr{IP: net.ParseIP(loopback), Port: g.port(sideCaller)}
	p := make([]byte, 172)
	p[0] = 0x80
	for seq := range 64 {
		p[2], p[3] = byte(seq>>8), byte(seq)
		for _, c := range []*net.UDPConn{measured, other} {
			if _, err := c.WriteToUDP(p, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(c *net.UDPConn) int {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, l := range g.legs {
			if l.to.Port == c.LocalAddr().(*net.UDPAddr).Port {
				return l.read
			}
		}
		return 0
	}
	time.Sleep(200 * time.Millisecond)
	if m, o := read(measured), read(other); m != 64 || o != 4 {
		t.Fatalf("packets read: measured leg %d (want 64), other leg %d (want 4: sequence numbers 0, 16, 32, 48)", m, o)
	}
	if _, err := newRTPGen(6, false); err == nil {
		t.Fatal("a sample of 6 (not a power of two) was taken")
	}
}

// canRealtime says whether this process may put a thread at the RTP
// threads' real-time priority (root or CAP_SYS_NICE), tried on a thread of
// its own: the thread exits with its goroutine, its priority with it.
func canRealtime() bool {
	ok := make(chan bool)
	go func() { ok <- media.LockRealtime() }()
	return <-ok
}
