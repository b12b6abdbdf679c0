package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 4566 §6, RFC 3264 §6.1).
type Direction string

// The four SDP directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

var (
	// ErrBadSDP marks a session description that cannot be parsed or lacks an audio stream.
	ErrBadSDP = errors.New("bad sdp")
	// ErrNoCommonCodec marks an offer we cannot answer; the SIP layer replies 488.
	ErrNoCommonCodec = errors.New("no common codec")
)

// SessionDescription is the part of a remote SDP body the media layer needs: its first
// audio stream.
type SessionDescription struct {
	Addr              netip.Addr // media c= address (media-level overrides session-level)
	Port              int        // audio m= port (0 = rejected stream)
	Codecs            []Codec    // audio formats in offer order (excluding telephone-event)
	TelephoneEvent    uint8      // payload type of telephone-event/8000
	HasTelephoneEvent bool
	Direction         Direction // default sendrecv
	Ptime             int       // 0 when absent
}

const telephoneEvent = "telephone-event"

// staticAudio holds the RFC 3551 §6 static audio payload types that may appear without
// an a=rtpmap line. Multi-channel and non-8 kHz entries are omitted: we cannot use them.
var staticAudio = map[uint8]Codec{
	0: PCMU, 3: {"GSM", 3, 8000}, 4: {"G723", 4, 8000}, 5: {"DVI4", 5, 8000},
	7: {"LPC", 7, 8000}, 8: PCMA, 9: {"G722", 9, 8000}, 12: {"QCELP", 12, 8000},
	13: {"CN", 13, 8000}, 15: {"G728", 15, 8000}, 18: {"G729", 18, 8000},
}

// ParseSDP parses an SDP body (RFC 4566) and describes its first audio stream.
// Malformed bodies, missing audio and missing or non-IP connection addresses give an
// error wrapping ErrBadSDP.
func ParseSDP(body []byte) (*SessionDescription, error) {
	text := string(body)
	if !strings.HasSuffix(text, "\n") {
		text += "\r\n" // pion needs a final line end; some peers omit it
	}
	var s sdp.SessionDescription
	if err := s.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	md := firstAudio(&s)
	if md == nil {
		return nil, fmt.Errorf("%w: no audio m= line", ErrBadSDP)
	}
	d := &SessionDescription{Port: md.MediaName.Port.Value}
	if d.Port < 0 || d.Port > 65535 {
		return nil, fmt.Errorf("%w: audio port %d out of range", ErrBadSDP, d.Port)
	}
	addr, err := connectionAddr(&s, md)
	if err != nil {
		return nil, err
	}
	d.Addr = addr
	if err := d.parseFormats(md); err != nil {
		return nil, err
	}
	d.Direction = direction(s.Attributes, md.Attributes)
	if d.Ptime, err = ptime(s.Attributes, md.Attributes); err != nil {
		return nil, err
	}
	return d, nil
}

func firstAudio(s *sdp.SessionDescription) *sdp.MediaDescription {
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			return md
		}
	}
	return nil
}

// connectionAddr returns the c= address for md; a media-level c= overrides the
// session-level one (RFC 4566 §5.7).
func connectionAddr(s *sdp.SessionDescription, md *sdp.MediaDescription) (netip.Addr, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = s.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, fmt.Errorf("%w: no c= line for the audio stream", ErrBadSDP)
	}
	if ci.NetworkType != "IN" {
		return netip.Addr{}, fmt.Errorf("%w: network type %q, want IN", ErrBadSDP, ci.NetworkType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: connection address %q is not an IP literal", ErrBadSDP, ci.Address.Address)
	}
	if (ci.AddressType == "IP4") != addr.Is4() || (ci.AddressType == "IP6") != addr.Is6() {
		return netip.Addr{}, fmt.Errorf("%w: address %s does not match type %q", ErrBadSDP, addr, ci.AddressType)
	}
	return addr, nil
}

// parseFormats fills Codecs and the telephone-event fields from the m= format list and
// its a=rtpmap lines (RFC 4566 §6). Formats we cannot name are left out.
func (d *SessionDescription) parseFormats(md *sdp.MediaDescription) error {
	rtpmaps, err := rtpmaps(md.Attributes)
	if err != nil {
		return err
	}
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return fmt.Errorf("%w: audio format %q is not an RTP payload type", ErrBadSDP, f)
		}
		c, ok := rtpmaps[uint8(pt)]
		if !ok {
			c, ok = staticAudio[uint8(pt)]
		}
		switch {
		case !ok:
		case strings.EqualFold(c.Name, telephoneEvent):
			if c.ClockRate == 8000 && !d.HasTelephoneEvent {
				d.TelephoneEvent, d.HasTelephoneEvent = c.PayloadType, true
			}
		default:
			d.Codecs = append(d.Codecs, c)
		}
	}
	return nil
}

// rtpmaps parses every a=rtpmap:<pt> <name>/<rate>[/<channels>] line. Entries with more
// than one channel are skipped: the media layer is mono only.
func rtpmaps(attrs []sdp.Attribute) (map[uint8]Codec, error) {
	m := make(map[uint8]Codec)
	for _, a := range attrs {
		if a.Key != "rtpmap" {
			continue
		}
		c, channels, err := parseRtpmap(a.Value)
		if err != nil {
			return nil, err
		}
		if channels == 1 {
			m[c.PayloadType] = c
		}
	}
	return m, nil
}

