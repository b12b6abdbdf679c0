//go:build linux

package media

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// uring is the smallest io_uring (Linux 5.4+) the media engine needs: it
// hands the kernel a whole sub-slot of the pacer's RTP packets, or a shared
// receiver's chunk of reads or relayed packets, each on its own call's
// socket, in one system call. One sendto per packet costs about 3 µs on loopback here,
// most of it entering and leaving the kernel (page-table isolation); a
// batch through the ring costs about 1 µs per packet (measured with 500
// sockets and batches of 100). sendmmsg cannot do this: it batches on one
// socket only, and every call keeps its own port (symmetric RTP, latching).
//
// A uring belongs to one goroutine (a pacer worker, a receiver); it is not
// safe for concurrent use.
type uring struct {
	fd      int
	entries uint32
	ringMem []byte
	sqeMem  []byte

	sqHead, sqTail, sqMask *uint32
	sqes                   []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer
	res                    []int32 // the results of the current submission, by entry
	sendto                 bool    // IORING_OP_SEND takes a destination (probe)
}

// io_uring ABI (include/uapi/linux/io_uring.h).
const (
	sysIOURingSetup      = 425
	sysIOURingEnter      = 426
	ioringOpSendmsg      = 9
	ioringOpRecvmsg      = 10
	ioringOpSend         = 26
	ioringEnterGetEvents = 1
	ioringOffSQRing      = 0
	ioringOffSQEs        = 0x10000000
	ioringFeatSingleMMap = 1 << 0
	uringSQESize         = 64
	uringCQESize         = 16
)

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	// io_sqring_offsets: head, tail, ring_mask, ring_entries, flags,
	// dropped, array, resv1, user_addr (u64).
	sqOff [10]uint32
	// io_cqring_offsets: head, tail, ring_mask, ring_entries, overflow,
	// cqes, flags, resv1, user_addr (u64).
	cqOff [10]uint32
}

type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off           uint64
	addr          uint64
	len           uint32
	msgFlags      uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFdIn    int32
	addr3, pad2   uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

func init() {
	// The ABI sizes are fixed; a wrong struct layout must not reach the kernel.
	if unsafe.Sizeof(uringSQE{}) != uringSQESize || unsafe.Sizeof(uringCQE{}) != uringCQESize ||
		unsafe.Sizeof(uringParams{}) != 120 {
		panic("media: io_uring struct sizes do not match the kernel ABI")
	}
}

// newURing sets up a ring with room for entries submissions.
func newURing(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd), entries: p.sqEntries}
	if p.features&ioringFeatSingleMMap == 0 {
		r.close()
		return nil, errors.New("io_uring: kernel without IORING_FEAT_SINGLE_MMAP (before 5.4)")
	}
	ringSize := max(p.sqOff[6]+p.sqEntries*4, p.cqOff[5]+p.cqEntries*uringCQESize)
	var err error
	r.ringMem, err = unix.Mmap(r.fd, ioringOffSQRing, int(ringSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: map rings: %w", err)
	}
	r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*uringSQESize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: map submission entries: %w", err)
	}
	base := unsafe.Pointer(&r.ringMem[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff[0]))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff[1]))
	r.sqMask = (*uint32)(unsafe.Add(base, p.sqOff[2]))
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff[0]))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff[1]))
	r.cqMask = (*uint32)(unsafe.Add(base, p.cqOff[2]))
	r.cqes = unsafe.Add(base, p.cqOff[5])
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	// The submission array maps ring slot i to entry i, once and for all.
	array := unsafe.Add(base, p.sqOff[6])
	for i := range p.sqEntries {
		*(*uint32)(unsafe.Add(array, 4*uintptr(i))) = i
	}
	return r, nil
}

func (r *uring) close() {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		_ = unix.Munmap(r.ringMem)
		r.ringMem = nil
	}
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}

// sendReq is one datagram for the ring: buf to name, sent on socket fd.
type sendReq struct {
	fd      int32
	namelen uint32
	name    unix.RawSockaddrInet6 // an AF_INET name fits in it
	buf     []byte
	res     int32       // bytes sent, or a negative errno
	msg     unix.Msghdr // for kernels without IORING_OP_SEND with an address
	iov     unix.Iovec
}

