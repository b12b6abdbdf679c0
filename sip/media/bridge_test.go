package media

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Payload types of telephone-event on the two legs: different on purpose,
// so pass-through must rewrite them.
const (
	callerDTMFPT = 101
	agentDTMFPT  = 96
)

// rig is two sessions on loopback sockets with a running pacer; a and b are
// the caller's and the agent's phones.
type rig struct {
	caller, agent *Session
	a, b          *net.UDPConn
	callerNeg     Negotiated
	agentNeg      Negotiated
	reg           *prometheus.Registry
}

// leg describes one side's negotiation for newRig.
type legSpec struct {
	codec Codec
	dtmf  bool
}

func newRig(t *testing.T, caller, agent legSpec) *rig {
	t.Helper()
	return newRigSend(t, SendAuto, RelayAuto, caller, agent)
}

// newRigSend is newRig with the pacer's send mode: with io_uring the shared
// receivers read and relay in batches, with sendto one packet at a time.
// The sessions start once the receivers run, so they read through them.
// relay is the pacer's relay mode: RelayAuto forwards same-codec audio in
// the kernel where the test may load the program (root).
func newRigSend(t *testing.T, send, relay string, caller, agent legSpec) *rig {
	t.Helper()
	r := &rig{reg: prometheus.NewRegistry(), a: listenLoopback(t), b: listenLoopback(t)}
	m := NewMetrics(r.reg)
	pacer := NewPacerConfig(PacerConfig{Metrics: m, Send: send, Relay: relay})
	runPacer(t, pacer)
	r.callerNeg = Negotiated{Codec: caller.codec, DTMF: caller.dtmf, DTMFPayloadType: callerDTMFPT,
		Remote: addrOf(r.a), Direction: SendRecv}
	r.agentNeg = Negotiated{Codec: agent.codec, DTMF: agent.dtmf, DTMFPayloadType: agentDTMFPT,
		Remote: addrOf(r.b), Direction: SendRecv}
	open := func(n Negotiated) *Session {
		conn := listenLoopback(t)
		s := NewSession(SessionConfig{Conn: conn, LocalPort: int(addrOf(conn).Port()),
			Negotiated: n, Pacer: pacer, Metrics: m})
		s.Start()
		return s
	}
	r.caller, r.agent = open(r.callerNeg), open(r.agentNeg)
	t.Cleanup(func() {
		r.caller.Close()
		r.agent.Close()
	})
	return r
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// sessionAddr is where a phone sends RTP to reach s.
func sessionAddr(s *Session) netip.AddrPort { return addrOf(s.conn) }

// talk sends n packets of a sine at freq Hz, one every 20 ms, from phone to
// s, like a phone's RTP stream (SSRC, seq +1, ts +160).
func talk(t *testing.T, phone *net.UDPConn, s *Session, c Codec, freq float64, ssrc uint32, n int) {
	t.Helper()
	to, start := sessionAddr(s), time.Now()
	for i := range n {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PayloadType, SequenceNumber: uint16(i),
			Timestamp: uint32(1000 + i*frameSamples), SSRC: ssrc, Marker: i == 0},
			Payload: c.Encode(nil, sine(freq, i*frameSamples, frameSamples))}
		b, _ := p.Marshal()
		if _, err := phone.WriteToUDPAddrPort(b, to); err != nil {
			t.Errorf("phone send: %v", err)
			return
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * frameDuration)))
	}
}

// sine is n samples of freq Hz from sample `from` on.
func sine(freq float64, from, n int) []int16 {
	pcm := make([]int16, n)
	for k := range pcm {
		pcm[k] = int16(6000 * math.Sin(2*math.Pi*freq*float64(from+k)/8000))
	}
	return pcm
}

// listen collects what a phone receives until nothing arrives for quiet.
func listen(c *net.UDPConn, quiet time.Duration) <-chan []received {
	return listenFor(c, quiet, time.Hour)
}

