//go:build linux

package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
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

// TestDutyGuard: a real-time thread within its budget never pauses; one
// busy without end works 7 ms and pauses 3 ms of every 10 (signalling
// keeps its share), and no pause is longer than 3 ms — never the second at
// normal priority of the old step-down.
func TestDutyGuard(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := dutyGuard{start: t0}
	now := t0
	// Half busy: 1 ms rounds with 1 ms idle between them.
	for range 1000 {
		now = now.Add(time.Millisecond)
		if p := g.add(time.Millisecond, now); p != 0 {
			t.Fatalf("50 %% busy at %v: paused %v", now.Sub(t0), p)
		}
		now = now.Add(time.Millisecond)
	}
	// Overloaded: back-to-back 1 ms rounds for 2 s.
	var paused, longest, run, longestRun time.Duration
	end := now.Add(2 * time.Second)
	for now.Before(end) {
		now = now.Add(time.Millisecond)
		run += time.Millisecond
		p := g.add(time.Millisecond, now)
		if p > 0 {
			longestRun = max(longestRun, run)
			run = 0
		}
		paused += p
		longest = max(longest, p)
		now = now.Add(p)
	}
	share := float64(paused) / float64(2*time.Second)
	if share < 0.25 || share > 0.35 {
		t.Fatalf("overloaded: paused %.0f%% of the time, want about 30%%", 100*share)
	}
	if longest > rxDutyWindow-rxDutyBudget {
		t.Fatalf("longest pause %v, want at most %v", longest, rxDutyWindow-rxDutyBudget)
	}
	if longestRun > rxDutyBudget+time.Millisecond {
		t.Fatalf("worked %v without a pause, want at most the budget %v and one round", longestRun, rxDutyBudget)
	}
}

// TestDutyGuardNoCliff runs the guard on a real SCHED_FIFO thread that is
// busy without end, beside a normal thread on the same CPU (the SIP stack's
// stand-in). The real-time thread must keep its priority (the old guard
// dropped it to normal priority for a second once it had been over 70 %
// busy for one: every bridge of the receiver stalled) and must give the CPU
// away every budget's worth of work (the old guard let it hold the CPU for a
// whole second first, the kernel's throttling leaving others a twentieth).
func TestDutyGuardNoCliff(t *testing.T) {
	if testing.Short() {
		t.Skip("spins a CPU for a second")
	}
	if unix.Geteuid() != 0 {
		t.Skip("real-time priority needs root or CAP_SYS_NICE")
	}
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	const runFor = 1200 * time.Millisecond
	start := time.Now().Add(50 * time.Millisecond)
	type result struct {
		maxGap     time.Duration // longest time off the CPU between two rounds
		maxStretch time.Duration // most CPU used without a pause nor preemption (real-time)
		preempted  int           // stretches during which other threads had a pause's worth of the CPU
		work       time.Duration // CPU used over the run (real-time)
		pauses     int
		policy     int
		err        error
	}
	spin := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	}
	run := func(realtime bool) result {
		runtime.LockOSThread() // the thread exits with the goroutine, priority and all
		var res result
		if err := unix.SchedSetaffinity(0, &cpu0); err != nil {
			return result{err: err}
		}
		if realtime {
			if err := setRealtime(true); err != nil {
				return result{err: err}
			}
		}
		g := newDutyGuard(slog.New(slog.DiscardHandler), "test")
		time.Sleep(time.Until(start))
		last := time.Now()
		stretch, stretchAt := ThreadCPU(), last // CPU and wall time at the end of the last pause
		first := stretch
		// A stretch during which the thread was off the CPU for the
		// unbudgeted share of its wall time (other real-time threads of a
		// loaded machine preempting it) already left the others their
		// share: it is counted, not judged. A round of slack.
		endStretch := func(cpu time.Duration, at time.Time) {
			used := cpu - stretch
			wall := at.Sub(stretchAt)
			if off := wall - used; off+500*time.Microsecond >= wall*(rxDutyWindow-rxDutyBudget)/rxDutyWindow {
				res.preempted++
			} else {
				res.maxStretch = max(res.maxStretch, used)
			}
		}
		for time.Since(start) < runFor {
			spin(500 * time.Microsecond)
			now := time.Now()
			res.maxGap = max(res.maxGap, now.Sub(last)-500*time.Microsecond)
			if realtime {
				before := ThreadCPU()
				g.worked(now)
				if after := time.Now(); after.Sub(now) >= (rxDutyWindow-rxDutyBudget)/2 {
					endStretch(before, now)
					res.pauses++
					stretch, stretchAt = ThreadCPU(), time.Now()
				}
			}
			last = time.Now()
		}
		if realtime {
			endStretch(ThreadCPU(), time.Now())
			res.work = ThreadCPU() - first
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return result{err: err}
		}
		res.policy = int(attr.Policy)
		return res
	}
	var rt, normal result
	done := make(chan struct{}, 2)
	go func() { rt = run(true); done <- struct{}{} }()
	go func() { normal = run(false); done <- struct{}{} }()
	<-done
	<-done
	if rt.err != nil || normal.err != nil {
		t.Skipf("cannot set up the threads: %v %v", rt.err, normal.err)
	}
	if rt.policy != unix.SCHED_FIFO {
		t.Errorf("the busy real-time thread ended with policy %d, want SCHED_FIFO: it stepped down", rt.policy)
	}
	// A stretch is the thread's CPU time between pauses (time preempted by
	// other real-time threads of a shared machine is not in it, and a
	// stretch preempted for the others' whole share is not judged). Windows
	// are wall time: a thread preempted mid-window may start the next one
	// unpaused, so a stretch may span two budgets; a round is 0.5 ms.
	if limit := 2*rxDutyBudget + time.Millisecond; rt.maxStretch > limit {
		t.Errorf("the real-time thread used %v of CPU without a pause, want at most %v", rt.maxStretch, limit)
	}
	// Counted against the work it did, not the wall time: on a machine
	// whose other real-time threads take CPU 0 too, it does less work.
	if rt.pauses < int(rt.work/(2*rxDutyBudget)) {
		t.Errorf("the real-time thread paused %d times in %v (%v of CPU), want one every %v of work", rt.pauses, runFor, rt.work, rxDutyBudget)
	}
	// The normal thread's wait depends on every other normal thread of the
	// machine: logged, not judged.
	t.Logf("real-time thread: %d pauses, longest stretch %v (%d stretches preempted), longest gap %v; normal thread's longest gap %v",
		rt.pauses, rt.maxStretch, rt.preempted, rt.maxGap, normal.maxGap)
}
