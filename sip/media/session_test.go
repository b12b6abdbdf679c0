package media

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

const testDTMFPT = 101

// harness is one session on a real loopback socket, a running pacer and the
// remote party as a plain UDP socket.
type harness struct {
	sess    *Session
	remote  *net.UDPConn   // the caller's RTP socket
	local   netip.AddrPort // the session's RTP address
	neg     Negotiated
	reg     *prometheus.Registry
	onAudio atomic.Int64
}

func newHarness(t *testing.T, timeout time.Duration) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry()}
	m := NewMetrics(h.reg)
	pacer := NewPacer(m)
	runPacer(t, pacer) // sessions read through the shared receiver (Linux)
	h.remote = listenLoopback(t)
	conn := listenLoopback(t)
	h.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	h.neg = Negotiated{
		Codec: PCMU, DTMF: true, DTMFPayloadType: testDTMFPT,
		Remote: h.remote.LocalAddr().(*net.UDPAddr).AddrPort(), Direction: SendRecv,
	}
	h.sess = NewSession(SessionConfig{
		Conn: conn, LocalPort: int(h.local.Port()), Negotiated: h.neg,
		MediaTimeout: timeout, Pacer: pacer, Metrics: m,
		OnAudio: func(*rtp.Packet) { h.onAudio.Add(1) },
	})
	h.sess.Start()
	t.Cleanup(func() {
		if err := h.sess.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// runPacer runs pacer until the test ends (after the cleanups registered
// later, such as closing its sessions) and returns once its workers and
// shared receivers run.
func runPacer(t testing.TB, pacer *Pacer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pacer.Run(ctx) }()
	select {
	case <-pacer.ready:
	case err := <-done:
		cancel()
		t.Fatalf("pacer Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pacer Run: %v", err)
		}
	})
}

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send writes a raw datagram from c to the session.
func (h *harness) send(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, h.local); err != nil {
		t.Fatalf("send to session: %v", err)
	}
}

func rtpBytes(t *testing.T, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendDigit sends one RFC 4733 event the way phones do: updates, then the end
// packet three times (RFC 4733 section 2.5.1.4).
func (h *harness) sendDigit(t *testing.T, r rune, ts uint32) {
	t.Helper()
	ev, ok := DigitEvent(r)
	if !ok {
		t.Fatalf("%q is not a DTMF digit", r)
	}
	for i, end := range []bool{false, false, true, true, true} {
		payload := DTMFEvent{Event: ev, End: end, Volume: 10, Duration: uint16(160 * (i + 1))}.Marshal()
		h.send(t, h.remote, rtpBytes(t, testDTMFPT, uint16(100+i), ts, 0xCAFE, payload))
	}
}

// metricValue reads a counter or gauge from the registry.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() != label {
				continue
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}

