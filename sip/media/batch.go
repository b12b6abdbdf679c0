package media

import (
	"net/netip"
	"slices"
	"time"

	"github.com/pion/rtp"
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
	pkt  rtp.Packet
	slab []byte
	out  []outPacket
	sys  batchSys // the operating system's part: the ring and its scratch
}

// queue marshals b.pkt into the batch, to be sent to remote on s's socket.
func (b *batch) queue(s *Session, st *stream, due time.Time, remote netip.AddrPort) error {
	size := b.pkt.MarshalSize()
	off := len(b.slab)
	b.slab = slices.Grow(b.slab, size)[:off+size]
	n, err := b.pkt.MarshalTo(b.slab[off:])
	if err != nil {
		b.slab = b.slab[:off]
		return err
	}
	b.out = append(b.out, outPacket{s: s, st: st, due: due, off: off, n: n, remote: remote})
	return nil
}

func (b *batch) bytes(p *outPacket) []byte { return b.slab[p.off : p.off+p.n] }

// sendOne sends p with its own system call, through Go's netpoller (which
// also keeps the socket open while it sends).
func (b *batch) sendOne(p *outPacket) {
	_, p.err = p.s.conn.WriteToUDPAddrPort(b.bytes(p), p.remote)
}

func (b *batch) reset() {
	clear(b.out)
	b.out = b.out[:0]
	b.slab = b.slab[:0]
}
