package media

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// ErrBadRTP marks a datagram that is not a valid RTP packet (RFC 3550 App. A.1).
var ErrBadRTP = errors.New("bad rtp packet")

const (
	rtpHeaderLen = 12
	rtpVersion   = 2
	// RFC 5761 §4: with RTP and RTCP on one port, the second octet of an RTCP packet is
	// its packet type. With the marker bit masked, SR 200 … APP 204 (and the rest of
	// 192–223) read as payload types 64–95, a range RTP must not use when multiplexing.
	rtcpPTMin = 64
	rtcpPTMax = 95
)

// IsRTCP reports whether buf, received on an RTP port, is an RTCP packet (RFC 5761 §4).
//
// The RTP header layout (RFC 3550 §5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RTCP puts its packet type where RTP has M and PT.
func IsRTCP(buf []byte) bool {
	if len(buf) < 2 {
		return false
	}
	pt := buf[1] & 0x7F
	return pt >= rtcpPTMin && pt <= rtcpPTMax
}

// ValidateRTP unmarshals buf into pkt and applies the RFC 3550 App. A.1 header checks
// that pion/rtp leaves out: at least 12 bytes, version 2, not an RTCP packet type, and
// CSRC list, header extension and padding that fit inside the datagram. Every error
// wraps ErrBadRTP. On success pkt.Payload aliases buf.
func ValidateRTP(buf []byte, pkt *rtp.Packet) error {
	if len(buf) < rtpHeaderLen {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadRTP, len(buf), rtpHeaderLen)
	}
	if v := buf[0] >> 6; v != rtpVersion {
		return fmt.Errorf("%w: version %d", ErrBadRTP, v)
	}
	if IsRTCP(buf) {
		return fmt.Errorf("%w: payload type %d is in the rtcp range", ErrBadRTP, buf[1]&0x7F)
	}
	if err := checkLengths(buf); err != nil {
		return err
	}
	if err := pkt.Unmarshal(buf); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRTP, err)
	}
	return nil
}

// checkLengths verifies that the CSRC list, the header extension and the padding count
// fit in buf (RFC 3550 §5.1, §5.3.1). pion/rtp checks the same; doing it here keeps the
// rule independent of the library and gives precise reasons.
func checkLengths(buf []byte) error {
	_, _, err := payloadBounds(buf)
	return err
}

// payloadBounds is where the payload of a packet of at least 12 bytes lies:
// after the CSRC list and header extension, before the padding.
func payloadBounds(buf []byte) (start, end int, err error) {
	n := rtpHeaderLen + 4*int(buf[0]&0x0F)
	if buf[0]&0x10 != 0 {
		if len(buf) < n+4 {
			return 0, 0, fmt.Errorf("%w: header extension cut off", ErrBadRTP)
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(buf[n+2:]))
	}
	if len(buf) < n {
		return 0, 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrBadRTP, len(buf), n)
	}
	end = len(buf)
	if buf[0]&0x20 != 0 {
		pad := int(buf[len(buf)-1])
		if pad == 0 || pad > len(buf)-n {
			return 0, 0, fmt.Errorf("%w: padding count %d with %d bytes after the header", ErrBadRTP, pad, len(buf)-n)
		}
		end -= pad
	}
	return n, end, nil
}