// listenFor is listen that also stops after limit.
func listenFor(c *net.UDPConn, quiet, limit time.Duration) <-chan []received {
	out := make(chan []received, 1)
	end := time.Now().Add(limit)
	go func() {
		var got []received
		buf := make([]byte, 1500)
		for {
			deadline := time.Now().Add(quiet)
			if deadline.After(end) {
				deadline = end
			}
			c.SetReadDeadline(deadline)
			n, err := c.Read(buf)
			if err != nil {
				out <- got
				return
			}
			r := received{at: time.Now()}
			if r.pkt.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
				got = append(got, r)
			}
		}
	}()
	return out
}

// pcmOf decodes the audio packets of payload type c.
func pcmOf(got []received, c Codec) []int16 {
	var pcm []int16
	for _, r := range got {
		if r.pkt.PayloadType == c.PayloadType {
			pcm = c.Decode(pcm, r.pkt.Payload)
		}
	}
	return pcm
}

// goertzel is the power of freq in pcm (8 kHz), normalised by length.
func goertzel(pcm []int16, freq float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2 float64
	for _, x := range pcm {
		s1, s2 = float64(x)+coeff*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - coeff*s1*s2) / float64(max(len(pcm), 1)*max(len(pcm), 1))
}

// hasTone checks that freq dominates other in pcm and that pcm is not silent.
func hasTone(t *testing.T, what string, pcm []int16, freq, other float64) {
	t.Helper()
	p, q := goertzel(pcm, freq), goertzel(pcm, other)
	if len(pcm) < 4000 || p < 1e5 || p < 20*q {
		t.Errorf("%s: %d samples, power at %v Hz = %.3g, at %v Hz = %.3g; want %v Hz clearly present",
			what, len(pcm), freq, p, other, q, freq)
	}
}

// checkOwnStream checks that got is one RTP stream of s: its SSRC, sequence
// +1 per packet, timestamps +160 per audio frame, payload type pt.
func checkOwnStream(t *testing.T, what string, got []received, s *Session, pt uint8) {
	t.Helper()
	checkStream(t, what, got, s, pt, true)
}

// checkStream is checkOwnStream; without exact, timestamps may also advance
// by several frames (the pacer skips ticks when it wakes up late).
func checkStream(t *testing.T, what string, got []received, s *Session, pt uint8, exact bool) {
	t.Helper()
	for i, r := range got {
		h := r.pkt.Header
		if h.SSRC != s.tx.ssrc || h.PayloadType != pt {
			t.Fatalf("%s packet %d: SSRC %#x PT %d, want the session's SSRC %#x and PT %d", what, i, h.SSRC, h.PayloadType, s.tx.ssrc, pt)
		}
		if i == 0 {
			continue
		}
		prev := got[i-1].pkt.Header
		step := h.Timestamp - prev.Timestamp
		if h.SequenceNumber != prev.SequenceNumber+1 || step == 0 || step%frameSamples != 0 || (exact && step != frameSamples) {
			t.Fatalf("%s packet %d: seq %d→%d ts %d→%d, want +1 and +160", what, i,
				prev.SequenceNumber, h.SequenceNumber, prev.Timestamp, h.Timestamp)
		}
	}
}

func TestBridgeRelaysBothWays(t *testing.T) {
	tests := []struct {
		name           string
		caller, agent  Codec
		wantTranscoded bool
	}{
		{"PCMU caller, PCMA agent: transcoded", PCMU, PCMA, true},
		{"same codec: copied", PCMU, PCMU, false},
	}
	for _, tt := range tests {
		for _, send := range []string{SendAuto, SendEach} {
			for _, relay := range []string{RelayUser, RelayKernel} {
				t.Run(tt.name+", "+send+", "+relay, func(t *testing.T) {
					needKernelRelay(t, relay)
					relayBothWays(t, send, relay, tt.caller, tt.agent, tt.wantTranscoded)
				})
			}
		}
	}
}

