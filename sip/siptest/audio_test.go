package siptest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// speechLike is seeded noise shaped by a slow envelope: broadband like speech,
// so it correlates only with itself.
func speechLike(seed uint64, n int) []int16 {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]int16, n)
	for i := range out {
		env := 0.5 + 0.5*math.Sin(2*math.Pi*3*float64(i)/sampleRate)
		out[i] = int16(env * 6000 * r.NormFloat64() / 2)
	}
	return out
}

// g711 round-trips pcm through codec, as audio received over RTP is.
func g711(c media.Codec, pcm []int16) []int16 {
	return c.Decode(nil, c.Encode(nil, pcm))
}

func TestSimilarity(t *testing.T) {
	prompt := speechLike(1, 8000)
	embedded := append(append(make([]int16, 3210), g711(media.PCMA, prompt)...), speechLike(2, 4000)...)
	cases := []struct {
		name     string
		received []int16
		min, max float64
	}{
		{name: "same audio after pcmu", received: g711(media.PCMU, prompt), min: SameAudio, max: 1},
		{name: "prompt inside silence and other audio", received: embedded, min: SameAudio, max: 1},
		{name: "first half only (barge-in)", received: g711(media.PCMU, prompt[:4000]), min: SameAudio, max: 1},
		{name: "louder copy", received: scale(prompt, 1.8), min: SameAudio, max: 1},
		{name: "other audio", received: speechLike(3, 16000), min: 0, max: DifferentAudio},
		{name: "tone", received: Tone(440, 2*time.Second, 8000), min: 0, max: DifferentAudio},
		{name: "silence", received: make([]int16, 16000), min: 0, max: 0},
		{name: "nothing", received: nil, min: 0, max: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Similarity(tc.received, prompt)
			if got < tc.min || got > tc.max {
				t.Errorf("Similarity = %.3f, want in [%.2f, %.2f]", got, tc.min, tc.max)
			}
		})
	}
}

func scale(pcm []int16, f float64) []int16 {
	out := make([]int16, len(pcm))
	for i, v := range pcm {
		out[i] = int16(max(-32768, min(32767, float64(v)*f)))
	}
	return out
}

func TestGoertzel(t *testing.T) {
	cases := []struct {
		name     string
		pcm      []int16
		freq     float64
		min, max float64
	}{
		{name: "tone present", pcm: Tone(1000, 200*time.Millisecond, 8000), freq: 1000, min: 0.9, max: 1.01},
		{name: "off-bin dtmf tone", pcm: Tone(697, 100*time.Millisecond, 4000), freq: 697, min: 0.9, max: 1.01},
		{name: "other tone", pcm: Tone(1000, 200*time.Millisecond, 8000), freq: 1500, min: 0, max: 0.05},
		{name: "noise", pcm: speechLike(4, 1600), freq: 1000, min: 0, max: 0.05},
		{name: "silence", pcm: make([]int16, 160), freq: 1000, min: 0, max: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Goertzel(tc.pcm, sampleRate, tc.freq)
			if got < tc.min || got > tc.max {
				t.Errorf("Goertzel = %.4f, want in [%.2f, %.2f]", got, tc.min, tc.max)
			}
		})
	}
}

func TestRMS(t *testing.T) {
	cases := []struct {
		name string
		pcm  []int16
		want float64
	}{
		{name: "empty", pcm: nil, want: 0},
		{name: "constant", pcm: []int16{-300, 300, -300, 300}, want: 300},
		{name: "sine", pcm: Tone(1000, time.Second, 1000), want: 1000 / math.Sqrt2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RMS(tc.pcm); math.Abs(got-tc.want) > 1 {
				t.Errorf("RMS = %.2f, want %.2f", got, tc.want)
			}
			if NonSilent(tc.pcm, SilenceRMS) != (tc.want > SilenceRMS) {
				t.Errorf("NonSilent disagrees with RMS %.2f", tc.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 100, 6, 7, 8, 9}
	cases := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{name: "p50", q: 0.5, want: 5},
		{name: "p99", q: 0.99, want: 100},
		{name: "p0", q: 0, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(ds, tc.q); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}
