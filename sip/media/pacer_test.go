package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// received is one packet as the remote party saw it.
type received struct {
	pkt rtp.Packet
	at  time.Time
}

// receive reads RTP packets until none arrives for quiet.
func receive(t *testing.T, c *net.UDPConn, quiet time.Duration) []received {
	t.Helper()
	var out []received
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		var r received
		r.at = time.Now()
		if err := r.pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatalf("remote got a packet that is not RTP: %v", err)
		}
		out = append(out, r)
	}
}

// receiveN reads exactly n RTP packets or fails after timeout.
func receiveN(t *testing.T, c *net.UDPConn, n int, timeout time.Duration) []received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out []received
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d packets, want %d", len(out), n)
		}
		out = append(out, receive1(t, c, deadline)...)
	}
	return out
}

func receive1(t *testing.T, c *net.UDPConn, deadline time.Time) []received {
	t.Helper()
	c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	r := received{at: time.Now()}
	if err := r.pkt.Unmarshal(buf[:n]); err != nil {
		t.Fatalf("remote got a packet that is not RTP: %v", err)
	}
	return []received{r}
}

func TestPlayOnTheWire(t *testing.T) {
	for _, codec := range []Codec{PCMU, PCMA} {
		t.Run(codec.Name, func(t *testing.T) {
			h := newHarness(t, 0)
			h.neg.Codec = codec
			h.sess.Update(h.neg)
			pcm := tone(25*160 - 40) // 25 frames, the last one padded
			prompt := NewPrompt("greeting", pcm)
			played := make(chan error, 1)
			start := time.Now()
			go func() {
				d, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{})
				if err == nil && d != 0 {
					err = fmt.Errorf("digit %q", d)
				}
				played <- err
			}()
			// Quiet for 300 ms ends the reading: longer than any pause of a
			// loaded machine's pacer, shorter than Play's own end.
			got := receive(t, h.remote, 300*time.Millisecond)
			if err := <-played; err != nil {
				t.Fatalf("Play = %v; want 0, nil", err)
			}
			if len(got) != 25 {
				t.Fatalf("received %d packets, want 25", len(got))
			}
			if took := got[len(got)-1].at.Sub(start); took < 460*time.Millisecond || took > 700*time.Millisecond {
				t.Fatalf("playing 25 frames took %v, want about 500 ms", took)
			}
			checkHeaders(t, got, codec)
			checkAudio(t, got, codec, pcm)
			checkIntervals(t, got)
			if st := h.sess.Stats(); st.PacketsOut != 25 {
				t.Fatalf("Stats.PacketsOut = %d, want 25", st.PacketsOut)
			}
			if got := metricValue(t, h.reg, "hotline_media_packets_sent_total", ""); got != 25 {
				t.Fatalf("packets_sent_total = %v, want 25", got)
			}
			if got := metricValue(t, h.reg, "hotline_media_send_lateness_seconds", ""); got != 25 {
				t.Fatalf("send_lateness_seconds has %v samples, want 25", got)
			}
			poll.Until(t, "stream unregistered", func() bool {
				return metricValue(t, h.reg, "hotline_media_active_streams", "") == 0
			})
		})
	}
}

// checkHeaders checks RFC 3550 section 5.1 sequencing of one talkspurt.
func checkHeaders(t *testing.T, got []received, codec Codec) {
	t.Helper()
	first := got[0].pkt.Header
	for i, r := range got {
		p := r.pkt.Header
		switch {
		case p.PayloadType != codec.PayloadType:
			t.Fatalf("packet %d: payload type %d, want %d", i, p.PayloadType, codec.PayloadType)
		case p.SSRC != first.SSRC:
			t.Fatalf("packet %d: SSRC changed", i)
		case p.SequenceNumber != first.SequenceNumber+uint16(i):
			t.Fatalf("packet %d: seq %d, want %d", i, p.SequenceNumber, first.SequenceNumber+uint16(i))
		case p.Timestamp != first.Timestamp+uint32(160*i):
			t.Fatalf("packet %d: timestamp %d, want %d", i, p.Timestamp, first.Timestamp+uint32(160*i))
		case p.Marker != (i == 0):
			t.Fatalf("packet %d: marker %v, want it on the first packet only", i, p.Marker)
		}
	}
}

