package ivr

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLanguages(t *testing.T) {
	if got := Languages(); !slices.Equal(got, []string{"en", "zh-CN"}) {
		t.Errorf("Languages() = %v, want [en zh-CN]", got)
	}
	if _, err := Prompts("fr"); err == nil || !strings.Contains(err.Error(), "zh-CN") {
		t.Errorf("Prompts(fr) error = %v, want one listing the languages", err)
	}
}

// Every prompt the flow can play exists in every language, is audible and is
// not too long; every embedded file is used.
func TestPromptsComplete(t *testing.T) {
	for _, lang := range Languages() {
		t.Run(lang, func(t *testing.T) {
			lib, err := Prompts(lang)
			if err != nil {
				t.Fatalf("Prompts(%s): %v", lang, err)
			}
			used := map[string]bool{}
			for _, n := range PromptNames() {
				used[n] = true
			}
			for n := range 100_001 {
				for _, p := range SayNumber(lang, n) {
					used[p] = true
				}
			}
			for _, p := range queueAnnouncement(lang, 2, 2*time.Minute) {
				used[p] = true
			}
			for name := range used {
				pcm, ok := lib[name]
				switch {
				case !ok:
					t.Errorf("prompt %s/%s missing", lang, name)
				case len(pcm) > 20*8000:
					t.Errorf("prompt %s/%s lasts %d ms, want under 20 s", lang, name, len(pcm)/8)
				case peak(pcm) < 3000:
					t.Errorf("prompt %s/%s peaks at %d: silent?", lang, name, peak(pcm))
				}
			}
			for name := range lib {
				if !used[name] {
					t.Errorf("prompt %s/%s is embedded but never played", lang, name)
				}
			}
		})
	}
}

func peak(pcm []int16) int {
	m := 0
	for _, s := range pcm {
		m = max(m, abs(int(s)))
	}
	return m
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// wav builds a WAV file; chunks are appended after RIFF/WAVE as given.
func wav(chunks ...[]byte) []byte {
	var body []byte
	body = append(body, "WAVE"...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func chunk(id string, body []byte) []byte {
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func fmtChunk(format, channels uint16, rate uint32, bits uint16) []byte {
	b := binary.LittleEndian.AppendUint16(nil, format)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels*bits/8))
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	return chunk("fmt ", b)
}

func TestDecodeWAV(t *testing.T) {
	good := fmtChunk(1, 1, 8000, 16)
	samples := chunk("data", []byte{0x01, 0x00, 0xff, 0x7f, 0x00, 0x80})
	tests := []struct {
		name    string
		data    []byte
		want    []int16
		wantErr string
	}{
		{name: "pcm 16-bit mono 8 kHz", data: wav(good, samples), want: []int16{1, 32767, -32768}},
		{name: "odd LIST chunk before data", data: wav(good, chunk("LIST", []byte("abc")), samples),
			want: []int16{1, 32767, -32768}},
		{name: "not riff", data: []byte("RIFX\x00\x00\x00\x00WAVE"), wantErr: "not a RIFF WAVE"},
		{name: "too short", data: []byte("RIFF"), wantErr: "not a RIFF WAVE"},
		{name: "stereo", data: wav(fmtChunk(1, 2, 8000, 16), samples), wantErr: "2 channel(s)"},
		{name: "16 kHz", data: wav(fmtChunk(1, 1, 16000, 16), samples), wantErr: "16000 Hz"},
		{name: "8-bit", data: wav(fmtChunk(1, 1, 8000, 8), samples), wantErr: "8-bit"},
		{name: "float", data: wav(fmtChunk(3, 1, 8000, 32), samples), wantErr: "format 3"},
		{name: "mu-law", data: wav(fmtChunk(7, 1, 8000, 8), samples), wantErr: "format 7"},
		{name: "short fmt", data: wav(chunk("fmt ", []byte{1, 0}), samples), wantErr: "fmt chunk of 2 bytes"},
		{name: "data before fmt", data: wav(samples, good), wantErr: "before fmt"},
		{name: "no data", data: wav(good), wantErr: "no data chunk"},
		{name: "odd data", data: wav(good, chunk("data", []byte{1, 2, 3})), wantErr: "not whole 16-bit"},
		{name: "empty data", data: wav(good, chunk("data", nil)), wantErr: "no samples"},
		{name: "truncated data", data: wav(good, samples)[:48], wantErr: "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeWAV(tt.data)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadWAV) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrBadWAV containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("DecodeWAV = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wav(fmtChunk(1, 1, 8000, 16), chunk("data", []byte{1, 0})))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := DecodeWAV(data)
		if err == nil && len(pcm) == 0 {
			t.Errorf("no error and no samples")
		}
		if err != nil && !errors.Is(err, ErrBadWAV) {
			t.Errorf("error %v does not wrap ErrBadWAV", err)
		}
	})
}
