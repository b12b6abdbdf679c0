package media

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/pion/rtp"
)

// ErrBridged is returned by Play when a Bridge takes the session over while
// a prompt is playing.
var ErrBridged = errors.New("playback stopped: session bridged")

// rxBufSize is the largest datagram read, by either read path; RTP on a LAN
// fits in 1,500 bytes.
const rxBufSize = 2048

// errRelayTooLong: a payload that does not fit a relayed packet (a source
// sends at most rxBufSize bytes a datagram, so it cannot happen from the
// network).
var errRelayTooLong = errors.New("relay RTP: payload too long")

// relayLateMax is how long a packet may have waited in its socket and
// still be relayed. A receiver only falls this far behind when it is over
// its duty budget for a while (more calls than its core carries): shedding
// what is this late, instead of sending it, cuts the cost of each such
// packet by more than half, so the receiver catches up instead of every
// bridge's delay growing with its socket buffer. A phone's jitter buffer
// would discard audio this late anyway. The packet is still recorded (S19).
const relayLateMax = 200 * time.Millisecond

// relayJump is how far (in samples) a relayed timestamp may stray from the
// session's clock before the mapping is anchored again: a new source stream
// or a source that restarted its timestamps.
const relayJump = 5 * 8000

// tap is what a Bridge attaches to a Session. The reader hands it every
// accepted packet, with the shared receiver's chunk of relayed packets (nil
// for a session reading in its own goroutine); Update tells it about
// re-INVITEs (hold, unhold).
type tap struct {
	packet func(pkt *rtp.Packet, peer *peerState, dtmf bool, at time.Time, out *relayOut)
	update func()
	digits bool // the session's own detector still sees RFC 4733 events
}

// lastSent is where the session's outgoing timestamp stands, whichever path
// (pacer or relay) sent last.
type lastSent struct {
	valid bool
	base  uint32    // the media timestamp at `at`
	end   uint32    // the earliest timestamp the next packet may carry
	at    time.Time // when the packet was sent
}

// note records a sent packet unless an earlier one already got further
// (reordered audio, repeated packets of one telephone-event).
func (l *lastSent) note(base, end uint32, at time.Time) {
	if l.valid && int32(end-l.end) <= 0 {
		return
	}
	*l = lastSent{valid: true, base: base, end: end, at: at}
}

// next is the timestamp for media sent now: the clock advanced by the wall
// time since the last packet, and never before the end of that packet
// (RFC 3550 section 5.1: the timestamp reflects the sampling instant).
func (l *lastSent) next(now time.Time) uint32 {
	ts := l.base + uint32(now.Sub(l.at)/(time.Second/8000))
	if int32(ts-l.end) < 0 {
		return l.end
	}
	return ts
}

// relayState maps a relayed source's timestamps onto the session's own.
type relayState struct {
	active bool // false after a prompt, hold or a new source: anchor again
	ssrc   uint32
	offset uint32
}

// relayResult is what happened to one relayed packet.
type relayResult int

const (
	relaySent   relayResult = iota
	relayHeld               // our direction does not send (the remote put us on hold)
	relayPrompt             // a prompt plays on the session: it has the stream
	relayFailed             // the socket refused the packet
	relayClosed             // the session is closed: its leg hung up before the bridge stopped
	relayLate               // the source packet waited over relayLate in its socket: shed
	relayQueued             // in the receiver's chunk: its note is done when the chunk is sent
)

// relayBuf is one relaying goroutine's reusable packet buffer.
type relayBuf struct {
	buf [rtpHeaderSize + rxBufSize]byte
}