// send sends every request and stores each result in its res. It returns
// when every send has completed, so the requests and their buffers may be
// reused at once. The sockets must stay open until it returns. An error means
// the ring itself failed; the results are then meaningless.
func (r *uring) send(reqs []sendReq) error {
	res, err := r.submit(len(reqs), func(i int) uringSQE {
		q := &reqs[i]
		// Never wait for socket buffer space: a full buffer is a dropped
		// packet, counted, not a stalled pacer.
		sqe := uringSQE{fd: q.fd, msgFlags: unix.MSG_DONTWAIT}
		if r.sendto {
			// IORING_OP_SEND with a destination (Linux 6.0): no message
			// header for the kernel to copy in.
			sqe.opcode = ioringOpSend
			sqe.addr = uint64(uintptr(unsafe.Pointer(&q.buf[0])))
			sqe.len = uint32(len(q.buf))
			sqe.off = uint64(uintptr(unsafe.Pointer(&q.name))) // addr2
			sqe.spliceFdIn = int32(q.namelen)                  // addr_len
		} else {
			q.iov.Base = &q.buf[0]
			q.iov.SetLen(len(q.buf))
			q.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&q.name)), Namelen: q.namelen, Iov: &q.iov, Iovlen: 1}
			sqe.opcode = ioringOpSendmsg
			sqe.addr = uint64(uintptr(unsafe.Pointer(&q.msg)))
			sqe.len = 1
		}
		return sqe
	})
	for i := range res {
		reqs[i].res = res[i]
	}
	return err
}

// recvReq is one datagram read from a ready socket through the ring: into
// buf, with the sender's address and the arrival stamp (SO_TIMESTAMPNS).
type recvReq struct {
	fd   int32
	res  int32 // bytes read, or a negative errno (-EAGAIN: nothing there)
	name unix.RawSockaddrInet6
	oob  [rxOOB]byte
	msg  unix.Msghdr
	iov  unix.Iovec
	buf  [rxBufSize]byte
}

// recv reads one datagram for each request, without waiting (MSG_DONTWAIT:
// the sockets were found ready), and stores each result in its res. The
// sockets must stay open until it returns.
func (r *uring) recv(reqs []*recvReq) error {
	res, err := r.submit(len(reqs), func(i int) uringSQE {
		q := reqs[i]
		q.iov.Base = &q.buf[0]
		q.iov.SetLen(len(q.buf))
		clear(q.oob[:unix.SizeofCmsghdr]) // read whether or not the kernel sets the length
		q.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&q.name)), Namelen: uint32(unsafe.Sizeof(q.name)),
			Iov: &q.iov, Iovlen: 1, Control: &q.oob[0]}
		q.msg.SetControllen(len(q.oob))
		return uringSQE{opcode: ioringOpRecvmsg, fd: q.fd, addr: uint64(uintptr(unsafe.Pointer(&q.msg))),
			len: 1, msgFlags: unix.MSG_DONTWAIT}
	})
	for i := range res {
		reqs[i].res = res[i]
	}
	return err
}

// submit hands the kernel the n entries fill makes, in as many submissions
// as the ring's size needs, and returns their results by entry once all
// have completed. The slice is the ring's until the next submit.
func (r *uring) submit(n int, fill func(i int) uringSQE) ([]int32, error) {
	r.res = slices.Grow(r.res[:0], n)[:n]
	for start := 0; start < n; {
		k := min(n-start, int(r.entries))
		tail := atomic.LoadUint32(r.sqTail)
		for i := range k {
			sqe := fill(start + i)
			sqe.userData = uint64(start + i)
			r.sqes[(tail+uint32(i))&*r.sqMask] = sqe
		}
		atomic.StoreUint32(r.sqTail, tail+uint32(k))
		if err := r.enter(uint32(k)); err != nil {
			return nil, err
		}
		start += k
	}
	return r.res, nil
}

// probe picks IORING_OP_SEND with a destination where the kernel takes it,
// else IORING_OP_SENDMSG, by sending one datagram to itself on loopback.
func (r *uring) probe() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	var last error
	for _, sendto := range []bool{true, false} {
		r.sendto = sendto
		q := []sendReq{{fd: int32(fd), buf: []byte{0}}}
		q[0].namelen, _ = sockaddr(&q[0].name, unix.AF_INET, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)))
		if err := r.send(q); err != nil {
			return err
		}
		if q[0].res == 1 {
			return nil
		}
		last = syscall.Errno(-q[0].res)
	}
	return fmt.Errorf("io_uring probe: a datagram to itself failed: %w", last)
}

// enter submits n entries and reaps their n completions.
func (r *uring) enter(n uint32) error {
	submit, done := n, uint32(0)
	for done < n {
		_, _, errno := syscall.Syscall6(sysIOURingEnter, uintptr(r.fd), uintptr(submit), uintptr(n-done), ioringEnterGetEvents, 0, 0)
		switch errno {
		case 0:
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Nothing was consumed, or completions must be reaped first:
			// reap, then go on.
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		// Entries consumed by the kernel are no longer ours to submit.
		submit = atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
		done += r.reap()
	}
	return nil
}

// reap copies the results of the available completions into res through
// userData and returns how many there were.
func (r *uring) reap() uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for i := head; i != tail; i++ {
		c := (*uringCQE)(unsafe.Add(r.cqes, uintptr(i&*r.cqMask)*uringCQESize))
		r.res[c.userData] = c.res
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}
