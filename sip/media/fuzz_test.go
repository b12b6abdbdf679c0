package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

// SDP bodies from RFC 4475 (SIP torture test messages): sdp01 (§3.3, application-layer semantics),
// and the bodies of the valid messages esc01, wsinv and dblreq (§3.1.1).
const (
	rfc4475SDP01 = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.5\r\ns=-\r\n" +
		"c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
	rfc4475Esc01 = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\n" +
		"c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
	rfc4475Wsinv = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\n" +
		"c=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n" +
		"m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
	rfc4475Dblreq = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.15\r\ns=-\r\n" +
		"c=IN IP4 192.0.2.15\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n" +
		"m =video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
)

// TestRFC4475Bodies pins what the fuzz seeds from RFC 4475 parse to.
func TestRFC4475Bodies(t *testing.T) {
	cases := []struct {
		name string
		body string
		addr string
	}{
		{"sdp01", rfc4475SDP01, "192.0.2.5"},
		{"esc01", rfc4475Esc01, "192.0.2.1"},
		{"wsinv, c= differs from o=", rfc4475Wsinv, "192.0.2.4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseSDP([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if d.Addr.String() != tc.addr || d.Port != 49217 || len(d.Codecs) != 2 || d.Codecs[0] != PCMU {
				t.Fatalf("ParseSDP = %+v", d)
			}
		})
	}
}

func FuzzParseSDP(f *testing.F) {
	for _, s := range []string{rfc4475SDP01, rfc4475Esc01, rfc4475Wsinv, rfc4475Dblreq} {
		f.Add([]byte(s))
	}
	f.Add(offer("IN IP4 0.0.0.0", "m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly"))
	f.Add(offer("", "m=audio 4000 RTP/AVP 18 96", "c=IN IP6 2001:db8::1", "a=rtpmap:96 telephone-event/8000", "a=ptime:20"))
	f.Add(BuildSDP(LocalSDP{Port: 10000, Codecs: []Codec{PCMU, PCMA}, DTMF: true, DTMFPayloadType: 101}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseSDP(b)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("ParseSDP error %v does not wrap ErrBadSDP", err)
			}
			return
		}
		n, err := Negotiate(d, []Codec{PCMU, PCMA})
		if err != nil {
			if !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("Negotiate error %v does not wrap ErrNoCommonCodec", err)
			}
			return
		}
		checkAnswerRoundTrip(t, d, n)
	})
}

// checkAnswerRoundTrip builds our answer from a negotiation and parses it back.
func checkAnswerRoundTrip(t *testing.T, offer *SessionDescription, n Negotiated) {
	ans := BuildSDP(LocalSDP{Addr: offer.Addr, Port: offer.Port, Codecs: []Codec{n.Codec},
		DTMF: n.DTMF, DTMFPayloadType: n.DTMFPayloadType, Direction: n.Direction})
	got, err := ParseSDP(ans)
	if err != nil {
		t.Fatalf("our answer does not parse: %v\n%s", err, ans)
	}
	if len(got.Codecs) != 1 || got.Codecs[0] != n.Codec || got.Direction != n.Direction ||
		got.HasTelephoneEvent != n.DTMF || got.Port != offer.Port {
		t.Fatalf("answer parsed to %+v, negotiated %+v\n%s", got, n, ans)
	}
}

func FuzzValidateRTP(f *testing.F) {
	f.Add(rtpPacket(f, rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 9}, bytes.Repeat([]byte{0xFF}, 160)))
	f.Add(rtpPacket(f, rtp.Header{Marker: true, PayloadType: 101, SSRC: 9}, []byte{1, 10, 0, 160}))
	f.Add(rtpPacket(f, rtp.Header{PayloadType: 8, CSRC: []uint32{1, 2, 3}}, []byte{0xD5}))
	f.Add(withPadding([]byte{1, 2, 3}, 3))
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0})
	f.Add([]byte{0x81, 201, 0, 7, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		err := ValidateRTP(b, &p)
		if err != nil {
			if !errors.Is(err, ErrBadRTP) {
				t.Fatalf("ValidateRTP error %v does not wrap ErrBadRTP", err)
			}
			return
		}
		if p.Version != 2 || IsRTCP(b) || len(b) < rtpHeaderLen {
			t.Fatalf("accepted invalid packet % x", b)
		}
		if len(p.Payload)+int(p.PaddingSize)+rtpHeaderLen+4*len(p.CSRC) > len(b) {
			t.Fatalf("payload %d + padding %d overflow a %d-byte packet", len(p.Payload), p.PaddingSize, len(b))
		}
	})
}

func FuzzParseDTMFEvent(f *testing.F) {
	for _, s := range [][]byte{{5, 10, 0, 160}, {11, 0x8A, 0x05, 0x00}, {16, 0xC0, 0xFF, 0xFF}, {}, {1, 2, 3, 4, 5}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseDTMFEvent(b)
		if len(b) != dtmfPayloadLen {
			if !errors.Is(err, ErrBadDTMF) {
				t.Fatalf("ParseDTMFEvent(% x) error = %v, want ErrBadDTMF", b, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseDTMFEvent(% x): %v", b, err)
		}
		// Marshal∘Parse is the identity up to the reserved R bit, which is sent as 0.
		want := []byte{b[0], b[1] &^ 0x40, b[2], b[3]}
		if got := e.Marshal(); !bytes.Equal(got, want) {
			t.Fatalf("Marshal(Parse(% x)) = % x", b, got)
		}
		if again, _ := ParseDTMFEvent(e.Marshal()); again != e {
			t.Fatalf("Parse(Marshal(%+v)) = %+v", e, again)
		}
	})
}

// FuzzDTMFDetector reads the input as packets of 6 bytes: SSRC (1 byte), timestamp
// (1 byte) and a 4-byte payload. A packet repeating the previous packet's key never
// yields a digit, and every digit is a DTMF key.
func FuzzDTMFDetector(f *testing.F) {
	var seed []byte
	for _, p := range append(sequence(1, 10, 5), sequence(1, 20, 5)...) {
		seed = append(append(seed, byte(p.ssrc), byte(p.ts)), p.payload...)
	}
	f.Add(seed)
	f.Add([]byte{1, 1, 16, 0x80, 0, 1, 1, 1, 3, 0, 0, 160})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d DTMFDetector
		var prev *dtmfKey
		for len(b) >= 6 {
			k := dtmfKey{uint32(b[0]), uint32(b[1])}
			r, ok, err := d.Feed(k.ssrc, k.timestamp, b[2:6])
			b = b[6:]
			if err != nil {
				t.Fatalf("Feed of a 4-byte payload: %v", err)
			}
			if ok && prev != nil && *prev == k {
				t.Fatalf("digit %q reported twice for %+v", r, k)
			}
			if _, isKey := DigitEvent(r); ok && !isKey {
				t.Fatalf("reported %q, not a DTMF key", r)
			}
			prev = &k
		}
		if d.n > dtmfMemory {
			t.Fatalf("detector remembers %d keys, bound is %d", d.n, dtmfMemory)
		}
	})
}