// relay sends payload with payload type pt on the session's own outgoing
// stream: its SSRC, its next sequence number, and src's timestamp moved onto
// the session's timeline, continuous with the prompts sent before. When
// relaying starts, resumes or the source changes, the timestamp jumps forward
// by the elapsed time and the marker is set (RFC 3550 section 5.1, RFC 3551
// section 4.1); within a run source timestamps keep their spacing, so the
// packets of one RFC 4733 event keep one timestamp. Nothing is sent while our
// direction does not send or a prompt is playing on the session.
//
// With out (the shared receiver's chunk) the packet is queued and note is
// done when the chunk is sent (relayQueued); otherwise it is sent at once
// and the caller does note.
func (s *Session) relay(src *rtp.Header, pt uint8, payload []byte, event bool, w *relayBuf, out *relayOut, note relayNote) relayResult {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	s.takeBackLocked() // a packet the kernel relay passed up: user space has the stream again
	peer := s.peer.Load()
	switch {
	case s.relayClosing.Load():
		// Close came first (the leg hung up); the Bridge stops right after.
		// Not a send error: nothing is wrong with the socket or the network.
		return relayClosed
	case !peer.sends():
		s.tx.relay.active = false
		return relayHeld
	case s.tx.playing != nil:
		s.tx.relay.active = false
		return relayPrompt
	}
	now := time.Now()
	if now.Sub(note.at) > relayLateMax {
		return relayLate
	}
	ts, marker := s.tx.relayStamp(src, now)
	h := rtpHeader{marker: marker, pt: pt, seq: s.tx.seq, ts: ts, ssrc: s.tx.ssrc}
	s.tx.seq++
	s.tx.started = false // the next prompt anchors after this packet
	if base, end := mediaSpan(ts, payload, event); base != end {
		s.tx.last.note(base, end, now)
	}
	if out != nil {
		if !out.queue(s, peer.remote, h, payload, note) {
			return relayClosed // Close began since the check above
		}
		return relayQueued
	}
	// Close waits for relayInflight before it closes the socket, as for a
	// packet queued in a receiver's chunk.
	s.relayInflight.Add(1)
	if s.relayClosing.Load() {
		s.relayInflight.Add(-1)
		return relayClosed
	}
	var err error
	if n := rtpHeaderSize + len(payload); n > len(w.buf) {
		err = errRelayTooLong
	} else {
		putRTP(w.buf[:n], h, payload)
		err = s.send(w.buf[:n], peer.remote)
	}
	s.relayInflight.Add(-1)
	s.countSend(err)
	if err != nil {
		return relayFailed
	}
	return relaySent
}

// countSend counts one packet handed to the socket, or refused by it.
func (s *Session) countSend(err error) {
	if err != nil {
		s.stats.sendErrors.Add(1)
		s.m.sendErrors.Inc()
		return
	}
	s.stats.packetsOut.Add(1)
}

// mediaSpan is the stretch of timeline a packet covers: a G.711 frame one
// sample per byte; a telephone-event up to its duration so far (RFC 4733
// section 2.5.1.3), both ends at the event's current end.
func mediaSpan(ts uint32, payload []byte, event bool) (base, end uint32) {
	if !event {
		return ts, ts + uint32(len(payload))
	}
	if len(payload) < 4 {
		return ts, ts
	}
	end = ts + uint32(binary.BigEndian.Uint16(payload[2:4]))
	return end, end
}

// relayStamp returns the outgoing timestamp and marker for a relayed packet;
// called with tx.mu held.
func (tx *txState) relayStamp(src *rtp.Header, now time.Time) (uint32, bool) {
	want := tx.tsBase
	if tx.last.valid {
		want = tx.last.next(now)
	}
	r := &tx.relay
	if r.active && r.ssrc == src.SSRC {
		ts := src.Timestamp + r.offset
		if d := int32(ts - want); d > -relayJump && d < relayJump {
			return ts, src.Marker
		}
	}
	*r = relayState{active: true, ssrc: src.SSRC, offset: want - src.Timestamp}
	return want, true
}

// cutPlayback ends the prompt playing on the session, if any: its Play
// returns ErrBridged. It reports whether a prompt was playing.
func (s *Session) cutPlayback() bool {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	st := s.tx.playing
	if st == nil || st.stopped {
		return false
	}
	st.stopped = true
	close(st.cut)
	s.tx.playing = nil
	return true
}