// checkAudio compares the payloads with the prompt: the decoded audio must be
// the prompt's, and the padding the codec's silence.
func checkAudio(t *testing.T, got []received, codec Codec, pcm []int16) {
	t.Helper()
	var payload []byte
	for i, r := range got {
		if len(r.pkt.Payload) != 160 {
			t.Fatalf("packet %d: %d payload bytes, want 160", i, len(r.pkt.Payload))
		}
		payload = append(payload, r.pkt.Payload...)
	}
	decoded := codec.Decode(nil, payload)
	for i, s := range pcm {
		if diff := int(decoded[i]) - int(s); diff > 300 || diff < -300 {
			t.Fatalf("sample %d decodes to %d, the prompt has %d", i, decoded[i], s)
		}
	}
	if pad := payload[len(pcm):]; !bytes.Equal(pad, bytes.Repeat([]byte{codec.SilenceByte()}, len(pad))) {
		t.Fatal("last frame is not padded with the codec's silence byte")
	}
}

// checkIntervals checks the arrival times follow the 20 ms grid.
func checkIntervals(t *testing.T, got []received) {
	t.Helper()
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i].at.Sub(got[i-1].at))
	}
	slices.Sort(gaps)
	if med := gaps[len(gaps)/2]; med < 17*time.Millisecond || med > 23*time.Millisecond {
		t.Fatalf("median inter-arrival %v, want 20 ms (all: %v)", med, gaps)
	}
	span := got[len(got)-1].at.Sub(got[0].at)
	if want := time.Duration(len(got)-1) * 20 * time.Millisecond; span < want-10*time.Millisecond || span > want+30*time.Millisecond {
		t.Fatalf("packets spread over %v, want about %v", span, want)
	}
}

func TestTimestampsContinueAcrossPrompts(t *testing.T) {
	h := newHarness(t, 0)
	prompt := NewPrompt("beep", tone(3*160))
	for range 2 {
		if _, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{}); err != nil {
			t.Fatalf("Play: %v", err)
		}
	}
	time.Sleep(70 * time.Millisecond) // silence between two talkspurts
	if _, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{}); err != nil {
		t.Fatalf("Play: %v", err)
	}
	got := receive(t, h.remote, 100*time.Millisecond)
	if len(got) != 9 {
		t.Fatalf("received %d packets, want 9", len(got))
	}
	for i := 1; i < len(got); i++ {
		prev, p := got[i-1].pkt.Header, got[i].pkt.Header
		step := p.Timestamp - prev.Timestamp
		switch {
		case p.SSRC != prev.SSRC || p.SequenceNumber != prev.SequenceNumber+1:
			t.Fatalf("packet %d: SSRC or sequence broken across prompts", i)
		case step == 0 || step%160 != 0:
			t.Fatalf("packet %d: timestamp step %d, want a whole number of frames", i, step)
		case p.Marker != (i%3 == 0):
			t.Fatalf("packet %d: marker %v, want it on the first packet of each Play", i, p.Marker)
		case i == 6 && step < 4*160:
			t.Fatalf("timestamp advanced %d over a 70 ms pause, want at least 640", step)
		}
	}
}

