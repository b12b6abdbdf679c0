package sip

import (
	"fmt"
	"net"
)

// sipSocketBuffer is the receive and send buffer asked for the SIP UDP
// socket. The kernel's default (about 208 KiB on Linux) holds some 200
// messages: at a few hundred calls a second (INVITE, ACK, INFO, BYE and the
// agent legs' answers, ten or so messages a call) a 100 ms pause of the
// reader on a busy machine overflowed it, and every dropped INVITE or ACK
// cost its caller a retransmission, 0.5–4 s (bench at 300 calls/s: 1,369
// drops, 1,045 SIPp retransmissions). 4 MiB holds more than a second of
// that. Linux caps it at net.core.rmem_max / wmem_max.
const sipSocketBuffer = 4 << 20

// sizeBuffers asks for bytes of receive and send buffer on the UDP socket
// and returns what the kernel granted (reads back where the OS tells).
// A grant below the ask is not an error: the caller logs it, naming the
// sysctl to raise.
func sizeBuffers(pc net.PacketConn, bytes int) (rcv, snd int, err error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return 0, 0, fmt.Errorf("size sip socket buffers: %T is not a UDP socket", pc)
	}
	if err := uc.SetReadBuffer(bytes); err != nil {
		return 0, 0, fmt.Errorf("set sip socket receive buffer: %w", err)
	}
	if err := uc.SetWriteBuffer(bytes); err != nil {
		return 0, 0, fmt.Errorf("set sip socket send buffer: %w", err)
	}
	return socketBuffers(uc, bytes)
}
