package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

// rtpPacket marshals a valid RTP packet with pion; the tests then corrupt bytes of it.
func rtpPacket(t testing.TB, h rtp.Header, payload []byte) []byte {
	t.Helper()
	h.Version = 2
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatalf("marshal rtp: %v", err)
	}
	return b
}

func TestIsRTCP(t *testing.T) {
	cases := []struct {
		name string
		buf  []byte
		want bool
	}{
		{"SR", []byte{0x80, 200, 0, 6}, true},
		{"RR", []byte{0x81, 201, 0, 7}, true},
		{"SDES", []byte{0x81, 202, 0, 1}, true},
		{"BYE", []byte{0x81, 203, 0, 1}, true},
		{"APP", []byte{0x80, 204, 0, 2}, true},
		{"RTPFB", []byte{0x81, 205, 0, 3}, true},
		{"RTP PCMU", []byte{0x80, 0, 0, 1}, false},
		{"RTP PCMA with marker", []byte{0x80, 0x88, 0, 1}, false},
		{"RTP telephone-event 101 with marker", []byte{0x80, 0x80 | 101, 0, 1}, false},
		{"RTP dynamic 96", []byte{0x80, 96, 0, 1}, false},
		{"RTP PT 127 with marker", []byte{0x80, 0xFF, 0, 1}, false},
		{"one byte", []byte{0x80}, false},
		{"empty", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRTCP(tc.buf); got != tc.want {
				t.Fatalf("IsRTCP(% x) = %v, want %v", tc.buf, got, tc.want)
			}
		})
	}
}

func TestValidateRTPAccepts(t *testing.T) {
	payload := bytes.Repeat([]byte{0xFF}, 160)
	cases := []struct {
		name string
		buf  []byte
		pt   uint8
		n    int
	}{
		{"plain PCMU", rtpPacket(t, rtp.Header{PayloadType: 0, SequenceNumber: 7, Timestamp: 160, SSRC: 1}, payload), 0, 160},
		{"marker and telephone-event", rtpPacket(t, rtp.Header{Marker: true, PayloadType: 101, SSRC: 1}, []byte{1, 10, 0, 160}), 101, 4},
		{"two CSRCs", rtpPacket(t, rtp.Header{PayloadType: 8, CSRC: []uint32{5, 6}}, payload), 8, 160},
		{"header extension", withExtension(t, payload), 0, 160},
		{"padding", withPadding(payload[:10], 4), 0, 10},
		{"empty payload", rtpPacket(t, rtp.Header{PayloadType: 0}, nil), 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p rtp.Packet
			if err := ValidateRTP(tc.buf, &p); err != nil {
				t.Fatalf("ValidateRTP: %v", err)
			}
			if p.PayloadType != tc.pt || len(p.Payload) != tc.n {
				t.Fatalf("got PT %d with %d payload bytes, want PT %d with %d", p.PayloadType, len(p.Payload), tc.pt, tc.n)
			}
		})
	}
}

func withExtension(t *testing.T, payload []byte) []byte {
	h := rtp.Header{PayloadType: 0}
	if err := h.SetExtension(1, []byte{0xAA, 0xBB}); err != nil {
		t.Fatalf("set extension: %v", err)
	}
	return rtpPacket(t, h, payload)
}

// withPadding builds a packet by hand with pad bytes of padding, the last one the count.
func withPadding(payload []byte, pad int) []byte {
	b := []byte{0xA0, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1}
	b = append(b, payload...)
	b = append(b, make([]byte, pad-1)...)
	return append(b, byte(pad))
}

func TestValidateRTPRejects(t *testing.T) {
	good := rtpPacket(t, rtp.Header{PayloadType: 0, SSRC: 1}, []byte{1, 2, 3, 4})
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"11 bytes", good[:11]},
		{"version 0", mutate(func(b []byte) []byte { b[0] &^= 0xC0; return b })},
		{"version 1", mutate(func(b []byte) []byte { b[0] = b[0]&^0xC0 | 0x40; return b })},
		{"version 3", mutate(func(b []byte) []byte { b[0] |= 0xC0; return b })},
		{"RTCP receiver report", []byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0}},
		{"CSRC count beyond packet", mutate(func(b []byte) []byte { b[0] |= 0x0F; return b })},
		{"extension header cut off", mutate(func(b []byte) []byte { b[0] |= 0x10; return b[:14] })},
		{"extension length beyond packet", mutate(func(b []byte) []byte {
			b[0] |= 0x10
			return append(b[:12], 0xBE, 0xDE, 0x00, 0x09)
		})},
		{"padding count zero", mutate(func(b []byte) []byte { b[0] |= 0x20; b[len(b)-1] = 0; return b })},
		{"padding larger than payload", mutate(func(b []byte) []byte { b[0] |= 0x20; b[len(b)-1] = 5; return b })},
		{"padding bit with header only", mutate(func(b []byte) []byte { b[0] |= 0x20; return b[:12] })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p rtp.Packet
			if err := ValidateRTP(tc.buf, &p); !errors.Is(err, ErrBadRTP) {
				t.Fatalf("ValidateRTP(% x) = %v, want ErrBadRTP", tc.buf, err)
			}
		})
	}
}

// Padding that exactly fills the space after the header is legal: the payload is empty.
func TestValidateRTPPaddingFillsPacket(t *testing.T) {
	var p rtp.Packet
	if err := ValidateRTP(withPadding(nil, 4), &p); err != nil {
		t.Fatalf("ValidateRTP: %v", err)
	}
	if len(p.Payload) != 0 || p.PaddingSize != 4 {
		t.Fatalf("payload %d bytes, padding %d; want 0 and 4", len(p.Payload), p.PaddingSize)
	}
}
