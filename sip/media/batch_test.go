//go:build linux

package media

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// batchSession is a Session with only what batch.send reads: its socket.
func batchSession(t *testing.T, network string, ip net.IP) *Session {
	t.Helper()
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		t.Skipf("%s: %v", network, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Session{conn: c, sock: socketOf(c)}
}

// sendModes are the ways a batch can reach the kernel.
var sendModes = []string{"io_uring send", "io_uring sendmsg", "sendto"}

func sendBatch(t *testing.T, mode string, fill func(b *batch)) *batch {
	t.Helper()
	b := &batch{}
	if mode != "sendto" {
		if err := b.openRing(); err != nil {
			t.Skipf("io_uring unavailable here: %v", err)
		}
		t.Cleanup(b.close)
		if mode == "io_uring send" && !b.sys.ring.sendto {
			t.Skip("this kernel's IORING_OP_SEND takes no destination (before 6.0)")
		}
		b.sys.ring.sendto = mode == "io_uring send"
	}
	fill(b)
	b.send()
	return b
}

// Every packet of a batch leaves from its own session's socket with its own
// bytes, whether through io_uring or one sendto each, on IPv4 and IPv6
// sockets alike (an IPv6 socket sends to an IPv4 peer v4-mapped).
func TestBatchSendsEachPacketFromItsSocket(t *testing.T) {
	for _, mode := range sendModes {
		t.Run(mode, func(t *testing.T) {
			sink := listenLoopback(t)
			dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			var sessions []*Session
			for range 20 {
				sessions = append(sessions, batchSession(t, "udp4", net.IPv4(127, 0, 0, 1)))
			}
			// An IPv6 socket (V6ONLY, as PortPool opens them) to an IPv6 sink.
			sink6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
			if err != nil {
				t.Skipf("no IPv6 loopback: %v", err)
			}
			defer sink6.Close()
			sessions = append(sessions, batchSession(t, "udp6", net.IPv6loopback))
			b := sendBatch(t, mode, func(b *batch) {
				for i, s := range sessions {
					to := dst
					if i == len(sessions)-1 {
						to = sink6.LocalAddr().(*net.UDPAddr).AddrPort()
					}
					b.queue(s, &stream{}, time.Now(), to, rtpHeader{marker: i == 0, pt: 8, seq: uint16(i), ts: uint32(160 * i), ssrc: uint32(1000 + i)},
						bytes.Repeat([]byte{byte(i)}, 160))
				}
			})
			for i := range b.out {
				if b.out[i].err != nil {
					t.Fatalf("packet %d: %v", i, b.out[i].err)
				}
			}
			if mode != "sendto" && !b.ringOpen() {
				t.Fatal("the ring closed itself after a good batch")
			}
			got := map[uint32]netip.AddrPort{}
			buf := make([]byte, 1500)
			sink.SetReadDeadline(time.Now().Add(2 * time.Second))
			sink6.SetReadDeadline(time.Now().Add(2 * time.Second))
			for len(got) < len(sessions) {
				from := sink
				if len(got) == len(sessions)-1 {
					from = sink6
				}
				n, src, err := from.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("received %d of %d packets: %v", len(got), len(sessions), err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(buf[:n]); err != nil {
					t.Fatal(err)
				}
				i := int(p.SSRC - 1000)
				if i < 0 || i >= len(sessions) || !bytes.Equal(p.Payload, bytes.Repeat([]byte{byte(i)}, 160)) {
					t.Fatalf("unexpected packet SSRC %d payload %x…", p.SSRC, p.Payload[:4])
				}
				want := rtp.Header{Version: 2, Marker: i == 0, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: uint32(1000 + i)}
				if h := p.Header; h.Version != want.Version || h.Marker != want.Marker || h.PayloadType != want.PayloadType ||
					h.SequenceNumber != want.SequenceNumber || h.Timestamp != want.Timestamp || h.Padding || h.Extension || len(h.CSRC) != 0 {
					t.Fatalf("packet %d header %+v, want %+v", i, h, want)
				}
				got[p.SSRC] = src
			}
			for i, s := range sessions {
				want := s.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
				if src := got[uint32(1000+i)]; src.Port() != want {
					t.Errorf("packet %d came from port %d, want its session's port %d", i, src.Port(), want)
				}
			}
		})
	}
}

// A packet the kernel refuses fails alone: the others of the batch go out.
func TestBatchErrorIsPerPacket(t *testing.T) {
	for _, mode := range sendModes {
		t.Run(mode, func(t *testing.T) {
			sink := listenLoopback(t)
			dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			s := batchSession(t, "udp4", net.IPv4(127, 0, 0, 1))
			bad := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0) // port 0: EINVAL
			b := sendBatch(t, mode, func(b *batch) {
				for i, to := range []netip.AddrPort{dst, bad, dst} {
					b.queue(s, &stream{}, time.Now(), to, rtpHeader{seq: uint16(i)}, make([]byte, 160))
				}
			})
			if b.out[0].err != nil || b.out[2].err != nil {
				t.Fatalf("good packets failed: %v, %v", b.out[0].err, b.out[2].err)
			}
			if b.out[1].err == nil {
				t.Fatal("a packet to port 0 was reported sent")
			}
			got := receiveN(t, sink, 2, 2*time.Second)
			if len(got) != 2 {
				t.Fatalf("received %d packets, want 2", len(got))
			}
		})
	}
}

// Closing sessions while the pacer plays to them must never let a batch send
// on a descriptor that was closed and handed to a new socket: the new
// sockets (which reuse the descriptors) must send nothing.
func TestCloseDuringBatchesNeverSendsOnAReusedDescriptor(t *testing.T) {
	pacer := NewPacer(nil)
	runPacer(t, pacer)
	ctx := t.Context() // the plays end before the pacer stops

	sink := listenLoopback(t)
	dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	prompt := NewPrompt("tone", tone(8000))
	// Sessions bind ports from one range, the sockets opened after each
	// Close from another: a port of the second range can only have sent
	// through a descriptor a batch should no longer have used.
	pool, err := NewPortPool(31000, 31999)
	if err != nil {
		t.Fatal(err)
	}
	w := newReuseWatch(t, sink, 32000)
	for round := range 20 {
		var sessions []*Session
		var ports []int
		for range 50 {
			c, port, err := pool.Listen(loopback)
			if err != nil {
				t.Fatal(err)
			}
			ports = append(ports, port)
			s := NewSession(SessionConfig{Conn: c, Pacer: pacer,
				Negotiated: Negotiated{Codec: PCMU, Remote: dst, Direction: SendRecv}})
			s.Start()
			go s.Play(ctx, []*Prompt{prompt}, PlayOptions{Loop: true})
			sessions = append(sessions, s)
		}
		// Every session sent at least once (bounded: a loaded machine may
		// delay the pacer), then they close while batches are in flight.
		w.waitHeard(ports, 2*time.Second)
		time.Sleep(time.Duration(round) * time.Millisecond)
		for i, s := range sessions {
			s.Close()
			pool.Release(ports[i])
			w.reopen(t)
		}
	}
	w.check(t, 31000, 31999, "the pacer")
}

// reuseWatch tells whether a batch ever sent on a closed socket's
// descriptor: a sink counts every source port it hears until 300 ms pass
// without a packet, and reopen opens a socket right after a Close, which
// takes the lowest free descriptor (the one just closed) and never sends.
type reuseWatch struct {
	mu      sync.Mutex
	sources map[uint16]int
	reused  map[uint16]bool
	next    int
	stop    chan struct{} // closed by check: from then on 300 ms of silence ends the watch
	done    chan struct{}
}

func newReuseWatch(t *testing.T, sink *net.UDPConn, reusedFrom int) *reuseWatch {
	w := &reuseWatch{sources: map[uint16]int{}, reused: map[uint16]bool{}, next: reusedFrom,
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		buf := make([]byte, 1500)
		for {
			sink.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, src, err := sink.ReadFromUDPAddrPort(buf)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				// A loaded machine may pause the pacer longer than that
				// while the sessions still play: only after check is the
				// silence the end.
				select {
				case <-w.stop:
					return
				default:
					continue
				}
			}
			if err != nil {
				return
			}
			w.mu.Lock()
			w.sources[src.Port()]++
			w.mu.Unlock()
		}
	}()
	return w
}

