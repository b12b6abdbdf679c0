// Package media implements the audio side of a call: G.711 codecs, SDP offer/answer,
// RFC 4733 telephone events, RTP validation and the per-call media session.
package media

import (
	"slices"
	"strings"
)

// Codec identifies an RTP audio format by its encoding name, payload type and clock rate.
type Codec struct {
	Name        string
	PayloadType uint8
	ClockRate   uint32
}

// PCMU and PCMA are the two G.711 codecs with their static payload types (RFC 3551 §6).
var (
	PCMU = Codec{"PCMU", 0, 8000}
	PCMA = Codec{"PCMA", 8, 8000}
)

// Silence bytes: the code each law gives for a zero sample.
const (
	ulawSilence = 0xFF
	alawSilence = 0xD5
)

// Lookup tables, built once at package initialisation and never written afterwards.
var (
	ulawEncodeTable [65536]byte
	alawEncodeTable [65536]byte
	ulawDecodeTable [256]int16
	alawDecodeTable [256]int16
)

func init() {
	for i := range 65536 {
		x := int16(i - 32768)
		ulawEncodeTable[uint16(x)] = ulawEncodeSample(x)
		alawEncodeTable[uint16(x)] = alawEncodeSample(x)
	}
	for i := range 256 {
		ulawDecodeTable[i] = ulawDecodeSample(byte(i))
		alawDecodeTable[i] = alawDecodeSample(byte(i))
	}
}

// UlawEncode converts one 16-bit linear sample to a G.711 µ-law code.
func UlawEncode(x int16) byte { return ulawEncodeTable[uint16(x)] }

// UlawDecode converts one G.711 µ-law code to a 16-bit linear sample.
func UlawDecode(b byte) int16 { return ulawDecodeTable[b] }

// AlawEncode converts one 16-bit linear sample to a G.711 A-law code.
func AlawEncode(x int16) byte { return alawEncodeTable[uint16(x)] }

// AlawDecode converts one G.711 A-law code to a 16-bit linear sample.
func AlawDecode(b byte) int16 { return alawDecodeTable[b] }

// isAlaw reports whether c is PCMA; every other codec is handled as PCMU or not at all.
func (c Codec) isAlaw() bool { return strings.EqualFold(c.Name, PCMA.Name) }

// isUlaw reports whether c is PCMU.
func (c Codec) isUlaw() bool { return strings.EqualFold(c.Name, PCMU.Name) }

// Encode appends the G.711 encoding of pcm to dst and returns the extended slice.
// Codecs other than PCMU and PCMA append nothing: only G.711 is implemented here.
func (c Codec) Encode(dst []byte, pcm []int16) []byte {
	var table *[65536]byte
	switch {
	case c.isUlaw():
		table = &ulawEncodeTable
	case c.isAlaw():
		table = &alawEncodeTable
	default:
		return dst
	}
	for _, x := range pcm {
		dst = append(dst, table[uint16(x)])
	}
	return dst
}

// Decode appends the linear samples of a G.711 payload to dst and returns the extended
// slice. Codecs other than PCMU and PCMA append nothing.
func (c Codec) Decode(dst []int16, payload []byte) []int16 {
	var table *[256]int16
	switch {
	case c.isUlaw():
		table = &ulawDecodeTable
	case c.isAlaw():
		table = &alawDecodeTable
	default:
		return dst
	}
	// Grown once and indexed, not appended to per sample: this runs for
	// every recorded or transcoded packet of every bridge.
	n := len(dst)
	dst = slices.Grow(dst, len(payload))[:n+len(payload)]
	out := dst[n:]
	for i, b := range payload {
		out[i] = table[b]
	}
	return dst
}

// SilenceByte returns the code for a zero sample: 0xD5 for PCMA, 0xFF otherwise (µ-law).
func (c Codec) SilenceByte() byte {
	if c.isAlaw() {
		return alawSilence
	}
	return ulawSilence
}

// The encoders below follow Sun Microsystems' public-domain g711.c (ITU-T G.711).
// Input is first rounded to 14 bits (µ-law) or 13 bits (A-law), half up, as SoX does;
// the tests check every one of the 65,536 inputs against SoX.

const (
	signBit   = 0x80
	quantMask = 0x0F
	segShift  = 4
	segMask   = 0x70
	ulawBias  = 0x84 // bias for linear code, 16-bit scale
	ulawClip  = 8159 // 14-bit magnitude limit
)

var (
	ulawSegEnd = [8]int32{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF}
	alawSegEnd = [8]int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}
)

// segment returns the index of the first segment end not below v, or 8 if none.
func segment(v int32, ends *[8]int32) int32 {
	for i, end := range ends {
		if v <= end {
			return int32(i)
		}
	}
	return 8
}

// roundShift divides x by 2^shift rounding half up, and clips to the positive maximum.
func roundShift(x int16, shift uint) int32 {
	v := (int32(x) + 1<<(shift-1)) >> shift
	return min(v, int32(32767)>>shift)
}

func ulawEncodeSample(x int16) byte {
	v := roundShift(x, 2)
	mask := byte(0xFF)
	if v < 0 {
		v, mask = -v, 0x7F
	}
	v = min(v, ulawClip) + ulawBias>>2
	seg := segment(v, &ulawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	return byte(seg<<segShift|(v>>(seg+1))&quantMask) ^ mask
}

func ulawDecodeSample(b byte) int16 {
	u := ^b
	t := (int32(u&quantMask) << 3) + ulawBias
	t <<= (u & segMask) >> segShift
	if u&signBit != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

func alawEncodeSample(x int16) byte {
	v := roundShift(x, 3)
	mask := byte(0xD5)
	if v < 0 {
		v, mask = -v-1, 0x55
	}
	seg := segment(v, &alawSegEnd)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	shift := max(seg, 1)
	return byte(seg<<segShift|(v>>shift)&quantMask) ^ mask
}

func alawDecodeSample(b byte) int16 {
	a := b ^ 0x55
	t := int32(a&quantMask) << 4
	switch seg := (a & segMask) >> segShift; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&signBit != 0 {
		return int16(t)
	}
	return int16(-t)
}
