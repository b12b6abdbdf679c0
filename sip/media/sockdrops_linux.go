package media

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socketDrops is how many datagrams the kernel dropped on the socket fd
// before anyone read them, almost always because its receive buffer was
// full (SO_MEMINFO's SK_MEMINFO_DROPS, the per-socket figure behind
// /proc/net/udp's drops column); false when the kernel does not say.
func socketDrops(fd int) (uint64, bool) {
	if fd < 0 {
		return 0, false
	}
	var v [unix.SK_MEMINFO_VARS]uint32
	n := uint32(unsafe.Sizeof(v))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&v[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 || n <= 4*unix.SK_MEMINFO_DROPS {
		return 0, false
	}
	return uint64(v[unix.SK_MEMINFO_DROPS]), true
}

// SocketDrops is how many datagrams the kernel dropped on c before they
// were read (its receive buffer full); false when the kernel does not say.
func SocketDrops(c *net.UDPConn) (uint64, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var drops uint64
	var ok bool
	if rc.Control(func(fd uintptr) { drops, ok = socketDrops(int(fd)) }) != nil {
		return 0, false
	}
	return drops, ok
}
