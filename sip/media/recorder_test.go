package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readWAV parses a recording back, checking every header field, and returns
// its two channels.
func readWAV(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < wavHeaderSize {
		t.Fatalf("recording is %d bytes, shorter than a WAV header", len(b))
	}
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	le16 := func(off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF tag", string(b[0:4]), "RIFF"},
		{"RIFF size", le32(4), uint32(len(b) - 8)},
		{"WAVE tag", string(b[8:16]), "WAVEfmt "},
		{"fmt size", le32(16), uint32(16)},
		{"format PCM", le16(20), uint16(1)},
		{"channels", le16(22), uint16(2)},
		{"sample rate", le32(24), uint32(8000)},
		{"byte rate", le32(28), uint32(32000)},
		{"block align", le16(32), uint16(4)},
		{"bits", le16(34), uint16(16)},
		{"data tag", string(b[36:40]), "data"},
		{"data size", le32(40), uint32(len(b) - wavHeaderSize)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Fatalf("WAV %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for off := wavHeaderSize; off+4 <= len(b); off += 4 {
		left = append(left, int16(le16(off)))
		right = append(right, int16(le16(off+2)))
	}
	return left, right
}

// frame is one 20 ms packet for the recorder: channel, RTP timestamp,
// arrival offset from the recording's start.
type frame struct {
	ch      int
	ts      uint32
	arrival time.Duration
}

func TestRecorderPlacement(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		frames []frame
		// want: per channel, the sample offsets where each frame's first
		// sample must be found (-1: frame not in the file).
		want []int
	}{
		{"contiguous from the start", []frame{{0, 0, 0}, {0, 160, 20 * ms}, {0, 320, 40 * ms}}, []int{0, 160, 320}},
		{"jitter does not move samples", []frame{{0, 0, 0}, {0, 160, 35 * ms}, {0, 320, 41 * ms}, {0, 480, 55 * ms}},
			[]int{0, 160, 320, 480}},
		{"loss leaves a silent gap", []frame{{0, 0, 0}, {0, 800, 100 * ms}}, []int{0, 800}},
		{"late start placed by arrival", []frame{{1, 5000, 500 * ms}, {1, 5160, 520 * ms}}, []int{4000, 4160}},
		{"new stream re-anchors", []frame{{0, 0, 0}, {0, 900000, 20 * ms}}, []int{0, 160}},
		{"both channels on one clock", []frame{{0, 0, 0}, {1, 777, 0}, {0, 160, 20 * ms}, {1, 937, 20 * ms}},
			[]int{0, 0, 160, 160}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := NewRecorder(filepath.Join(t.TempDir(), "r.wav"))
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range tt.frames {
				rec.write(f.ch, 0xABC, f.ts, constFrame(int16(1000+i)), rec.start.Add(f.arrival))
			}
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			chans := [2][]int16{}
			chans[0], chans[1] = readWAV(t, rec.Path())
			prev := [2]int16{}
			for i, f := range tt.frames {
				at, ch := tt.want[i], chans[f.ch]
				if at+frameSamples > len(ch) || ch[at] != int16(1000+i) || ch[at+frameSamples-1] != int16(1000+i) {
					t.Fatalf("frame %d not at sample %d of channel %d", i, at, f.ch)
				}
				if at > 0 && ch[at-1] != 0 && ch[at-1] != prev[f.ch] {
					t.Fatalf("frame %d: sample before it is %d, want silence or the channel's previous frame", i, ch[at-1])
				}
				prev[f.ch] = int16(1000 + i)
			}
		})
	}
}

func constFrame(v int16) []int16 {
	pcm := make([]int16, frameSamples)
	for i := range pcm {
		pcm[i] = v
	}
	return pcm
}

func TestRecorderLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "life.wav")
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Path() != path {
		t.Fatalf("Path = %q, want %q", rec.Path(), path)
	}
	for i := range 10 {
		rec.write(0, 1, uint32(i*frameSamples), constFrame(100), time.Now())
		time.Sleep(frameDuration)
	}
	time.Sleep(recFlushEvery + recLag*time.Second/recRate) // the writer flushes settled audio while running
	if d := rec.Duration(); d < 200*time.Millisecond {
		t.Fatalf("Duration while recording = %v, want the settled part written already", d)
	}
	// A packet older than what is written is dropped, not written back.
	rec.write(1, 2, 0, constFrame(5), rec.start)
	if rec.Dropped() != frameSamples {
		t.Fatalf("Dropped = %d, want %d", rec.Dropped(), frameSamples)
	}
	took := time.Since(rec.start)
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rec.write(0, 1, 99999, constFrame(7), time.Now()) // ignored after Close
	left, right := readWAV(t, path)
	if d := rec.Duration(); d < took-time.Millisecond || d > took+50*time.Millisecond || len(left) != int(d/(time.Second/8000)) {
		t.Fatalf("Duration %v for %d samples, recording ran %v", d, len(left), took)
	}
	for i, v := range right {
		if v != 0 {
			t.Fatalf("right channel sample %d = %d, want silence (dropped late packet)", i, v)
		}
	}
}

func TestNewRecorderBadPath(t *testing.T) {
	if _, err := NewRecorder(filepath.Join(t.TempDir(), "missing", "r.wav")); err == nil {
		t.Fatal("NewRecorder in a missing folder: want an error")
	}
}