// needKernelRelay skips a kernel-relay test where the process may not load
// BPF programs; as root it must work (the pacer refuses to run otherwise).
func needKernelRelay(t *testing.T, relay string) {
	t.Helper()
	if relay == RelayKernel && (runtime.GOOS != "linux" || os.Geteuid() != 0) {
		t.Skip("the kernel relay needs Linux and root (CAP_BPF, CAP_NET_ADMIN)")
	}
}

// relayBothWays bridges two phones talking at once and checks what each
// hears, the counters, the latency and the recording. With the kernel relay
// every packet after each direction's first is forwarded by the kernel
// unless the codecs differ.
func relayBothWays(t *testing.T, send, relay string, callerCodec, agentCodec Codec, wantTranscoded bool) {
	r := newRigSend(t, send, relay, legSpec{callerCodec, true}, legSpec{agentCodec, true})
	rec, err := NewRecorder(filepath.Join(t.TempDir(), "call.wav"))
	if err != nil {
		t.Fatal(err)
	}
	br := NewBridge(r.caller, r.agent, BridgeOptions{Recorder: rec})
	br.Start()
	atA, atB := listen(r.a, 300*time.Millisecond), listen(r.b, 300*time.Millisecond)
	start := time.Now()
	done := make(chan struct{})
	go func() { talk(t, r.b, r.agent, agentCodec, 1000, 0xB0B, 60); close(done) }()
	talk(t, r.a, r.caller, callerCodec, 440, 0xA11CE, 60)
	<-done
	gotA, gotB := <-atA, <-atB
	br.Stop()
	if err := rec.Close(); err != nil {
		t.Fatalf("recorder Close: %v", err)
	}
	callTime := time.Since(start)

	checkOwnStream(t, "agent's phone", gotB, r.agent, agentCodec.PayloadType)
	checkOwnStream(t, "caller's phone", gotA, r.caller, callerCodec.PayloadType)
	hasTone(t, "agent hears caller", pcmOf(gotB, agentCodec), 440, 1000)
	hasTone(t, "caller hears agent", pcmOf(gotA, callerCodec), 1000, 440)
	st := br.Stats()
	if st.CallerToAgent != 60 || st.AgentToCaller != 60 {
		t.Errorf("relayed %d / %d packets, want 60 each way", st.CallerToAgent, st.AgentToCaller)
	}
	if want := map[bool]uint64{true: 120}[wantTranscoded]; st.Transcoded != want {
		t.Errorf("Transcoded = %d, want %d", st.Transcoded, want)
	}
	if sent := PCMU.Encode(nil, sine(440, 5*frameSamples, frameSamples)); !wantTranscoded && string(gotB[5].pkt.Payload) != string(sent) {
		t.Errorf("same codec: payload changed on the way")
	}
	t.Logf("relay latency mean %v max %v over %d packets", st.LatencyMean, st.LatencyMax, st.CallerToAgent+st.AgentToCaller)
	if st.LatencyMean <= 0 || st.LatencyMean > 5*time.Millisecond {
		t.Errorf("mean relay latency %v, want above 0 and far below 5 ms", st.LatencyMean)
	}
	want := 0.0
	if relay == RelayKernel && !wantTranscoded {
		want = 2 * 59
	}
	if got := testutil.ToFloat64(r.caller.m.kernelRelayed); got != want {
		t.Errorf("kernel relayed %v packets, want %v", got, want)
	}
	if got := testutil.ToFloat64(r.caller.m.kernelLegs); got != 0 {
		t.Errorf("%v legs still in the kernel after Stop", got)
	}
	checkRecording(t, rec, callTime)
}

