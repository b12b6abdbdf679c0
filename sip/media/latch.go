package media

import (
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// A source other than the latched one (another address, port or SSRC) takes
// the session over only after latchRun valid packets of one SSRC in sequence,
// spanning latchQuiet with no packet from the latched source meanwhile: a
// phone whose NAT binding moved loses about a sixth of a second of audio,
// while packets aimed at a live call (whose source never pauses that long)
// are never heard. RFC 3550 section 8.2 lets a source change its address.
const (
	latchRun   = 8
	latchQuiet = 100 * time.Millisecond
	// latchSeqStep is the largest sequence step that continues a run (a few
	// lost packets); anything else starts the run again (RFC 3550 appendix A.1).
	latchSeqStep = 16
)

// latchCandidate is a source that is not latched, counting its run.
type latchCandidate struct {
	peer  *peerState
	src   netip.AddrPort
	ssrc  uint32
	seq   uint16
	run   int
	start int64 // nanoseconds since the session's epoch when the run began
}

// admit decides, on the reader goroutine, whether a valid RTP packet from a
// source that is not the latched one may take the session: at once when it
// comes from the address the peer signalled in SDP and the session is not
// latched there yet, otherwise after a run (latchRun, latchQuiet). It is off
// the path of packets from the latched source.
func (s *Session) admit(peer *peerState, src netip.AddrPort, pkt *rtp.Packet) bool {
	rx := &s.rx
	if src == peer.remote && (rx.latchedFor != peer || rx.src != src) {
		return true
	}
	if pkt.PayloadType != peer.neg.Codec.PayloadType && !(peer.neg.DTMF && pkt.PayloadType == peer.neg.DTMFPayloadType) {
		return false
	}
	now := int64(time.Since(s.epoch))
	c := &rx.cand
	if c.peer == peer && c.src == src && c.ssrc == pkt.SSRC {
		if step := pkt.SequenceNumber - c.seq; step >= 1 && step <= latchSeqStep {
			c.seq = pkt.SequenceNumber
			c.run++
			// The run counts only while the latched source is silent.
			if s.lastRx.Load() > c.start {
				c.run, c.start = 1, now
			}
			return c.run >= latchRun && now-c.start >= int64(latchQuiet)
		}
	}
	*c = latchCandidate{peer: peer, src: src, ssrc: pkt.SSRC, seq: pkt.SequenceNumber, run: 1, start: now}
	return false
}

// latch makes src and ssrc the session's source for peer.
func (s *Session) latch(peer *peerState, src netip.AddrPort, ssrc uint32) {
	moved := s.rx.latchedFor == peer || src != peer.remote
	s.rx.latchedFor, s.rx.src, s.rx.ssrc = peer, src, ssrc
	s.rx.cand = latchCandidate{}
	if moved {
		s.m.sourceMoves.Inc()
		s.log.Info("rtp source moved", "source", src, "ssrc", ssrc, "signalled", peer.remote)
		return
	}
	s.log.Debug("rtp source latched", "source", src, "ssrc", ssrc)
}