func TestPushDigitAndReadDigit(t *testing.T) {
	h := newHarness(t, 0)
	ctx := context.Background()
	h.sess.PushDigit('x') // not DTMF: ignored
	for _, r := range "12*#A" {
		h.sess.PushDigit(r)
	}
	for _, want := range "12*#A" {
		got, err := h.sess.ReadDigit(ctx)
		if err != nil || got != want {
			t.Fatalf("ReadDigit = %q, %v; want %q", got, err, want)
		}
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := h.sess.ReadDigit(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadDigit with no digit: err = %v, want DeadlineExceeded", err)
	}
	if got := metricValue(t, h.reg, "hotline_media_digits_total", digitSIPInfo); got != 5 {
		t.Fatalf("digits_total{sip_info} = %v, want 5", got)
	}
}

func TestDigitBufferDropsOldest(t *testing.T) {
	h := newHarness(t, 0)
	digits := "0123456789*#ABCD"
	for i := range digitBuffer + 8 {
		h.sess.PushDigit(rune(digits[i%len(digits)]))
	}
	for i := 8; i < digitBuffer+8; i++ {
		got, err := h.sess.ReadDigit(context.Background())
		if want := rune(digits[i%len(digits)]); err != nil || got != want {
			t.Fatalf("digit %d = %q, %v; want %q", i, got, err, want)
		}
	}
	if st := h.sess.Stats(); st.Digits != digitBuffer+8 || st.DigitsDropped != 8 {
		t.Fatalf("Stats digits = %d dropped = %d, want %d and 8", st.Digits, st.DigitsDropped, digitBuffer+8)
	}
	h.sess.PushDigit('5')
	h.sess.PushDigit('6')
	if n := h.sess.FlushDigits(); n != 2 {
		t.Fatalf("FlushDigits = %d, want 2", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.sess.ReadDigit(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadDigit after FlushDigits: err = %v, want DeadlineExceeded", err)
	}
}

func TestRFC4733DigitCountedOnce(t *testing.T) {
	h := newHarness(t, 0)
	h.sendDigit(t, '7', 1000)
	h.sendDigit(t, '8', 2000)
	for _, want := range "78" {
		got, err := h.sess.ReadDigit(context.Background())
		if err != nil || got != want {
			t.Fatalf("ReadDigit = %q, %v; want %q", got, err, want)
		}
	}
	poll.Until(t, "10 packets in", func() bool { return h.sess.Stats().PacketsIn == 10 })
	if st := h.sess.Stats(); st.Digits != 2 {
		t.Fatalf("Stats.Digits = %d, want 2 (end packets repeat)", st.Digits)
	}
	if got := h.onAudio.Load(); got != 0 {
		t.Fatalf("OnAudio called %d times for telephone-events", got)
	}
}

func TestIncomingPacketsValidatedAndLatched(t *testing.T) {
	h := newHarness(t, 0)
	foreign := listenLoopback(t)
	audio := make([]byte, 160)
	v1 := rtpBytes(t, 0, 1, 160, 0xCAFE, audio)
	v1[0] = v1[0]&0x3f | 1<<6 // RTP version 1
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0xCA, 0xFE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	steps := []struct {
		name string
		from *net.UDPConn
		data []byte
		want SessionStats
	}{
		{"first valid audio latches", h.remote, rtpBytes(t, 0, 1, 160, 0xCAFE, audio), SessionStats{PacketsIn: 1}},
		{"version 1", h.remote, v1, SessionStats{PacketsIn: 1, DroppedInvalid: 1}},
		{"too short", h.remote, []byte{0x80, 0}, SessionStats{PacketsIn: 1, DroppedInvalid: 2}},
		{"rtcp sender report", h.remote, rtcp, SessionStats{PacketsIn: 1, DroppedInvalid: 2, DroppedRTCP: 1}},
		{"payload type not negotiated", h.remote, rtpBytes(t, 18, 2, 320, 0xCAFE, audio),
			SessionStats{PacketsIn: 1, DroppedInvalid: 2, DroppedRTCP: 1, DroppedBadPT: 1}},
		{"other address", foreign, rtpBytes(t, 0, 3, 480, 0xCAFE, audio),
			SessionStats{PacketsIn: 1, DroppedInvalid: 2, DroppedRTCP: 1, DroppedBadPT: 1, DroppedForeign: 1}},
		{"other ssrc", h.remote, rtpBytes(t, 0, 3, 480, 0xBEEF, audio),
			SessionStats{PacketsIn: 1, DroppedInvalid: 2, DroppedRTCP: 1, DroppedBadPT: 1, DroppedForeign: 2}},
		{"bad telephone-event payload", h.remote, rtpBytes(t, testDTMFPT, 4, 640, 0xCAFE, []byte{1}),
			SessionStats{PacketsIn: 1, DroppedInvalid: 3, DroppedRTCP: 1, DroppedBadPT: 1, DroppedForeign: 2}},
		{"latched source again", h.remote, rtpBytes(t, 0, 5, 800, 0xCAFE, audio),
			SessionStats{PacketsIn: 2, DroppedInvalid: 3, DroppedRTCP: 1, DroppedBadPT: 1, DroppedForeign: 2}},
	}
	for _, st := range steps {
		h.send(t, st.from, st.data)
		poll.Until(t, st.name, func() bool { return h.sess.Stats() == st.want })
	}
	if got := h.onAudio.Load(); got != 2 {
		t.Fatalf("OnAudio called %d times, want 2", got)
	}
	for reason, want := range map[string]float64{dropRTCP: 1, dropInvalid: 3, dropForeign: 2, dropBadPT: 1} {
		if got := metricValue(t, h.reg, "hotline_media_packets_dropped_total", reason); got != want {
			t.Errorf("packets_dropped_total{%s} = %v, want %v", reason, got, want)
		}
	}
	// A re-INVITE that moves the media resets the latch: the first valid
	// packet from the newly signalled address latches at once.
	moved := h.neg
	moved.Remote = foreign.LocalAddr().(*net.UDPAddr).AddrPort()
	h.sess.Update(moved)
	h.send(t, foreign, rtpBytes(t, 0, 9, 1600, 0xD00D, audio))
	poll.Until(t, "re-latch after Update", func() bool { return h.sess.Stats().PacketsIn == 3 })
	h.send(t, h.remote, rtpBytes(t, 0, 6, 960, 0xCAFE, audio))
	poll.Until(t, "old source foreign after re-latch", func() bool { return h.sess.Stats().DroppedForeign == 3 })
}

func TestMediaTimeout(t *testing.T) {
	h := newHarness(t, 150*time.Millisecond)
	// Media flowing for longer than the timeout keeps the session alive.
	var last time.Time
	for i := range 12 {
		h.send(t, h.remote, rtpBytes(t, 0, uint16(i), uint32(160*i), 0xCAFE, make([]byte, 160)))
		last = time.Now()
		time.Sleep(30 * time.Millisecond)
	}
	select {
	case <-h.sess.TimedOut():
		t.Fatalf("timed out while media was flowing: %+v", h.sess.Stats())
	default:
	}
	select {
	case <-h.sess.TimedOut():
	case <-time.After(2 * time.Second):
		t.Fatal("TimedOut not closed 2 s after media stopped")
	}
	if took := time.Since(last); took < 150*time.Millisecond {
		t.Fatalf("timed out %v after the last packet, want about 150 ms", took)
	}
	if _, err := h.sess.Play(context.Background(), []*Prompt{NewPrompt("p", tone(160))}, PlayOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Play after media timeout: err = %v, want ErrClosed", err)
	}
	if _, err := h.sess.ReadDigit(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadDigit after media timeout: err = %v, want ErrClosed", err)
	}
	if got := metricValue(t, h.reg, "hotline_media_media_timeouts_total", ""); got != 1 {
		t.Fatalf("media_timeouts_total = %v, want 1", got)
	}
}

func TestMediaTimeoutSuspendedWhilePeerDoesNotSend(t *testing.T) {
	h := newHarness(t, 100*time.Millisecond)
	held := h.neg
	held.Direction = Inactive
	h.sess.Update(held)
	select {
	case <-h.sess.TimedOut():
		t.Fatal("timed out while the call was inactive (on hold)")
	case <-time.After(400 * time.Millisecond):
	}
	h.sess.Update(h.neg)
	select {
	case <-h.sess.TimedOut():
	case <-time.After(2 * time.Second):
		t.Fatal("no timeout after the call was taken off hold and media stayed silent")
	}
}

func TestBargeIn(t *testing.T) {
	h := newHarness(t, 0)
	prompt := NewPrompt("menu", tone(8000))
	type result struct {
		d   rune
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{Interruptible: true, Loop: true})
		done <- result{d, err}
	}()
	receiveN(t, h.remote, 3, time.Second) // the prompt is playing
	h.sendDigit(t, '3', 4242)
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Second):
		t.Fatal("Play did not stop on a digit")
	}
	if r.err != nil || r.d != '3' {
		t.Fatalf("Play = %q, %v; want '3', nil", r.d, r.err)
	}
	receive(t, h.remote, 30*time.Millisecond) // packets already in flight
	if got := receive(t, h.remote, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets sent after barge-in", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if d, err := h.sess.ReadDigit(ctx); err == nil {
		t.Fatalf("barge-in digit %q read again: it must stay consumed", d)
	}
}

