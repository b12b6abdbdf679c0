package media

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// jitterSamples reads hotline_media_relay_jitter_seconds: count and sum.
func jitterSamples(t *testing.T, m *Metrics) (uint64, float64) {
	t.Helper()
	var out dto.Metric
	if err := m.relayJitter.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount(), out.GetHistogram().GetSampleSum()
}

// Added jitter (the bridged benchmark) is the change in relay latency
// from one packet of a leg to the next (RFC 3550 D(i-1,i)), not the latency:
// a steady delay adds none, a delay that jumps adds the jump, and a packet
// after a pause starts a new run.
func TestRelayJitter(t *testing.T) {
	m := NewMetrics(nil)
	l := &leg{b: &Bridge{m: m}}
	now := time.Now()
	// Three packets 5 ms apart, each relayed 3 ms after it arrived: the
	// latency is the same every time (relayed "now", arrivals moved back).
	for i := range 3 {
		time.Sleep(5 * time.Millisecond)
		l.account(relaySent, time.Now().Add(-3*time.Millisecond-time.Duration(2-i)*time.Microsecond), time.Now())
	}
	n, sum := jitterSamples(t, m)
	if n != 2 || sum > 0.002 {
		t.Fatalf("steady delay: %d samples summing %.4f s; want 2 of about 0", n, sum)
	}
	// The next packet arrived 1 ms after the last but waited 12 ms: the
	// delay jumped by about 9 ms.
	at := l.lastAt.Add(time.Millisecond)
	for time.Since(at) < 12*time.Millisecond {
		time.Sleep(time.Millisecond)
	}
	l.account(relaySent, at, time.Now())
	n, sum2 := jitterSamples(t, m)
	if d := sum2 - sum; n != 3 || d < 0.008 || d > 0.030 {
		t.Fatalf("jump: %d samples, last %.4f s; want a third of about 9 ms", n, d)
	}
	// A packet after a pause longer than jitterGap gives no sample.
	l.lastAt = now.Add(-time.Second)
	l.account(relaySent, time.Now(), time.Now())
	if n, _ := jitterSamples(t, m); n != 3 {
		t.Fatalf("after a pause: %d samples, want still 3", n)
	}
	// Held or prompt packets are not relayed and give none either.
	l.account(relayHeld, time.Now(), time.Now())
	l.account(relayPrompt, time.Now(), time.Now())
	if n, _ := jitterSamples(t, m); n != 3 {
		t.Fatalf("not relayed: %d samples, want still 3", n)
	}
}
