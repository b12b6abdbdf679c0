//go:build linux

package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"golang.org/x/sys/unix"
)

// TestSharedReceiver: with the pacer running, sessions are read by their
// shard's epoll receiver, not a goroutine each; a closed session reads
// nothing more, and a new socket that reuses its descriptor and slot gets
// only its own packets.
func TestSharedReceiver(t *testing.T) {
	pacer := NewPacer(nil)
	runPacer(t, pacer)
	phone := listenLoopback(t)
	open := func() (*Session, *net.UDPConn) {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession(SessionConfig{Conn: conn, Pacer: pacer,
			Negotiated: Negotiated{Codec: PCMU, Remote: addrOf(phone), Direction: SendRecv}})
		s.Start()
		if s.rxReg == nil {
			t.Fatal("session reads in its own goroutine; want the shard's receiver")
		}
		return s, conn
	}
	send := func(to *net.UDPConn, seq uint16) {
		t.Helper()
		if _, err := phone.WriteToUDPAddrPort(rtpBytes(t, 0, seq, uint32(seq)*160, 0xCAFE, make([]byte, 160)), addrOf(to)); err != nil {
			t.Fatal(err)
		}
	}

	a, aConn := open()
	for seq := range uint16(5) {
		send(aConn, seq)
	}
	poll.Until(t, "5 packets in through the receiver", func() bool { return a.Stats().PacketsIn == 5 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Sessions go to the shards in turn: of the next ones, one is read by
	// a's receiver and takes a's free slot.
	var b *Session
	var bConn *net.UDPConn
	for range len(pacer.shards) {
		s, c := open()
		defer s.Close()
		if s.rxReg.r == a.rxReg.r {
			b, bConn = s, c
		}
	}
	if b == nil || b.rxReg.slot != a.rxReg.slot {
		t.Fatalf("no new session took a's slot %d on a's receiver", a.rxReg.slot)
	}
	if b.rxReg.gen == a.rxReg.gen {
		t.Fatal("reused slot kept its generation: a stale event could reach the new session")
	}
	for seq := range uint16(3) {
		send(bConn, seq)
	}
	send(aConn, 9) // a's socket is closed: nothing arrives, nothing is counted
	poll.Until(t, "3 packets in for the new session", func() bool { return b.Stats().PacketsIn == 3 })
	if got := a.Stats().PacketsIn; got != 5 {
		t.Fatalf("closed session counted %d packets, want 5", got)
	}
}

// TestArrivalTimeFromKernel: a datagram read 50 ms after it arrived carries
// its arrival time (SO_TIMESTAMPNS), not the time it was read, so a Bridge's
// relay latency includes the wait in the socket.
func TestArrivalTimeFromKernel(t *testing.T) {
	conn := listenLoopback(t)
	sock := socketOf(conn)
	if err := unix.SetsockoptInt(int(sock.fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		t.Fatal(err)
	}
	phone := listenLoopback(t)
	sent := time.Now()
	if _, err := phone.WriteToUDPAddrPort([]byte("rtp"), addrOf(conn)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	buf := make([]byte, 64)
	n, src, at, err := recvMsg(int(sock.fd), buf)
	if err != 0 || string(buf[:n]) != "rtp" || src != addrOf(phone) {
		t.Fatalf("recvMsg = %q from %v, %v; want \"rtp\" from %v", buf[:n], src, err, addrOf(phone))
	}
	if waited := time.Since(at); waited < 40*time.Millisecond || at.Before(sent.Add(-time.Millisecond)) {
		t.Fatalf("arrival %v after sending, %v before now: want the kernel's arrival time", at.Sub(sent), waited)
	}
	if _, _, _, err := recvMsg(int(sock.fd), buf); err != unix.EAGAIN {
		t.Fatalf("recvMsg on an empty socket: %v, want EAGAIN", err)
	}
}

// TestPerCallReceive: with Receive per_call a session reads in its own
// goroutine, still with the kernel's arrival stamps.
func TestPerCallReceive(t *testing.T) {
	pacer := NewPacerConfig(PacerConfig{Receive: ReceivePerCall})
	runPacer(t, pacer)
	phone := listenLoopback(t)
	conn := listenLoopback(t)
	s := NewSession(SessionConfig{Conn: conn, Pacer: pacer,
		Negotiated: Negotiated{Codec: PCMU, Remote: addrOf(phone), Direction: SendRecv}})
	s.Start()
	defer s.Close()
	if s.rxReg != nil {
		t.Fatal("per_call session registered with the shared receiver")
	}
	if _, err := phone.WriteToUDPAddrPort(rtpBytes(t, 0, 1, 160, 0xCAFE, make([]byte, 160)), addrOf(conn)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the packet read by the session's goroutine", func() bool { return s.Stats().PacketsIn == 1 })
}

// TestRealtimeReceiver: with sip.rtp_priority realtime, each shared
// receiver runs on a SCHED_FIFO thread of its own when the process may
// (root here), relays as before, adds three Ps per shard while the pacer
// runs (two per receiver, one per worker) and stops at once (stop wakes its
// epoll_wait); without the permission it falls back to the netpoller
// receiver.
func TestRealtimeReceiver(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	pacer := NewPacerConfig(PacerConfig{Realtime: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pacer.Run(ctx) }()
	<-pacer.ready
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	allowed := unix.Geteuid() == 0
	for i, sh := range pacer.shards {
		r := sh.rx.Load()
		if r == nil {
			t.Fatalf("shard %d has no shared receiver", i)
		}
		if r.onOwnThread() != allowed {
			t.Fatalf("shard %d: real-time thread %v, want %v (root: %v)", i, r.onOwnThread(), allowed, allowed)
		}
		if !allowed {
			continue
		}
		attr, err := unix.SchedGetAttr(r.tid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if attr.Policy != unix.SCHED_FIFO || attr.Priority != rxPriority {
			t.Fatalf("shard %d thread %d: policy %d priority %d, want SCHED_FIFO %d", i, r.tid, attr.Policy, attr.Priority, rxPriority)
		}
	}
	wantProcs := procs
	if allowed {
		wantProcs += 3 * len(pacer.shards) // two per receiver, one per worker
	}
	// Each real-time thread adds its Ps once it runs.
	poll.Until(t, fmt.Sprintf("GOMAXPROCS %d while running", wantProcs), func() bool { return runtime.GOMAXPROCS(0) == wantProcs })

	// Packets reach every shard's sessions.
	phone := listenLoopback(t)
	for range len(pacer.shards) {
		conn := listenLoopback(t)
		s := NewSession(SessionConfig{Conn: conn, Pacer: pacer,
			Negotiated: Negotiated{Codec: PCMU, Remote: addrOf(phone), Direction: SendRecv}})
		s.Start()
		defer s.Close()
		if s.rxReg == nil {
			t.Fatal("session reads in its own goroutine; want the shard's receiver")
		}
		for seq := range uint16(4) {
			if _, err := phone.WriteToUDPAddrPort(rtpBytes(t, 0, seq, uint32(seq)*160, 0xBEEF, make([]byte, 160)), addrOf(conn)); err != nil {
				t.Fatal(err)
			}
		}
		poll.Until(t, "4 packets in through the real-time receiver", func() bool { return s.Stats().PacketsIn == 4 })
	}

	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped = true
	if took := time.Since(start); took > time.Second {
		t.Fatalf("pacer took %v to stop: a receiver's epoll_wait was not woken", took)
	}
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Fatalf("GOMAXPROCS %d after stop, want %d back", got, procs)
	}
}

// TestDutyGuard: a real-time receiver over 70 % busy in a second steps down
// to normal priority, and back after a second under it; within a window
// nothing changes.
func TestDutyGuard(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := dutyGuard{start: t0, rt: true}
	step := func(busy, at time.Duration, wantChange, wantRT bool) {
		t.Helper()
		change, rt, share := g.add(busy, t0.Add(at))
		if change != wantChange || rt != wantRT {
			t.Fatalf("busy %v at %v (share %.2f): change %v realtime %v, want %v %v", busy, at, share, change, rt, wantChange, wantRT)
		}
	}
	step(500*time.Millisecond, 500*time.Millisecond, false, true) // mid-window: no verdict
	step(300*time.Millisecond, time.Second, true, false)          // 80 % over the window: step down
	step(600*time.Millisecond, 2*time.Second, true, true)         // 60 % in the next: back up
	step(700*time.Millisecond, 3*time.Second, false, true)        // 70 % is not over
	step(100*time.Millisecond, 3500*time.Millisecond, false, true)
	step(700*time.Millisecond, 4*time.Second, true, false) // 80 % of 1 s
}

// TestStepPriority: the guard's verdict moves the thread off and back onto
// SCHED_FIFO, and says so in the log.
func TestStepPriority(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("real-time priority needs root or CAP_SYS_NICE")
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread exits with the goroutine, priority and all
		policy := func() int {
			attr, err := unix.SchedGetAttr(0, 0)
			if err != nil {
				t.Error(err)
				return -1
			}
			return int(attr.Policy)
		}
		if err := setRealtime(true); err != nil {
			t.Error(err)
			return
		}
		stepPriority(log, "RTP receive", false, 0.8)
		if p := policy(); p != unix.SCHED_NORMAL {
			t.Errorf("after stepping down: policy %d, want SCHED_NORMAL", p)
		}
		stepPriority(log, "RTP receive", true, 0.3)
		if p := policy(); p != unix.SCHED_FIFO {
			t.Errorf("after stepping up: policy %d, want SCHED_FIFO", p)
		}
	}()
	<-done
	for _, want := range []string{`"RTP receive: over-busy, normal priority for the next second" busy=80%`, `"RTP receive: back to real-time priority" busy=30%`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
