package media

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// The shared receiver reads a round's ready sockets through one io_uring
// submission (IORING_OP_RECVMSG): each datagram must come with its own
// payload, its sender and the kernel's arrival stamp, as recvMsg gives.
func TestRingRecvSourcePayloadAndArrival(t *testing.T) {
	in := newRxBatch()
	if in == nil {
		t.Skip("io_uring unavailable here")
	}
	defer in.ring.close()
	var conns, phones []*net.UDPConn
	for range 3 {
		c := listenLoopback(t)
		stampArrivals(socketOf(c))
		conns, phones = append(conns, c), append(phones, listenLoopback(t))
	}
	// The kernel turns receive stamps on in deferred work after the first
	// socket asks: a packet received before that is stamped when read.
	time.Sleep(20 * time.Millisecond)
	sent := time.Now()
	for i, p := range phones {
		if _, err := p.WriteToUDPAddrPort([]byte{'a' + byte(i)}, addrOf(conns[i])); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	empty := listenLoopback(t) // nothing sent: -EAGAIN, not a wait
	var q []*recvReq
	for i, c := range append(conns, empty) {
		in.reqs[i].fd = socketOf(c).fd
		q = append(q, &in.reqs[i])
	}
	if err := in.ring.recv(q); err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		r := q[i]
		src, ok := sockaddrPort(&r.name)
		if r.res != 1 || r.buf[0] != 'a'+byte(i) || !ok || src != addrOf(phones[i]) {
			t.Fatalf("socket %d: res %d payload %q from %v; want 1 byte %q from %v", i, r.res, r.buf[:max(r.res, 0)], src, 'a'+rune(i), addrOf(phones[i]))
		}
		at := arrival(r.oob[:])
		if waited := time.Since(at); waited < 40*time.Millisecond || at.Before(sent.Add(-time.Millisecond)) {
			t.Fatalf("socket %d: arrival %v after sending, %v before now: want the kernel's stamp", i, at.Sub(sent), waited)
		}
	}
	if r := q[len(q)-1]; r.res != -int32(unix.EAGAIN) {
		t.Fatalf("empty socket: res %d, want -EAGAIN", r.res)
	}
}

// A relayed packet waits in its receiver's round until the round is sent,
// naming the destination's socket by descriptor. Closing a session must wait
// for it: a socket opened right after Close reuses the descriptor, and must
// never send what the relay queued for the closed one.
func TestCloseDuringRelayNeverSendsOnAReusedDescriptor(t *testing.T) {
	pacer := NewPacer(nil)
	runPacer(t, pacer)
	if pacer.SendMode() != SendIOURing {
		t.Skip("io_uring unavailable here: relayed packets are sent one by one")
	}
	sink := listenLoopback(t)
	pool, err := NewPortPool(33000, 33999)
	if err != nil {
		t.Fatal(err)
	}
	w := newReuseWatch(t, sink, 34000)
	open := func(remote netip.AddrPort) (*Session, int) {
		c, port, err := pool.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession(SessionConfig{Conn: c, Pacer: pacer,
			Negotiated: Negotiated{Codec: PCMU, Remote: remote, Direction: SendRecv}})
		s.Start()
		return s, port
	}
	for round := range 10 {
		type pair struct {
			caller, agent *Session
			port          int
			phone         *net.UDPConn
			stop          chan struct{}
			done          sync.WaitGroup
		}
		var pairs []*pair
		for range 20 {
			p := &pair{phone: listenLoopback(t), stop: make(chan struct{})}
			var cport int
			p.caller, cport = open(addrOf(p.phone)) // the phone's packets latch at once
			p.agent, p.port = open(addrOf(sink))
			defer pool.Release(cport)
			NewBridge(p.caller, p.agent, BridgeOptions{}).Start()
			p.done.Go(func() { // the caller's phone streams until the agent is gone
				for seq := uint16(0); ; seq++ {
					select {
					case <-p.stop:
						return
					default:
					}
					pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PCMU.PayloadType, SequenceNumber: seq,
						Timestamp: uint32(seq) * frameSamples, SSRC: 0xCA11}, Payload: make([]byte, frameSamples)}
					b, _ := pkt.Marshal()
					p.phone.WriteToUDPAddrPort(b, sessionAddr(p.caller))
					time.Sleep(time.Millisecond)
				}
			})
			pairs = append(pairs, p)
		}
		time.Sleep(time.Duration(20+round) * time.Millisecond) // relaying
		for _, p := range pairs {
			p.agent.Close() // while its caller's packets are being relayed to it
			pool.Release(p.port)
			w.reopen(t)
		}
		for _, p := range pairs {
			close(p.stop)
			p.done.Wait()
			p.caller.Close()
		}
	}
	w.check(t, 33000, 33999, "the relay")
}

