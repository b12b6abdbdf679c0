package media

import (
	"context"

	"github.com/pion/rtp"
)

// feedDTMF passes a telephone-event packet (RFC 4733) to the detector and
// reports whether its payload was well formed. With detect false (a Bridge
// relays the events instead) the payload is only checked.
func (s *Session) feedDTMF(pkt *rtp.Packet, detect bool) bool {
	if !detect {
		_, err := ParseDTMFEvent(pkt.Payload)
		return err == nil
	}
	digit, ok, err := s.rx.det.Feed(pkt.SSRC, pkt.Timestamp, pkt.Payload)
	if err != nil {
		return false
	}
	if ok {
		s.pushDigit(digit, digitRFC4733)
	}
	return true
}

// PushDigit adds a digit received by SIP INFO to the same stream as RFC 4733
// digits. Characters that are not DTMF digits are ignored.
func (s *Session) PushDigit(r rune) {
	if _, ok := DigitEvent(r); !ok {
		s.log.Debug("ignored non-dtmf digit", "digit", string(r))
		return
	}
	s.pushDigit(r, digitSIPInfo)
}

// pushDigit queues r, dropping the oldest digit when the buffer is full.
func (s *Session) pushDigit(r rune, source string) {
	s.stats.digits.Add(1)
	s.m.digits[source].Inc()
	for {
		select {
		case s.digits <- r:
			return
		default:
		}
		select {
		case <-s.digits:
			s.stats.digitsDropped.Add(1)
		default:
		}
	}
}

// ReadDigit returns the next digit, waiting until one arrives, ctx is done
// (ctx.Err()) or the session ends (ErrClosed).
func (s *Session) ReadDigit(ctx context.Context) (rune, error) {
	if err := s.ended(); err != nil {
		return 0, err
	}
	select {
	case d := <-s.digits:
		return d, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.closed:
		return 0, ErrClosed
	case <-s.timedOut:
		return 0, ErrClosed
	}
}

// FlushDigits discards digits nobody has read yet and returns how many.
func (s *Session) FlushDigits() int {
	for n := 0; ; n++ {
		select {
		case <-s.digits:
		default:
			return n
		}
	}
}