func TestHoldSendsNothing(t *testing.T) {
	h := newHarness(t, 0)
	held := h.neg
	held.Direction = RecvOnly
	h.sess.Update(held)
	prompt := NewPrompt("music", tone(10*160))
	start := time.Now()
	if _, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{}); err != nil {
		t.Fatalf("Play on hold: %v", err)
	}
	if took := time.Since(start); took < 180*time.Millisecond {
		t.Fatalf("Play on hold took %v, want the prompt's 200 ms", took)
	}
	if got := receive(t, h.remote, 60*time.Millisecond); len(got) != 0 {
		t.Fatalf("received %d packets while on hold, want 0", len(got))
	}
	h.sess.Update(h.neg)
	if _, err := h.sess.Play(context.Background(), []*Prompt{prompt}, PlayOptions{}); err != nil {
		t.Fatalf("Play after hold: %v", err)
	}
	got := receive(t, h.remote, 60*time.Millisecond)
	if len(got) != 10 || !got[0].pkt.Marker {
		t.Fatalf("after hold got %d packets (first marker %v), want 10 with a marker", len(got), len(got) > 0 && got[0].pkt.Marker)
	}
}

func TestStreamCursor(t *testing.T) {
	a, empty, b := NewPrompt("a", tone(2*160)), NewPrompt("empty", nil), NewPrompt("b", tone(160))
	tests := []struct {
		name    string
		prompts []*Prompt
		loop    bool
		want    []string // prompt name and frame per tick; "." marks the last
	}{
		{"once", []*Prompt{a, empty, b}, false, []string{"a0", "a1", "b0."}},
		{"loop", []*Prompt{empty, a, b}, true, []string{"a0", "a1", "b0", "a0", "a1", "b0", "a0"}},
		{"nothing to play", []*Prompt{empty}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStream(nil, tt.prompts, tt.loop)
			if tt.want == nil {
				if st != nil {
					t.Fatal("newStream returned a stream for prompts without audio")
				}
				return
			}
			for i, want := range tt.want {
				name := st.prompts[st.pi].Name + string(rune('0'+st.fi))
				_, last := st.next(PCMU)
				if last {
					name += "."
				}
				if name != want {
					t.Fatalf("tick %d played %s, want %s", i, name, want)
				}
			}
		})
	}
}

// scriptedClock returns the given tick counts, then stops.
type scriptedClock struct{ n []int64 }

func (c *scriptedClock) wait() (int64, bool) {
	if len(c.n) == 0 {
		return 0, false
	}
	n := c.n[0]
	c.n = c.n[1:]
	return n, true
}

// A worker that wakes whole frames late skips them (counted), never bursts
// them; one that keeps up skips nothing.
func TestPacerWorkerSkipsMissedFrames(t *testing.T) {
	tests := []struct {
		name  string
		waits []int64
		skip  float64
	}{
		{"on time", []int64{1, 1, 1, 1}, 0},
		{"half a frame late", []int64{1, 5, 1}, 0},
		{"two and a half frames late", []int64{1, 25, 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newClock = func(context.Context, time.Time, time.Duration) gridClock {
				return &scriptedClock{n: slices.Clone(tt.waits)}
			}
			defer func() { newClock = newGridClock }()
			m := NewMetrics(nil)
			sh := &shard{m: m}
			sh.run(context.Background(), time.Now())
			if got := testutil.ToFloat64(m.skippedTicks); got != tt.skip {
				t.Errorf("skipped %v frames, want %v", got, tt.skip)
			}
			if !sh.stopped {
				t.Error("worker returned without shutting its shard down")
			}
		})
	}
}

func TestPacerLifecycle(t *testing.T) {
	p := NewPacer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(10 * time.Millisecond)
	if err := p.Run(ctx); err == nil {
		t.Fatal("second Run succeeded, want an error")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after ctx is done", err)
	}
	s := NewSession(SessionConfig{Conn: listenLoopback(t), Pacer: p,
		Negotiated: Negotiated{Codec: PCMU, Direction: SendRecv}})
	defer s.Close()
	_, err := s.Play(context.Background(), []*Prompt{NewPrompt("p", tone(160))}, PlayOptions{})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Play after the pacer stopped: err = %v, want ErrClosed", err)
	}
}
