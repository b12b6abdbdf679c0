package media

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// Send modes of the pacer (PacerConfig.Send).
const (
	// SendAuto batches through io_uring where the kernel allows it and falls
	// back to one sendto per packet otherwise.
	SendAuto = "auto"
	// SendIOURing requires io_uring: Run fails without it.
	SendIOURing = "io_uring"
	// SendEach sends every packet with its own system call.
	SendEach = "sendto"
)

// Receive modes (PacerConfig.Receive).
const (
	// ReceiveShared reads every session of a pacer worker in one epoll
	// receiver (receiver_linux.go); without epoll, as ReceivePerCall.
	ReceiveShared = "shared"
	// ReceivePerCall reads each session in its own goroutine.
	ReceivePerCall = "per_call"
)

// Receive priorities (sip.rtp_priority; PacerConfig.Realtime).
const (
	// PriorityRealtime runs each shared receiver and each pacer worker on a
	// thread of its own at real-time priority where the process may
	// (CAP_SYS_NICE), else as PriorityNormal.
	PriorityRealtime = "realtime"
	// PriorityNormal leaves the receivers to Go's scheduler.
	PriorityNormal = "normal"
)

// outPacket is one RTP packet a pacer worker has marshalled and not yet sent.
type outPacket struct {
	s      *Session
	st     *stream
	due    time.Time
	off, n int // the packet is slab[off:off+n]
	remote netip.AddrPort
	err    error
}

// batch collects the packets of one worker's sub-slot and sends them
// together (batch_linux.go), then the worker accounts for each. It is owned by
// one worker goroutine: no allocation per packet once it has grown.
type batch struct {
	slab []byte
	out  []outPacket
	sys  batchSys // the operating system's part: the ring and its scratch
}

// rtpHeaderSize is the fixed RTP header without CSRCs or extension (RFC 3550
// section 5.1), the only kind we send.
const rtpHeaderSize = 12

// queue writes an RTP packet into the batch, to be sent to remote on s's
// socket.
func (b *batch) queue(s *Session, st *stream, due time.Time, remote netip.AddrPort, h rtpHeader, payload []byte) {
	off := len(b.slab)
	n := rtpHeaderSize + len(payload)
	b.slab = slices.Grow(b.slab, n)[:off+n]
	putRTP(b.slab[off:], h, payload)
	b.out = append(b.out, outPacket{s: s, st: st, due: due, off: off, n: n, remote: remote})
}

// putRTP writes the packet into p, which has room for rtpHeaderSize and the
// payload. The header is written by hand: our packets have no CSRC and no
// extension, and this runs for every packet of every call (prompts and
// relayed audio alike).
func putRTP(p []byte, h rtpHeader, payload []byte) {
	p[0] = 2 << 6 // version 2, no padding, no extension, no CSRC
	p[1] = h.pt & 0x7f
	if h.marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], h.seq)
	binary.BigEndian.PutUint32(p[4:], h.ts)
	binary.BigEndian.PutUint32(p[8:], h.ssrc)
	copy(p[rtpHeaderSize:], payload)
}

// rtpHeader is what varies in the pacer's RTP headers.
type rtpHeader struct {
	marker bool
	pt     uint8
	seq    uint16
	ts     uint32
	ssrc   uint32
}

func (b *batch) bytes(p *outPacket) []byte { return b.slab[p.off : p.off+p.n] }

// sendOne sends p with its own system call; the caller keeps the socket
// open (the shard's sendMu, or the relayed packet's relayInflight).
func (b *batch) sendOne(p *outPacket) {
	p.err = p.s.send(b.bytes(p), p.remote)
}

func (b *batch) reset() {
	clear(b.out)
	b.out = b.out[:0]
	b.slab = b.slab[:0]
}