// checkRecording reads the finished WAV back: caller (440 Hz) left, agent
// (1 kHz) right, as long as the call.
func checkRecording(t *testing.T, rec *Recorder, callTime time.Duration) {
	t.Helper()
	left, right := readWAV(t, rec.Path())
	hasTone(t, "recording left (caller)", left, 440, 1000)
	hasTone(t, "recording right (agent)", right, 1000, 440)
	got := time.Duration(len(left)) * time.Second / recRate
	if got != rec.Duration() || got < callTime-100*time.Millisecond || got > callTime+50*time.Millisecond {
		t.Errorf("recording is %v (Duration %v), call took %v", got, rec.Duration(), callTime)
	}
}

func TestBridgeDTMFPassThrough(t *testing.T) {
	tests := []struct {
		name         string
		agentDTMF    bool
		callerDigits bool
		wantRelayed  int
	}{
		{"agent has telephone-event, caller digits relayed only", true, false, 5},
		{"caller digits also detected", true, true, 5},
		{"agent without telephone-event", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, legSpec{PCMU, true}, legSpec{PCMA, tt.agentDTMF})
			br := NewBridge(r.caller, r.agent, BridgeOptions{CallerDigits: tt.callerDigits})
			br.Start()
			defer br.Stop()
			atB := listen(r.b, 150*time.Millisecond)
			h := &harness{remote: r.a, local: sessionAddr(r.caller)}
			h.sendDigit(t, '5', 7777)
			got := <-atB
			if len(got) != tt.wantRelayed {
				t.Fatalf("agent got %d packets, want %d", len(got), tt.wantRelayed)
			}
			for i, p := range got {
				if p.pkt.PayloadType != agentDTMFPT || p.pkt.SSRC != r.agent.tx.ssrc || p.pkt.Timestamp != got[0].pkt.Timestamp {
					t.Fatalf("packet %d: PT %d SSRC %#x ts %d; want PT %d, the agent session's SSRC, one timestamp per event",
						i, p.pkt.PayloadType, p.pkt.SSRC, p.pkt.Timestamp, agentDTMFPT)
				}
				if ev, err := ParseDTMFEvent(p.pkt.Payload); err != nil || ev.Event != 5 {
					t.Fatalf("packet %d: event %+v, %v; want digit 5", i, ev, err)
				}
			}
			if len(got) > 0 && !got[0].pkt.Marker {
				t.Errorf("first relayed event packet has no marker")
			}
			if st := br.Stats(); st.DTMF != uint64(tt.wantRelayed) || st.DroppedCodec != uint64(5-tt.wantRelayed) {
				t.Errorf("Stats DTMF %d dropped %d; want %d and %d", st.DTMF, st.DroppedCodec, tt.wantRelayed, 5-tt.wantRelayed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			d, err := r.caller.ReadDigit(ctx)
			if detected := err == nil; detected != tt.callerDigits || (detected && d != '5') {
				t.Errorf("caller session ReadDigit = %q, %v; want detected=%v", d, err, tt.callerDigits)
			}
		})
	}
}

