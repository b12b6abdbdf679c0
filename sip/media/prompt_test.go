package media

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// tone returns n samples of a 400 Hz sine at 8 kHz: audio that is clearly not
// silence.
func tone(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*400*float64(i)/8000))
	}
	return pcm
}

func TestNewPrompt(t *testing.T) {
	tests := []struct {
		name    string
		samples int
		frames  int
	}{
		{"empty", 0, 0},
		{"one sample", 1, 1},
		{"one frame", 160, 1},
		{"frame and a bit", 161, 2},
		{"one second", 8000, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := tone(tt.samples)
			p := NewPrompt(tt.name, pcm)
			if p.Frames() != tt.frames {
				t.Fatalf("Frames = %d, want %d", p.Frames(), tt.frames)
			}
			if want := time.Duration(tt.frames) * 20 * time.Millisecond; p.Duration() != want {
				t.Fatalf("Duration = %v, want %v", p.Duration(), want)
			}
			for _, c := range []Codec{PCMU, PCMA} {
				checkEncoding(t, p, c, pcm)
			}
		})
	}
}

// checkEncoding compares every frame with the codec's own encoding of pcm,
// padded with the codec's silence byte.
func checkEncoding(t *testing.T, p *Prompt, c Codec, pcm []int16) {
	t.Helper()
	want := c.Encode(nil, pcm)
	for len(want) < p.Frames()*160 {
		want = append(want, c.SilenceByte())
	}
	var got []byte
	for i := range p.Frames() {
		f := p.frame(c, i)
		if len(f) != 160 {
			t.Fatalf("%s frame %d has %d bytes, want 160", c.Name, i, len(f))
		}
		got = append(got, f...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s frames differ from the encoded prompt", c.Name)
	}
}

func TestPromptFrameDoesNotEncode(t *testing.T) {
	p := NewPrompt("tone", tone(800))
	first := p.frame(PCMA, 2)
	if again := p.frame(PCMA, 2); &again[0] != &first[0] {
		t.Fatal("frame returned a new buffer: prompts must be encoded once")
	}
	allocs := testing.AllocsPerRun(100, func() { _ = p.frame(PCMU, 3) })
	if allocs != 0 {
		t.Fatalf("frame allocates %.0f times, want 0", allocs)
	}
	if f := p.frame(Codec{Name: "G729", PayloadType: 18, ClockRate: 8000}, 0); f != nil {
		t.Fatal("frame for a codec without an encoding must be nil")
	}
	if f := p.frame(Codec{Name: "pcmu", PayloadType: 0, ClockRate: 8000}, 0); len(f) != 160 {
		t.Fatal("codec names are case-insensitive (RFC 4566 section 6)")
	}
}