// waitHeard waits until the sink heard from every port, at most d.
func (w *reuseWatch) waitHeard(ports []int, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		w.mu.Lock()
		all := true
		for _, p := range ports {
			if w.sources[uint16(p)] == 0 {
				all = false
				break
			}
		}
		w.mu.Unlock()
		if all {
			return
		}
	}
}

// reopen opens a socket on the next free port of the reused range.
func (w *reuseWatch) reopen(t *testing.T) {
	var c *net.UDPConn
	for c == nil {
		w.next++
		c, _ = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: w.next})
	}
	t.Cleanup(func() { c.Close() })
	w.mu.Lock()
	w.reused[uint16(w.next)] = true
	w.mu.Unlock()
}

// check waits until the sink has heard nothing for 300 ms, then wants at
// least 1,000 packets from the sessions' ports lo..hi and none from a
// reopened socket.
func (w *reuseWatch) check(t *testing.T, lo, hi uint16, what string) {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	heard := 0
	for port, n := range w.sources {
		if port >= lo && port <= hi {
			heard += n
		}
		if w.reused[port] {
			t.Fatalf("%d packets came from port %d, a socket opened after a Close that never sent: %s used a closed descriptor", n, port, what)
		}
	}
	if heard < 1000 {
		t.Fatalf("the sink heard %d packets from the sessions: the test did not exercise %s", heard, what)
	}
}
