package siptest

import (
	"math"
	"math/cmplx"
	"time"
)

const sampleRate = 8000

// SilenceRMS is the RMS below which a 20 ms frame counts as silence in
// WaitAudio and NonSilentDuration. G.711 silence decodes to 0 (µ-law) or ±8
// (A-law); speech prompts sit in the thousands, so 100 (-50 dBFS) separates them.
const SilenceRMS = 100

// Thresholds for Similarity (see TestSimilarity): the same broadband audio after
// a G.711 round trip, embedded at any offset or cut short, scores above 0.95
// (µ-law/A-law quantisation costs about 0.01); unrelated audio or a tone scores
// below 0.2; silence scores 0. The margins leave room for real prompts, whose
// words share some spectrum.
const (
	// SameAudio is the Similarity above which received audio is the reference.
	SameAudio = 0.9
	// DifferentAudio is the Similarity below which it is clearly something else.
	DifferentAudio = 0.5
)

// RMS is the root mean square of pcm (0 for empty input).
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// NonSilent reports whether pcm's RMS exceeds threshold (SilenceRMS is a good one).
func NonSilent(pcm []int16, threshold float64) bool {
	return RMS(pcm) > threshold
}

// Goertzel is the share of pcm's power at freq (Hz), from 0 to 1: about 1 for
// a pure tone at freq, about 0 when the tone is absent. It evaluates the
// spectrum exactly at freq (generalised Goertzel), so freq need not fall on an
// FFT bin. For DTMF or a test tone, > 0.5 means present, < 0.05 absent.
func Goertzel(pcm []int16, sampleRate, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / sampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, v := range pcm {
		x := float64(v)
		s1, s2 = x+coeff*s1-s2, s1
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return power / (float64(len(pcm)) / 2 * energy)
}

// Tone is d of a sine at freq Hz with the given peak amplitude, 8 kHz.
func Tone(freq float64, d time.Duration, amplitude float64) []int16 {
	n := int(d * sampleRate / time.Second)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * math.Sin(2*math.Pi*freq*float64(i)/sampleRate))
	}
	return out
}

// Similarity is the peak normalised cross-correlation between received and
// reference over every lag at which the shorter lies inside the longer: 1 when
// one contains an exact (scaled) copy of the other, near 0 for unrelated audio,
// 0 when either is silent. It says whether received IS the expected prompt (or
// a cut-short part of it), not just non-silence; see SameAudio and
// DifferentAudio. Use speech, not a pure tone, as reference: two sines of one
// frequency correlate whatever they belong to.
func Similarity(received, reference []int16) float64 {
	long, short := received, reference
	if len(short) > len(long) {
		long, short = short, long
	}
	if len(short) == 0 {
		return 0
	}
	shortEnergy := energy(short)
	if shortEnergy == 0 {
		return 0
	}
	corr := crossCorrelate(long, short)
	prefix := make([]float64, len(long)+1)
	for i, v := range long {
		prefix[i+1] = prefix[i] + float64(v)*float64(v)
	}
	best := 0.0
	for lag := 0; lag+len(short) <= len(long); lag++ {
		e := prefix[lag+len(short)] - prefix[lag]
		if e <= 0 {
			continue
		}
		best = max(best, corr[lag]/math.Sqrt(e*shortEnergy))
	}
	return min(best, 1)
}

func energy(pcm []int16) float64 {
	var e float64
	for _, v := range pcm {
		e += float64(v) * float64(v)
	}
	return e
}

// crossCorrelate returns c[lag] = Σ long[lag+i]·short[i] for lag 0..len(long)-1,
// computed with FFTs (O(n log n); prompts are tens of thousands of samples).
func crossCorrelate(long, short []int16) []float64 {
	n := 1
	for n < len(long)+len(short) {
		n <<= 1
	}
	a := make([]complex128, n)
	b := make([]complex128, n)
	for i, v := range long {
		a[i] = complex(float64(v), 0)
	}
	for i, v := range short {
		b[i] = complex(float64(v), 0)
	}
	fft(a, false)
	fft(b, false)
	for i := range a {
		a[i] *= cmplx.Conj(b[i])
	}
	fft(a, true)
	out := make([]float64, len(long))
	for i := range out {
		out[i] = real(a[i]) / float64(n)
	}
	return out
}

// fft is an in-place iterative radix-2 FFT; len(x) must be a power of two.
// inverse computes the unscaled inverse transform.
func fft(x []complex128, inverse bool) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Rect(1, sign*2*math.Pi/float64(size))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				u, v := x[start+k], x[start+k+size/2]*w
				x[start+k], x[start+k+size/2] = u+v, u-v
				w *= step
			}
		}
	}
}
