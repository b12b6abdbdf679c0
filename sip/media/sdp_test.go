package media

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// body joins SDP lines with CRLF (RFC 4566 §5).
func body(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// offer builds a typical offer: session header, session-level c=, then extra lines.
func offer(c string, extra ...string) []byte {
	head := []string{"v=0", "o=alice 2890844526 2890844526 IN IP4 192.0.2.10", "s=-"}
	if c != "" {
		head = append(head, "c="+c)
	}
	head = append(head, "t=0 0")
	return body(append(head, extra...)...)
}

func TestParseSDP(t *testing.T) {
	cases := []struct {
		name string
		body []byte
		want SessionDescription
	}{
		{"PCMU only, static without rtpmap", offer("IN IP4 192.0.2.10", "m=audio 49170 RTP/AVP 0"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 49170, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"PCMA first with telephone-event 101 and ptime", offer("IN IP4 192.0.2.10",
			"m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000",
			"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:30"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 4000, Codecs: []Codec{PCMA, PCMU},
				TelephoneEvent: 101, HasTelephoneEvent: true, Direction: SendRecv, Ptime: 30}},
		{"telephone-event 96, G.729 annexb", offer("IN IP4 192.0.2.10",
			"m=audio 4000 RTP/AVP 18 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:18 annexb=no"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 4000, Codecs: []Codec{{"G729", 18, 8000}},
				TelephoneEvent: 96, HasTelephoneEvent: true, Direction: SendRecv}},
		{"telephone-event at 16 kHz is ignored", offer("IN IP4 192.0.2.10",
			"m=audio 4000 RTP/AVP 0 97", "a=rtpmap:97 telephone-event/16000"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 4000, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"media-level c= overrides session-level", offer("IN IP4 192.0.2.10",
			"m=audio 5004 RTP/AVP 0", "c=IN IP4 198.51.100.7"),
			SessionDescription{Addr: netip.MustParseAddr("198.51.100.7"), Port: 5004, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"media-level c= only, IPv6", offer("", "m=audio 5004 RTP/AVP 0", "c=IN IP6 2001:db8::1"),
			SessionDescription{Addr: netip.MustParseAddr("2001:db8::1"), Port: 5004, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"session-level direction", offer("IN IP4 192.0.2.10", "a=sendonly", "m=audio 5004 RTP/AVP 0"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 5004, Codecs: []Codec{PCMU}, Direction: SendOnly}},
		{"media-level direction overrides session-level", offer("IN IP4 192.0.2.10", "a=sendonly",
			"m=audio 5004 RTP/AVP 0", "a=inactive"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 5004, Codecs: []Codec{PCMU}, Direction: Inactive}},
		{"rejected stream port 0", offer("IN IP4 192.0.2.10", "m=audio 0 RTP/AVP 0"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 0, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"video first, first audio m= line used", offer("IN IP4 192.0.2.10",
			"m=video 6000 RTP/AVP 31", "m=audio 6002 RTP/AVP 8", "m=audio 6004 RTP/AVP 0"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 6002, Codecs: []Codec{PCMA}, Direction: SendRecv}},
		{"LF line ends, no final line end", []byte("v=0\no=a 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: []Codec{PCMU}, Direction: SendRecv}},
		{"unknown dynamic PT without rtpmap and stereo skipped", offer("IN IP4 192.0.2.10",
			"m=audio 6000 RTP/AVP 98 99 0", "a=rtpmap:99 opus/48000/2"),
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.10"), Port: 6000, Codecs: []Codec{PCMU}, Direction: SendRecv}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSDP(tc.body)
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("ParseSDP =\n%+v\nwant\n%+v", *got, tc.want)
			}
		})
	}
}

func TestParseSDPMalformed(t *testing.T) {
	cases := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"garbage", []byte("hello world")},
		{"no audio", offer("IN IP4 192.0.2.10", "m=video 6000 RTP/AVP 31")},
		{"no m= line", offer("IN IP4 192.0.2.10")},
		{"no c= line", offer("", "m=audio 6000 RTP/AVP 0")},
		{"hostname in c=", offer("IN IP4 media.example.com", "m=audio 6000 RTP/AVP 0")},
		{"IP6 type with IPv4 address", offer("IN IP6 192.0.2.10", "m=audio 6000 RTP/AVP 0")},
		{"IP4 type with IPv6 address", offer("IN IP4 2001:db8::1", "m=audio 6000 RTP/AVP 0")},
		{"non-numeric format", offer("IN IP4 192.0.2.10", "m=audio 6000 RTP/AVP PCMU")},
		{"payload type above 127", offer("IN IP4 192.0.2.10", "m=audio 6000 RTP/AVP 200")},
		{"rtpmap without rate", offer("IN IP4 192.0.2.10", "m=audio 6000 RTP/AVP 96", "a=rtpmap:96 telephone-event")},
		{"rtpmap bad payload type", offer("IN IP4 192.0.2.10", "m=audio 6000 RTP/AVP 0", "a=rtpmap:x PCMU/8000")},
		{"bad ptime", offer("IN IP4 192.0.2.10", "m=audio 6000 RTP/AVP 0", "a=ptime:twenty")},
		{"port out of range", offer("IN IP4 192.0.2.10", "m=audio 70000 RTP/AVP 0")},
		{"missing version line", body("o=a 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 1 RTP/AVP 0")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseSDP(tc.body)
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("ParseSDP = %+v, %v; want error wrapping ErrBadSDP", d, err)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	remote := netip.MustParseAddrPort("192.0.2.10:4000")
	cases := []struct {
		name string
		body []byte
		want Negotiated
		err  error
	}{
		{"PCMU only", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 0"),
			Negotiated{Codec: PCMU, Remote: remote, Direction: SendRecv}, nil},
		{"PCMA first wins over PCMU", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 8 0"),
			Negotiated{Codec: PCMA, Remote: remote, Direction: SendRecv}, nil},
		{"G.729 first, PCMU second", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 18 0"),
			Negotiated{Codec: PCMU, Remote: remote, Direction: SendRecv}, nil},
		{"G.729 only", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 18"), Negotiated{}, ErrNoCommonCodec},
		{"telephone-event only", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 101",
			"a=rtpmap:101 telephone-event/8000"), Negotiated{}, ErrNoCommonCodec},
		{"rejected stream", offer("IN IP4 192.0.2.10", "m=audio 0 RTP/AVP 0"), Negotiated{}, ErrNoCommonCodec},
		{"telephone-event 101", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 0 101",
			"a=rtpmap:101 telephone-event/8000"),
			Negotiated{Codec: PCMU, DTMF: true, DTMFPayloadType: 101, Remote: remote, Direction: SendRecv}, nil},
		{"telephone-event 96 keeps the offerer's PT", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 8 96",
			"a=rtpmap:96 telephone-event/8000"),
			Negotiated{Codec: PCMA, DTMF: true, DTMFPayloadType: 96, Remote: remote, Direction: SendRecv}, nil},
		{"dynamic PT for PCMU keeps the offerer's PT", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 110",
			"a=rtpmap:110 pcmu/8000"),
			Negotiated{Codec: Codec{"PCMU", 110, 8000}, Remote: remote, Direction: SendRecv}, nil},
		{"hold with sendonly", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 0", "a=sendonly"),
			Negotiated{Codec: PCMU, Remote: remote, Direction: RecvOnly}, nil},
		{"recvonly offer", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 0", "a=recvonly"),
			Negotiated{Codec: PCMU, Remote: remote, Direction: SendOnly}, nil},
		{"inactive offer", offer("IN IP4 192.0.2.10", "m=audio 4000 RTP/AVP 0", "a=inactive"),
			Negotiated{Codec: PCMU, Remote: remote, Direction: Inactive}, nil},
		{"old-style hold c=0.0.0.0", offer("IN IP4 0.0.0.0", "m=audio 4000 RTP/AVP 0"),
			Negotiated{Codec: PCMU, Remote: netip.MustParseAddrPort("0.0.0.0:4000"), Direction: RecvOnly}, nil},
		{"old-style hold with inactive stays inactive", offer("IN IP4 0.0.0.0", "m=audio 4000 RTP/AVP 0", "a=inactive"),
			Negotiated{Codec: PCMU, Remote: netip.MustParseAddrPort("0.0.0.0:4000"), Direction: Inactive}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseSDP(tc.body)
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			got, err := Negotiate(o, []Codec{PCMU, PCMA})
			if !errors.Is(err, tc.err) {
				t.Fatalf("Negotiate error = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("Negotiate =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestNegotiateNilOffer(t *testing.T) {
	if _, err := Negotiate(nil, []Codec{PCMU}); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("Negotiate(nil) error = %v, want ErrBadSDP", err)
	}
}

func TestBuildSDPExactText(t *testing.T) {
	got := string(BuildSDP(LocalSDP{
		Addr: netip.MustParseAddr("203.0.113.5"), Port: 10002, SessionID: 42, Version: 7,
		Codecs: []Codec{PCMU}, DTMF: true, DTMFPayloadType: 101, Direction: RecvOnly,
	}))
	want := string(body("v=0", "o=hotline 42 7 IN IP4 203.0.113.5", "s=hotline", "c=IN IP4 203.0.113.5",
		"t=0 0", "m=audio 10002 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
		"a=fmtp:101 0-16", "a=ptime:20", "a=recvonly"))
	if got != want {
		t.Fatalf("BuildSDP =\n%s\nwant\n%s", got, want)
	}
}

// Everything BuildSDP writes must parse back to the same stream description.
func TestBuildSDPRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		l    LocalSDP
		want SessionDescription
	}{
		{"offer PCMU PCMA DTMF 96",
			LocalSDP{Addr: netip.MustParseAddr("192.0.2.1"), Port: 20000, Codecs: []Codec{PCMU, PCMA}, DTMF: true, DTMFPayloadType: 96},
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.1"), Port: 20000, Codecs: []Codec{PCMU, PCMA},
				TelephoneEvent: 96, HasTelephoneEvent: true, Direction: SendRecv, Ptime: 20}},
		{"IPv6 sendonly",
			LocalSDP{Addr: netip.MustParseAddr("2001:db8::5"), Port: 20002, Codecs: []Codec{PCMA}, Direction: SendOnly},
			SessionDescription{Addr: netip.MustParseAddr("2001:db8::5"), Port: 20002, Codecs: []Codec{PCMA},
				Direction: SendOnly, Ptime: 20}},
		{"IPv4-mapped address written as IPv4",
			LocalSDP{Addr: netip.MustParseAddr("::ffff:192.0.2.9"), Port: 20004, Codecs: []Codec{PCMU}},
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.9"), Port: 20004, Codecs: []Codec{PCMU},
				Direction: SendRecv, Ptime: 20}},
		{"rejected stream without codecs",
			LocalSDP{Addr: netip.MustParseAddr("192.0.2.1"), Port: 0, Direction: Inactive},
			SessionDescription{Addr: netip.MustParseAddr("192.0.2.1"), Port: 0, Codecs: []Codec{PCMU},
				Direction: Inactive, Ptime: 20}},
		{"invalid address becomes 0.0.0.0",
			LocalSDP{Port: 20006, Codecs: []Codec{PCMU}},
			SessionDescription{Addr: netip.IPv4Unspecified(), Port: 20006, Codecs: []Codec{PCMU},
				Direction: SendRecv, Ptime: 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := BuildSDP(tc.l)
			got, err := ParseSDP(b)
			if err != nil {
				t.Fatalf("ParseSDP(BuildSDP) failed: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("round trip =\n%+v\nwant\n%+v\nbody:\n%s", *got, tc.want, b)
			}
		})
	}
}