func parseRtpmap(v string) (Codec, int, error) {
	bad := fmt.Errorf("%w: malformed a=rtpmap:%s", ErrBadSDP, v)
	ptStr, enc, ok := strings.Cut(v, " ")
	if !ok {
		return Codec{}, 0, bad
	}
	pt, err := strconv.ParseUint(ptStr, 10, 7)
	if err != nil {
		return Codec{}, 0, bad
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Codec{}, 0, bad
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return Codec{}, 0, bad
	}
	channels := uint64(1)
	if len(parts) == 3 {
		if channels, err = strconv.ParseUint(parts[2], 10, 8); err != nil {
			return Codec{}, 0, bad
		}
	}
	return Codec{parts[0], uint8(pt), uint32(rate)}, int(channels), nil
}

// direction returns the media-level direction attribute, else the session-level one,
// else sendrecv (RFC 3264 §5.1).
func direction(session, media []sdp.Attribute) Direction {
	for _, attrs := range [][]sdp.Attribute{media, session} {
		for _, a := range attrs {
			switch d := Direction(a.Key); d {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				return d
			}
		}
	}
	return SendRecv
}

// ptime returns a=ptime in milliseconds (RFC 4566 §6), media level first, 0 when absent.
func ptime(session, media []sdp.Attribute) (int, error) {
	for _, attrs := range [][]sdp.Attribute{media, session} {
		for _, a := range attrs {
			if a.Key != "ptime" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(a.Value))
			if err != nil || n <= 0 || n > 1000 {
				return 0, fmt.Errorf("%w: malformed a=ptime:%s", ErrBadSDP, a.Value)
			}
			return n, nil
		}
	}
	return 0, nil
}

// Negotiated is the outcome of an offer/answer exchange for the audio stream.
type Negotiated struct {
	Codec           Codec
	DTMF            bool
	DTMFPayloadType uint8
	Remote          netip.AddrPort // where to send RTP
	Direction       Direction      // OUR direction in the answer (offer sendonly → recvonly, etc.)
}

// Negotiate answers offer (RFC 3264 §6.1): the first codec in the offer's order that is
// in supported (matched by name and clock rate, keeping the offer's payload type),
// telephone-event if offered, and the mirrored direction. An offer without a usable
// codec, or whose audio stream is rejected (port 0), gives an error wrapping
// ErrNoCommonCodec; a nil offer gives ErrBadSDP.
func Negotiate(offer *SessionDescription, supported []Codec) (Negotiated, error) {
	if offer == nil {
		return Negotiated{}, fmt.Errorf("%w: no offer", ErrBadSDP)
	}
	if offer.Port == 0 {
		return Negotiated{}, fmt.Errorf("%w: audio stream rejected (port 0)", ErrNoCommonCodec)
	}
	codec, ok := pickCodec(offer.Codecs, supported)
	if !ok {
		return Negotiated{}, fmt.Errorf("%w: offered %s", ErrNoCommonCodec, codecNames(offer.Codecs))
	}
	return Negotiated{
		Codec:           codec,
		DTMF:            offer.HasTelephoneEvent,
		DTMFPayloadType: offer.TelephoneEvent,
		Remote:          netip.AddrPortFrom(offer.Addr, uint16(offer.Port)),
		Direction:       answerDirection(offer),
	}, nil
}

func pickCodec(offered, supported []Codec) (Codec, bool) {
	for _, o := range offered {
		for _, s := range supported {
			if strings.EqualFold(o.Name, s.Name) && o.ClockRate == s.ClockRate {
				return Codec{s.Name, o.PayloadType, s.ClockRate}, true
			}
		}
	}
	return Codec{}, false
}

func codecNames(cs []Codec) string {
	if len(cs) == 0 {
		return "no audio codec"
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}

// answerDirection mirrors the offer (RFC 3264 §6.1). An offer with c=0.0.0.0 is the
// old-style hold of RFC 2543 (RFC 3264 §8.4): the remote only sends, so we only receive.
func answerDirection(offer *SessionDescription) Direction {
	dir := offer.Direction
	if offer.Addr.IsUnspecified() {
		switch dir {
		case SendRecv, "":
			dir = SendOnly
		case RecvOnly:
			dir = Inactive
		}
	}
	switch dir {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}

// LocalSDP describes our side of the audio stream for BuildSDP.
type LocalSDP struct {
	Addr               netip.Addr
	Port               int
	SessionID, Version uint64
	Codecs             []Codec
	DTMF               bool
	DTMFPayloadType    uint8
	Direction          Direction
}

// BuildSDP writes an SDP offer or answer with one audio stream (RFC 4566, RFC 3264):
// an rtpmap per codec, telephone-event 0-16 when DTMF is set (RFC 4733 §7.1.1),
// a=ptime:20 and the direction (sendrecv when empty). An invalid Addr is written as
// 0.0.0.0; with no codec at all the m= line carries PT 0, as a rejected stream must
// still list a format (RFC 3264 §6).
func BuildSDP(l LocalSDP) []byte {
	addr := l.Addr.Unmap()
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	addrType := "IP4"
	if addr.Is6() {
		addrType = "IP6"
	}
	dir := l.Direction
	if dir == "" {
		dir = SendRecv
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=hotline %d %d IN %s %s\r\ns=hotline\r\n", l.SessionID, l.Version, addrType, addr)
	fmt.Fprintf(&b, "c=IN %s %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", addrType, addr, l.Port, formatList(l))
	for _, c := range l.Codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
	}
	if l.DTMF {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\na=fmtp:%d 0-16\r\n", l.DTMFPayloadType, telephoneEvent, l.DTMFPayloadType)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", dir)
	return []byte(b.String())
}

func formatList(l LocalSDP) string {
	pts := make([]string, 0, len(l.Codecs)+1)
	for _, c := range l.Codecs {
		pts = append(pts, strconv.Itoa(int(c.PayloadType)))
	}
	if l.DTMF {
		pts = append(pts, strconv.Itoa(int(l.DTMFPayloadType)))
	}
	if len(pts) == 0 {
		pts = append(pts, "0")
	}
	return strings.Join(pts, " ")
}