// TestSharedReceiverDetachesFromNetpoller: a session read by a shared
// receiver sends and receives on its own duplicate of the socket, the Go
// conn closed (out of Go's netpoller, which woke for every packet in and
// out); Close closes the duplicate, so the port is free again.
func TestSharedReceiverDetachesFromNetpoller(t *testing.T) {
	for _, send := range []string{SendAuto, SendEach} {
		t.Run(send, func(t *testing.T) {
			pacer := NewPacerConfig(PacerConfig{Send: send})
			runPacer(t, pacer)
			phone := listenLoopback(t)
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			port := addrOf(conn)
			s := NewSession(SessionConfig{Conn: conn, Pacer: pacer,
				Negotiated: Negotiated{Codec: PCMU, Remote: addrOf(phone), Direction: SendRecv}})
			s.Start()
			defer s.Close()
			if s.rxReg == nil || !s.sock.own {
				t.Fatalf("session not detached: registered %v, own descriptor %v", s.rxReg != nil, s.sock.own)
			}
			if _, err := conn.WriteToUDPAddrPort([]byte{0}, addrOf(phone)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the Go conn still works (%v): the socket is still in the netpoller", err)
			}
			if _, err := phone.WriteToUDPAddrPort(rtpBytes(t, 0, 1, 160, 0xCAFE, make([]byte, 160)), port); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, "a packet in through the duplicate", func() bool { return s.Stats().PacketsIn == 1 })
			// Out through the duplicate: a prompt (the pacer's send path).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			go func() { _, _ = s.Play(ctx, []*Prompt{NewPrompt("detach", tone(3*160))}, PlayOptions{}) }()
			buf := make([]byte, 1500)
			_ = phone.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := phone.Read(buf); err != nil {
				t.Fatalf("no packet out through the duplicate: %v", err)
			}
			cancel()
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			again, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(port))
			if err != nil {
				t.Fatalf("port still bound after Close: the duplicate leaked: %v", err)
			}
			again.Close()
		})
	}
}

// TestBridgeShedsLatePackets: packets that waited over relayLateMax in their
// socket (the receiver behind) are dropped as "late" instead of relayed, so
// an overloaded receiver catches up; fresh packets after them are relayed.
func TestBridgeShedsLatePackets(t *testing.T) {
	for _, send := range []string{SendAuto, SendEach} {
		t.Run(send, func(t *testing.T) {
			r := newRigSend(t, send, RelayUser, legSpec{PCMU, false}, legSpec{PCMU, false})
			br := NewBridge(r.caller, r.agent, BridgeOptions{})
			br.Start()
			defer br.Stop()
			talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 5)
			poll.Until(t, "5 relayed", func() bool { return br.Stats().CallerToAgent == 5 })
			// The receiver stalls on the caller's socket (as one far over
			// its budget would): what arrives meanwhile waits in the socket.
			e := r.caller.rxReg
			e.mu.Lock()
			sent := time.Now()
			talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 5)
			time.Sleep(relayLateMax + 100*time.Millisecond - time.Since(sent))
			e.mu.Unlock()
			poll.Until(t, "5 shed as late", func() bool { return br.Stats().DroppedLate == 5 })
			talk(t, r.a, r.caller, PCMU, 440, 0xA11CE, 5)
			poll.Until(t, "5 more relayed", func() bool { return br.Stats().CallerToAgent == 10 })
			if got := testutil.ToFloat64(r.agent.m.relayDropped[relayDropLate]); got != 5 {
				t.Fatalf("hotline_media_relay_dropped_total{reason=late} = %v, want 5", got)
			}
		})
	}
}