// TestBargeInOnlyOnStopDigits: with Stop, a digit it refuses is handed to
// Dropped and the prompt plays on; the first digit it takes stops playback.
func TestBargeInOnlyOnStopDigits(t *testing.T) {
	h := newHarness(t, 0)
	prompt := NewPrompt("greeting", tone(8000))
	var mu sync.Mutex
	var dropped []rune
	done := make(chan rune, 1)
	go func() {
		d, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{Interruptible: true, Loop: true,
			Stop: func(d rune) bool { return d == '3' },
			Dropped: func(d rune) {
				mu.Lock()
				defer mu.Unlock()
				dropped = append(dropped, d)
			}})
		if err != nil {
			t.Errorf("Play: %v", err)
		}
		done <- d
	}()
	receiveN(t, h.remote, 3, time.Second)
	h.sendDigit(t, '1', 1000)
	h.sendDigit(t, '8', 2000)
	select {
	case d := <-done:
		t.Fatalf("Play stopped on %q, a digit Stop refuses", d)
	case <-time.After(200 * time.Millisecond):
	}
	receiveN(t, h.remote, 3, time.Second) // still playing
	h.sendDigit(t, '3', 3000)
	select {
	case d := <-done:
		if d != '3' {
			t.Fatalf("Play = %q, want '3'", d)
		}
	case <-time.After(time.Second):
		t.Fatal("Play did not stop on a Stop digit")
	}
	mu.Lock()
	defer mu.Unlock()
	if string(dropped) != "18" {
		t.Fatalf("dropped %q, want \"18\"", string(dropped))
	}
}

