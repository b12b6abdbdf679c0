package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// The reference vectors in testdata were produced once by testdata/gen.sh with
// `sox -D` (no dither) as the oracle; sox is not needed to run these tests.

func readRef(t *testing.T, name string, size int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read reference %s: %v", name, err)
	}
	if len(b) != size {
		t.Fatalf("reference %s has %d bytes, want %d", name, len(b), size)
	}
	return b
}

func TestEncodeMatchesSoxForAllInputs(t *testing.T) {
	cases := []struct {
		name   string
		file   string
		encode func(int16) byte
	}{
		{"ulaw", "ulaw_encode.bin", UlawEncode},
		{"alaw", "alaw_encode.bin", AlawEncode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := readRef(t, tc.file, 65536)
			bad := 0
			for i, want := range ref {
				x := int16(i - 32768)
				if got := tc.encode(x); got != want {
					if bad < 5 {
						t.Errorf("encode(%d) = %#02x, sox gives %#02x", x, got, want)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("%d of 65536 inputs differ from sox", bad)
			}
		})
	}
}

func TestDecodeMatchesSoxForAllCodes(t *testing.T) {
	cases := []struct {
		name   string
		file   string
		decode func(byte) int16
	}{
		{"ulaw", "ulaw_decode.bin", UlawDecode},
		{"alaw", "alaw_decode.bin", AlawDecode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := readRef(t, tc.file, 512)
			for code := range 256 {
				want := int16(binary.LittleEndian.Uint16(ref[2*code:]))
				if got := tc.decode(byte(code)); got != want {
					t.Errorf("decode(%#02x) = %d, sox gives %d", code, got, want)
				}
			}
		})
	}
}

func TestG711KnownValues(t *testing.T) {
	cases := []struct {
		name string
		got  int
		want int
	}{
		{"ulaw encode 0", int(UlawEncode(0)), 0xFF},
		{"ulaw encode -1", int(UlawEncode(-1)), 0xFF},
		{"ulaw encode max", int(UlawEncode(32767)), 0x80},
		{"ulaw encode min", int(UlawEncode(-32768)), 0x00},
		{"ulaw decode 0x00", int(UlawDecode(0x00)), -32124},
		{"ulaw decode 0x80", int(UlawDecode(0x80)), 32124},
		{"ulaw decode 0xFF", int(UlawDecode(0xFF)), 0},
		{"ulaw decode 0x7F", int(UlawDecode(0x7F)), 0},
		{"alaw encode 0", int(AlawEncode(0)), 0xD5},
		{"alaw encode -1", int(AlawEncode(-1)), 0xD5},
		{"alaw encode -8", int(AlawEncode(-8)), 0x55},
		{"alaw encode max", int(AlawEncode(32767)), 0xAA},
		{"alaw encode min", int(AlawEncode(-32768)), 0x2A},
		{"alaw decode 0xD5", int(AlawDecode(0xD5)), 8},
		{"alaw decode 0x55", int(AlawDecode(0x55)), -8},
		{"alaw decode 0xAA", int(AlawDecode(0xAA)), 32256},
		{"alaw decode 0x2A", int(AlawDecode(0x2A)), -32256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %d (%#x), want %d (%#x)", tc.got, tc.got, tc.want, tc.want)
			}
		})
	}
}

// Decoding a code and encoding the result must give the same code back: every decoded
// value lies inside its own quantisation interval (µ-law 0x7F is negative zero → 0xFF).
func TestG711CodeRoundTrip(t *testing.T) {
	for code := range 256 {
		b := byte(code)
		want := b
		if b == 0x7F {
			want = 0xFF
		}
		if got := UlawEncode(UlawDecode(b)); got != want {
			t.Errorf("ulaw %#02x → %d → %#02x", b, UlawDecode(b), got)
		}
		if got := AlawEncode(AlawDecode(b)); got != b {
			t.Errorf("alaw %#02x → %d → %#02x", b, AlawDecode(b), got)
		}
	}
}

func TestCodecEncodeDecode(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767, -32768}
	cases := []struct {
		name    string
		codec   Codec
		silence byte
		n       int
	}{
		{"PCMU", PCMU, 0xFF, len(pcm)},
		{"PCMA", PCMA, 0xD5, len(pcm)},
		{"lower-case name", Codec{"pcma", 8, 8000}, 0xD5, len(pcm)},
		{"not G.711", Codec{"G729", 18, 8000}, 0xFF, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.codec.SilenceByte(); got != tc.silence {
				t.Fatalf("SilenceByte = %#02x, want %#02x", got, tc.silence)
			}
			prefix := []byte{0xAB}
			enc := tc.codec.Encode(prefix, pcm)
			if len(enc) != 1+tc.n || enc[0] != 0xAB {
				t.Fatalf("Encode appended %d bytes (prefix %#02x), want %d", len(enc)-1, enc[0], tc.n)
			}
			dec := tc.codec.Decode(nil, enc[1:])
			if len(dec) != tc.n {
				t.Fatalf("Decode gave %d samples, want %d", len(dec), tc.n)
			}
			if tc.n > 0 && dec[0] != tc.codec.Decode(nil, []byte{tc.silence})[0] {
				t.Fatalf("zero sample decodes to %d, silence decodes differently", dec[0])
			}
		})
	}
}

func BenchmarkUlawEncodeFrame(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	buf := make([]byte, 0, 160)
	for b.Loop() {
		buf = PCMU.Encode(buf[:0], pcm)
	}
}