func TestBridgeAgentDigitsNotDetected(t *testing.T) {
	r := newRig(t, legSpec{PCMU, true}, legSpec{PCMA, true})
	br := NewBridge(r.caller, r.agent, BridgeOptions{CallerDigits: true})
	br.Start()
	atA := listen(r.a, 150*time.Millisecond)
	h := &harness{remote: r.b, local: sessionAddr(r.agent)}
	h.sendDigit(t, '9', 4242) // the test harness sends PT testDTMFPT
	if got := <-atA; len(got) != 0 {
		t.Fatalf("caller got %d packets for a payload type the agent did not negotiate", len(got))
	}
	br.Stop()
	// With the agent's own PT the event passes and is not detected.
	br = NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	defer br.Stop()
	atA = listen(r.a, 150*time.Millisecond)
	for i, end := range []bool{false, true, true, true} {
		p := DTMFEvent{Event: 9, End: end, Volume: 10, Duration: uint16(160 * (i + 1))}.Marshal()
		h.send(t, r.b, rtpBytes(t, agentDTMFPT, uint16(i), 9000, 0xB0B, p))
	}
	if got := <-atA; len(got) != 4 || got[0].pkt.PayloadType != callerDTMFPT {
		t.Fatalf("caller got %d packets, want the 4 event packets with PT %d", len(got), callerDTMFPT)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if d, err := r.agent.ReadDigit(ctx); err == nil {
		t.Fatalf("agent digit %q swallowed by the agent session's detector", d)
	}
}

func TestBridgeStopThenPlay(t *testing.T) {
	r := newRig(t, legSpec{PCMU, true}, legSpec{PCMA, true})
	played := make(chan error, 1)
	go func() {
		_, err := r.caller.Play(context.Background(), []*Prompt{NewPrompt("queue", tone(8000*10))}, PlayOptions{Loop: true})
		played <- err
	}()
	prompt := receiveN(t, r.a, 5, time.Second)
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	if err := <-played; !errors.Is(err, ErrBridged) {
		t.Fatalf("Play during Start: err = %v, want ErrBridged", err)
	}
	prompt = append(prompt, receive(t, r.a, 30*time.Millisecond)...) // in flight
	atA := listen(r.a, 150*time.Millisecond)
	talk(t, r.b, r.agent, PCMA, 1000, 0xB0B, 10)
	relayed := <-atA
	br.Stop()
	br.Stop()
	talk(t, r.b, r.agent, PCMA, 1000, 0xB0B, 3) // not relayed any more
	atA = listen(r.a, 60*time.Millisecond)
	if _, err := r.caller.Play(context.Background(), []*Prompt{NewPrompt("survey", tone(5*160))}, PlayOptions{}); err != nil {
		t.Fatalf("Play after Stop: %v", err)
	}
	survey := <-atA
	if len(relayed) != 10 || len(survey) != 5 {
		t.Fatalf("caller got %d relayed and %d survey packets, want 10 and 5", len(relayed), len(survey))
	}
	checkSwitch(t, "prompt to relay", prompt[len(prompt)-1], relayed[0])
	checkSwitch(t, "relay to prompt", relayed[len(relayed)-1], survey[0])
}

// checkSwitch checks one outgoing stream across a switch between prompt and
// relay: same SSRC, next sequence number, the timestamp forward by the
// elapsed time (within a frame) and the marker set.
func checkSwitch(t *testing.T, what string, before, after received) {
	t.Helper()
	b, a := before.pkt.Header, after.pkt.Header
	step := int64(a.Timestamp - b.Timestamp)
	elapsed := int64(after.at.Sub(before.at) / (time.Second / 8000))
	if a.SSRC != b.SSRC || a.SequenceNumber != b.SequenceNumber+1 || !a.Marker ||
		step < frameSamples || step > elapsed+2*frameSamples || step < elapsed-2*frameSamples {
		t.Fatalf("%s: seq %d→%d ts step %d over %d elapsed samples, marker %v; want +1, step ≈ elapsed, marker",
			what, b.SequenceNumber, a.SequenceNumber, step, elapsed, a.Marker)
	}
}

func TestBridgeHoldPlaysMusic(t *testing.T) {
	r := newRig(t, legSpec{PCMU, true}, legSpec{PCMA, true})
	br := NewBridge(r.caller, r.agent, BridgeOptions{HoldMusic: NewPrompt("hold", sine(300, 0, 8000))})
	br.Start()
	defer br.Stop()
	held := r.callerNeg
	held.Direction = RecvOnly // the caller's phone sent sendonly: it holds
	r.caller.Update(held)
	atA, atB := listen(r.a, 200*time.Millisecond), listenFor(r.b, 200*time.Millisecond, 900*time.Millisecond)
	done := make(chan struct{})
	go func() { talk(t, r.b, r.agent, PCMA, 1000, 0xB0B, 40); close(done) }()
	talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 40)
	<-done
	gotA, gotB := <-atA, <-atB
	if len(gotA) != 0 {
		t.Errorf("the holding caller got %d packets, want none", len(gotA))
	}
	checkStream(t, "music to agent", gotB, r.agent, PCMA.PayloadType, false)
	hasTone(t, "agent hears hold music", pcmOf(gotB, PCMA), 300, 440)
	if st := br.Stats(); st.DroppedHeld < 75 {
		t.Errorf("Stats held %d, want the 40 packets each way held back", st.DroppedHeld)
	}

	r.caller.Update(r.callerNeg) // unhold
	// Wait until the hold music has stopped reaching the agent (the pacer may
	// still be sending its last frame on a loaded machine).
	poll.Until(t, "the hold music to stop reaching the agent", func() bool {
		return len(<-listenFor(r.b, 60*time.Millisecond, 500*time.Millisecond)) == 0
	})
	atB = listen(r.b, 200*time.Millisecond)
	talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 40)
	gotB = <-atB
	hasTone(t, "agent hears the caller again", pcmOf(gotB, PCMA), 440, 300)
	if len(gotB) == 0 || !gotB[0].pkt.Marker {
		t.Errorf("first packet after unhold has no marker")
	}
}