func TestPlayEnds(t *testing.T) {
	long := []*Prompt{NewPrompt("music", tone(8000*10))}
	tests := []struct {
		name    string
		end     func(h *harness, cancel context.CancelFunc)
		wantErr error
	}{
		{"close during play", func(h *harness, _ context.CancelFunc) { h.sess.Close() }, ErrClosed},
		{"context cancelled", func(_ *harness, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := h.sess.Play(ctx, long, PlayOptions{Loop: true})
				done <- err
			}()
			receiveN(t, h.remote, 3, time.Second)
			tt.end(h, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Play err = %v, want %v", err, tt.wantErr)
				}
			case <-time.After(time.Second):
				t.Fatal("Play did not return")
			}
		})
	}
}

func TestClosedSession(t *testing.T) {
	h := newHarness(t, 0)
	if err := h.sess.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.sess.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := h.sess.Play(context.Background(), []*Prompt{NewPrompt("p", tone(160))}, PlayOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Play after Close: err = %v, want ErrClosed", err)
	}
	h.sess.PushDigit('1')
	if _, err := h.sess.ReadDigit(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadDigit after Close: err = %v, want ErrClosed", err)
	}
}

// TestSetMediaTimeout: a running session's media timeout can be shortened
// (a caller waiting in a queue), switched on and switched off; the time
// already idle counts. LastPacketAt follows the accepted packets.
func TestSetMediaTimeout(t *testing.T) {
	tests := []struct {
		name      string
		initial   time.Duration
		set       time.Duration
		wantAfter time.Duration // 0: no timeout within a second
	}{
		{"shortened", 10 * time.Second, 150 * time.Millisecond, 150 * time.Millisecond},
		{"switched on", 0, 150 * time.Millisecond, 150 * time.Millisecond},
		{"switched off", 150 * time.Millisecond, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.initial)
			before := h.sess.LastPacketAt()
			h.send(t, h.remote, rtpBytes(t, 0, 1, 160, 0xCAFE, make([]byte, 160)))
			poll.Until(t, "packet accepted", func() bool { return h.sess.Stats().PacketsIn == 1 })
			last := h.sess.LastPacketAt()
			if !last.After(before) || time.Since(last) > time.Second {
				t.Fatalf("LastPacketAt = %v after a packet (before it %v), want the packet's arrival", last, before)
			}
			h.sess.SetMediaTimeout(tt.set)
			select {
			case <-h.sess.TimedOut():
				if tt.wantAfter == 0 {
					t.Fatal("timed out with the media timeout switched off")
				}
				if idle := time.Since(last); idle < tt.wantAfter {
					t.Fatalf("timed out %v after the last packet, want %v", idle, tt.wantAfter)
				}
			case <-time.After(time.Second):
				if tt.wantAfter != 0 {
					t.Fatalf("no timeout a second after the last packet with a timeout of %v", tt.set)
				}
			}
		})
	}
}
