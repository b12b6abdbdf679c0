//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringEntries is the io_uring submission queue size; a larger sub-slot is
// sent in several submissions.
const ringEntries = 512

// batchSys is the io_uring and its requests.
type batchSys struct {
	ring  *uring // nil: one sendto per packet
	reqs  []sendReq
	which []int // reqs[j] sends out[which[j]]
}

// rawSocket is a session socket's descriptor and address family, read once.
// The descriptor is only used while the socket is open: Session.Close closes
// it under the shard's sendMu, which a worker holds while it sends.
type rawSocket struct {
	fd     int32 // -1: unknown, send through Go
	family int
}

func socketOf(c *net.UDPConn) rawSocket {
	s := rawSocket{fd: -1}
	if c == nil {
		return s
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return s
	}
	_ = rc.Control(func(fd uintptr) {
		family, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err == nil && (family == unix.AF_INET || family == unix.AF_INET6) {
			s = rawSocket{fd: int32(fd), family: family}
		}
	})
	return s
}

func (b *batch) openRing() error {
	r, err := newURing(ringEntries)
	if err != nil {
		return err
	}
	if err := r.probe(); err != nil {
		r.close()
		return err
	}
	b.sys.ring = r
	return nil
}

func (b *batch) ringOpen() bool { return b.sys.ring != nil }

func (b *batch) close() {
	if b.sys.ring != nil {
		b.sys.ring.close()
		b.sys.ring = nil
	}
}

// send sends every queued packet and sets each one's err.
func (b *batch) send() {
	y := &b.sys
	if y.ring == nil {
		for i := range b.out {
			b.sendOne(&b.out[i])
		}
		return
	}
	clear(y.reqs)
	y.reqs, y.which = y.reqs[:0], y.which[:0]
	for i := range b.out {
		p := &b.out[i]
		if p.s.sock.fd < 0 {
			b.sendOne(p)
			continue
		}
		y.reqs = append(y.reqs, sendReq{fd: p.s.sock.fd, buf: b.bytes(p)})
		q := &y.reqs[len(y.reqs)-1]
		namelen, ok := sockaddr(&q.name, p.s.sock.family, p.remote)
		if !ok {
			y.reqs = y.reqs[:len(y.reqs)-1]
			b.sendOne(p)
			continue
		}
		q.namelen = namelen
		y.which = append(y.which, i)
	}
	if len(y.reqs) == 0 {
		return
	}
	if err := y.ring.send(y.reqs); err != nil {
		// The ring broke (not a socket): what it sent is unknown, so count
		// the sub-slot as failed rather than send twice, and go on without it.
		for _, i := range y.which {
			b.out[i].err = err
		}
		y.ring.close()
		y.ring = nil
		return
	}
	for j, i := range y.which {
		if r := y.reqs[j].res; r < 0 {
			b.out[i].err = fmt.Errorf("send RTP: %w", syscall.Errno(-r))
		}
	}
}

// sockaddr writes remote as a sockaddr of the socket's family into sa.
func sockaddr(sa *unix.RawSockaddrInet6, family int, remote netip.AddrPort) (uint32, bool) {
	addr, port := remote.Addr(), remote.Port()
	if addr.Zone() != "" {
		return 0, false // a scope id needs an interface lookup: leave it to Go
	}
	be := (*[2]byte)(unsafe.Pointer(&sa.Port))
	be[0], be[1] = byte(port>>8), byte(port)
	switch family {
	case unix.AF_INET:
		addr = addr.Unmap()
		if !addr.Is4() {
			return 0, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = addr.As4()
		return unix.SizeofSockaddrInet4, true
	case unix.AF_INET6:
		sa.Family = unix.AF_INET6
		sa.Addr = addr.As16()
		return unix.SizeofSockaddrInet6, true
	}
	return 0, false
}
