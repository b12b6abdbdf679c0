package sip

import (
	"net"
	"syscall"
)

// socketBuffers reads the buffer sizes back. Linux reports twice the usable
// size it keeps for bookkeeping (socket(7)); halved here so that the result
// compares with what was asked.
func socketBuffers(uc *net.UDPConn, _ int) (rcv, snd int, err error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var gerr error
	err = rc.Control(func(fd uintptr) {
		if rcv, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); gerr != nil {
			return
		}
		snd, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	if err == nil {
		err = gerr
	}
	return rcv / 2, snd / 2, err
}