func TestBridgePromptPausesRelay(t *testing.T) {
	r := newRig(t, legSpec{PCMU, true}, legSpec{PCMU, true})
	br := NewBridge(r.caller, r.agent, BridgeOptions{})
	br.Start()
	defer br.Stop()
	atB := listenFor(r.b, 200*time.Millisecond, 900*time.Millisecond)
	go talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 40)
	time.Sleep(100 * time.Millisecond)
	if _, err := r.agent.Play(context.Background(), []*Prompt{NewPrompt("notice", sine(300, 0, 10*frameSamples))}, PlayOptions{}); err != nil {
		t.Fatalf("Play during bridge: %v", err)
	}
	got := <-atB
	checkOwnStream(t, "agent stream", got[:1], r.agent, PCMU.PayloadType)
	var markers int
	for i, p := range got {
		if p.pkt.Marker && i > 0 {
			markers++
		}
	}
	if st := br.Stats(); st.DroppedPrompt < 8 || st.DroppedPrompt > 12 || markers != 2 {
		t.Errorf("prompt dropped %d relayed packets, %d talkspurt switches; want the prompt's 10 and 2", st.DroppedPrompt, markers)
	}
}

// When one leg hangs up, its session is closed a moment before the Bridge
// stops: what the other side says meanwhile is dropped as "closed", not
// counted as a send error (a supervisor reads send errors as a fault).
func TestBridgeRelayToClosedLegIsDroppedNotASendError(t *testing.T) {
	for _, send := range []string{SendAuto, SendEach} {
		t.Run(send, func(t *testing.T) {
			r := newRigSend(t, send, RelayUser, legSpec{PCMU, false}, legSpec{PCMU, false})
			br := NewBridge(r.caller, r.agent, BridgeOptions{})
			br.Start()
			talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 10)
			time.Sleep(50 * time.Millisecond) // all ten relayed
			r.agent.Close()                   // the agent's leg hung up
			talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 20)
			time.Sleep(50 * time.Millisecond)
			br.Stop()
			st := br.Stats()
			if st.CallerToAgent != 10 || st.DroppedClosed != 20 {
				t.Fatalf("relayed %d, dropped as closed %d; want 10 before the hang-up and 20 dropped after", st.CallerToAgent, st.DroppedClosed)
			}
			if n := r.agent.Stats().SendErrors; n != 0 {
				t.Fatalf("%d send errors on the closed leg, want 0", n)
			}
			if got := testutil.ToFloat64(r.agent.m.relayDropped[relayDropClosed]); got != 20 {
				t.Fatalf("hotline_media_relay_dropped_total{reason=closed} = %v, want 20", got)
			}
		})
	}
}
