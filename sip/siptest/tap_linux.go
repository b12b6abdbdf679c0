package siptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// RTPTap records the G.711 audio arriving on loopback at one UDP port,
// whoever listens there: what a peer such as SIPp heard, without touching
// its socket or its SDP (a relay in between would be latched away from).
// It reads a packet socket on "lo", so it needs CAP_NET_RAW (root), as
// SIPp's play_pcap_audio does.
type RTPTap struct {
	f    *os.File
	done chan struct{}

	mu      sync.Mutex
	packets []tapPacket
}

type tapPacket struct {
	at  time.Time
	pcm []int16
}

// maxTapPackets bounds what a tap keeps: 10 minutes of 20 ms packets.
const maxTapPackets = 30_000

// TapRTP starts recording the RTP that arrives at 127.0.0.1:port (UDP).
func TapRTP(port int) (*RTPTap, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, fmt.Errorf("rtp tap: %w", err)
	}
	proto := htons(unix.ETH_P_IP)
	// SOCK_DGRAM: packets start at the IP header. Bound to ETH_P_IP the
	// socket sees each loopback packet once, as it is received.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("rtp tap: packet socket (needs root): %w", err)
	}
	if err := setupTap(fd, lo.Index, proto, port); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t := &RTPTap{f: os.NewFile(uintptr(fd), "rtp-tap"), done: make(chan struct{})}
	go t.read()
	return t, nil
}

func setupTap(fd, ifindex int, proto uint16, port int) error {
	// The kernel drops every other packet before it reaches us: the machine's
	// loopback may carry other calls' RTP by the thousand a second.
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, udpDstPortFilter(uint16(port))); err != nil {
		return fmt.Errorf("rtp tap: attach filter: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		return fmt.Errorf("rtp tap: bind to lo: %w", err)
	}
	return nil
}

// udpDstPortFilter is a classic BPF program that keeps unfragmented IPv4
// UDP packets to port (offsets from the IP header, SOCK_DGRAM).
func udpDstPortFilter(port uint16) *unix.SockFprog {
	f := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 9},                        // 0: protocol
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.IPPROTO_UDP, Jf: 6}, // 1: not UDP → drop
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 6},                        // 2: flags, fragment offset
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: 0x1fff, Jt: 4},          // 3: a later fragment → drop
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0},                       // 4: X = IP header length
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},                        // 5: UDP destination port
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(port), Jf: 1},     // 6: another port → drop
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},                                 // 7: keep
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},                                      // 8: drop
	}
	return &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (t *RTPTap) read() {
	defer close(t.done)
	buf := make([]byte, 1<<16)
	for {
		n, err := t.f.Read(buf)
		if err != nil {
			return // closed
		}
		if pcm := tapAudio(buf[:n]); pcm != nil {
			t.mu.Lock()
			if len(t.packets) < maxTapPackets {
				t.packets = append(t.packets, tapPacket{at: time.Now(), pcm: pcm})
			}
			t.mu.Unlock()
		}
	}
}

// tapAudio decodes the G.711 payload of an IPv4/UDP/RTP packet; nil for
// anything else (telephone events, RTCP, not RTP).
func tapAudio(ip []byte) []int16 {
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return nil
	}
	ihl := int(ip[0]&0x0f) * 4
	if len(ip) < ihl+8 {
		return nil
	}
	udpLen := int(binary.BigEndian.Uint16(ip[ihl+4:]))
	if udpLen < 8 || ihl+udpLen > len(ip) {
		return nil
	}
	var p rtp.Packet
	if err := p.Unmarshal(ip[ihl+8 : ihl+udpLen]); err != nil || p.Version != 2 {
		return nil
	}
	for _, c := range []media.Codec{media.PCMU, media.PCMA} {
		if p.PayloadType == c.PayloadType {
			return c.Decode(make([]int16, 0, len(p.Payload)), p.Payload)
		}
	}
	return nil
}

// ReceivedSince is the audio of packets that arrived at or after at, in
// arrival order.
func (t *RTPTap) ReceivedSince(at time.Time) []int16 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int16
	for _, p := range t.packets {
		if !p.at.Before(at) {
			out = append(out, p.pcm...)
		}
	}
	return out
}

// Packets is how many audio packets the tap has recorded.
func (t *RTPTap) Packets() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.packets)
}

// Close stops the tap; what it recorded stays readable.
func (t *RTPTap) Close() error {
	err := t.f.Close()
	<-t.done
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
