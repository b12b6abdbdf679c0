//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
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
	// own: fd is the session's own duplicate and the Go conn is closed, so
	// Go's netpoller no longer watches the socket (detach); the session
	// sends on fd and closes it itself.
	own bool
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

// dupSocket duplicates a session's descriptor for a shared receiver to read
// and the session to send on, out of Go's netpoller; -1: it could not.
// Watched by both the receiver's epoll set and the netpoller's, every packet
// in and every packet out ran both epoll callbacks in the kernel (a send's
// write-space wake-up included), and Go's threads parked in the netpoller
// woke for nothing: about a tenth of the relay's CPU.
func dupSocket(fd int32) int32 {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return int32(nfd)
}

// send sends one datagram on the session's socket without waiting for
// buffer space (a full buffer is a dropped packet, as in the ring). The
// caller keeps the socket open meanwhile: the shard's sendMu, or the
// session's relayInflight.
func (s *Session) send(b []byte, remote netip.AddrPort) error {
	if !s.sock.own {
		_, err := s.conn.WriteToUDPAddrPort(b, remote)
		return err
	}
	var sa unix.RawSockaddrInet6
	zone := remote.Addr().Zone()
	n, ok := sockaddr(&sa, s.sock.family, netip.AddrPortFrom(remote.Addr().WithZone(""), remote.Port()))
	if !ok {
		return fmt.Errorf("send RTP to %v: address family", remote)
	}
	if zone != "" && sa.Family == unix.AF_INET6 {
		// A link-local peer: the zone names the interface (rare, not per packet).
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		} else if id, err := strconv.ParseUint(zone, 10, 32); err == nil {
			sa.Scope_id = uint32(id)
		}
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.sock.fd), uintptr(p), uintptr(len(b)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), uintptr(n))
	if errno != 0 {
		return fmt.Errorf("send RTP: %w", errno)
	}
	return nil
}

// closeSocket closes the session's socket: its own duplicate once
// detached, else the Go conn.
func (s *Session) closeSocket() error {
	if n, ok := socketDrops(int(s.sock.fd)); ok {
		s.noteSocketDrops(n)
	}
	if s.sock.own {
		return unix.Close(int(s.sock.fd))
	}
	return s.conn.Close()
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
