//go:build !linux

package media

import (
	"errors"
	"net"
	"net/netip"
)

// Outside Linux every packet is sent with its own system call.

type batchSys struct{}

type rawSocket struct{}

func socketOf(*net.UDPConn) rawSocket { return rawSocket{} }

func (s *Session) send(b []byte, remote netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, remote)
	return err
}

func (s *Session) closeSocket() error { return s.conn.Close() }

func (b *batch) openRing() error { return errors.New("batched sends need Linux io_uring") }

func (b *batch) ringOpen() bool { return false }

func (b *batch) close() {}

func (b *batch) send() {
	for i := range b.out {
		b.sendOne(&b.out[i])
	}
}
