//go:build linux

package media

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// receiver reads the RTP of many sessions in one goroutine: an epoll set of
// their sockets, itself waited on through Go's netpoller, so that one wake-up
// drains every socket that has packets. A goroutine per session woken per
// packet put a thousand runnable goroutines on the run queue at a few hundred
// bridged calls per second, and the pacer's workers and the ACD's matching
// waited behind them (execution trace: the dispatcher 100 % busy, mostly
// waiting to run after its replies).
type receiver struct {
	// epfd is the epoll descriptor; ep wraps it once run registers it with
	// the netpoller (a real-time receiver's never is: it sleeps in
	// epoll_wait itself, and the netpoller would wake a Go thread for
	// nothing on each packet).
	ep   *os.File
	epfd int
	// mu guards the slots and every change to the epoll set: once stop has
	// set stopped, epfd is never touched again (its number may be reused).
	mu       sync.Mutex
	slots    []*rxEntry
	free     []uint32
	gen      uint32 // the last registration's generation
	stopped  bool
	quit     chan struct{}
	loopDone chan struct{} // run's loop no longer uses epfd
	done     chan struct{} // run and watch have returned
	// out holds a chunk's relayed packets, sent together (relayout.go);
	// nil: each is sent at once. Owned by run.
	out *relayOut
	// in reads a chunk of ready sockets in one io_uring submission; nil:
	// one recvmsg per socket. Owned by run.
	in *rxBatch
	// realtime asks run for a thread of its own at real-time priority
	// (rxPriority); wakeFD is then the eventfd in the epoll set that stop
	// writes to, and started says whether the thread got the priority.
	realtime bool
	wakeFD   int
	started  chan bool
	// tid is runLocked's thread, 0 while run is on Go's scheduler: set once
	// before started is sent, read by yield and tests.
	tid int
	log *slog.Logger // never nil
}

// rxBatch is the receiver's ring for reads and one request per socket of a
// chunk.
type rxBatch struct {
	ring *uring
	reqs []recvReq // one chunk's, allocated once: the kernel writes into them
	ents []*rxEntry
	q    []*recvReq
}

// rxEvents is how many ready sockets one EpollWait reports, and so one
// round's most reads.
const rxEvents = 256

// rxEntry is one registered session. mu is held by the receiver while it
// reads and handles the session's packets, and by unregister once the
// socket left the epoll set: after that no packet of the session is handled
// and its descriptor is never used again.
type rxEntry struct {
	r      *receiver
	s      *Session
	slot   uint32
	gen    uint32 // tells a stale event of a reused slot apart
	mu     sync.Mutex
	closed bool // set under mu by unregister
}

// rxYieldEvery is how many packets the receiver handles before it lets
// other goroutines run (a pacer worker, a SIP transaction): a burst of a
// thousand sockets is over a core-millisecond of work.
const rxYieldEvery = 64

// newReceiver makes a receiver; batched says it reads and relays a chunk of
// ready sockets in one io_uring submission each (the pacer's send mode
// allows it), where the kernel lets it open the rings.
func newReceiver(batched, realtime bool, log *slog.Logger) (*receiver, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r := &receiver{epfd: fd, log: log, quit: make(chan struct{}), loopDone: make(chan struct{}), done: make(chan struct{})}
	if realtime {
		if err := r.addWake(); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	if batched {
		r.out = newRelayOut()
		r.in = newRxBatch()
	}
	return r, nil
}

// addWake puts the eventfd that stop writes to into the epoll set, for a
// real-time receiver that sleeps in epoll_wait rather than in the netpoller.
func (r *receiver) addWake() error {
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	// Slot 2³²-1 is no session's: entry finds none and the event is skipped.
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(wfd)
		return err
	}
	r.realtime, r.wakeFD, r.started = true, wfd, make(chan bool, 1)
	return nil
}

// batches reports whether the receiver reads, and relays, a chunk of
// sockets in one io_uring submission (the rings opened).
func (r *receiver) batches() (reads, relays bool) { return r.in != nil, r.out != nil }

// newRxBatch opens the ring for batched reads; nil: read one by one.
func newRxBatch() *rxBatch {
	ring, err := newURing(rxYieldEvery)
	if err != nil {
		return nil
	}
	return &rxBatch{ring: ring, reqs: make([]recvReq, rxYieldEvery)}
}

// rxPoll bounds how long a packet waits when the netpoller is slow to say
// the epoll set is readable: a P busy with runnable goroutines does not poll
// the network (sysmon does, every 10 ms), but it does run due timers — the
// same race of the netpoller and a timer as the pacer's clock.
const rxPoll = time.Millisecond

// run reads until stop. It drains the epoll set while anything is ready,
// then waits for the netpoller's word (watch) or rxPoll, whichever first.
func (r *receiver) run() {
	if r.realtime {
		if LockRealtime() {
			r.tid = unix.Gettid()
			r.started <- true
			r.runLocked() // the thread ends with the goroutine, its priority with it
			return
		}
		r.started <- false
	}
	defer close(r.done)
	watched := make(chan struct{})
	defer func() { <-watched }() // stop closes the descriptor once the loop is out: watch returns
	defer close(r.loopDone)
	// The netpoller watches the epoll set (watch): it must not block.
	if err := unix.SetNonblock(r.epfd, true); err != nil {
		close(watched)
		return
	}
	r.ep = os.NewFile(uintptr(r.epfd), "rtp-epoll")
	rc, err := r.ep.SyscallConn()
	if err != nil {
		close(watched)
		return
	}
	wake, idle := make(chan struct{}, 1), make(chan struct{}, 1)
	go func() { defer close(watched); r.watch(rc, idle, wake) }()
	tick := time.NewTicker(rxPoll)
	defer tick.Stop()
	events := make([]unix.EpollEvent, rxEvents)
	buf := make([]byte, rxBufSize)
	var pkt rtp.Packet
	for {
		select {
		case <-r.quit:
			return
		default:
		}
		n, err := unix.EpollWait(r.epfd, events, 0)
		if err != nil && err != unix.EINTR {
			return
		}
		if n > 0 {
			r.handleEvents(events[:n], buf, &pkt)
			continue
		}
		select {
		case idle <- struct{}{}: // let watch wait for the next packet
		default:
		}
		select {
		case <-r.quit:
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// rxPriority is the SCHED_FIFO priority of a real-time receiver's thread:
// above every normal thread (the SIP stack, Redis, PostgreSQL, a load
// generator on the same machine), below the kernel's own real-time threads.
const rxPriority = 10

// LockRealtime locks the calling goroutine to its thread and gives the
// thread the RTP threads' real-time priority; false: not allowed, and
// nothing changed. The goroutine then keeps the thread to its end (the
// thread exits with it, its priority with it). The receivers and pacer
// workers use it, and the bench's RTP peer when asked to be their equal.
func LockRealtime() bool {
	runtime.LockOSThread()
	if setRealtime(true) != nil {
		runtime.UnlockOSThread()
		return false
	}
	return true
}

// setRealtime gives the calling thread the real-time priority (on) or puts
// it back among normal threads; real-time needs CAP_SYS_NICE or an
// RLIMIT_RTPRIO of rxPriority.
func setRealtime(on bool) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
	if on {
		attr.Policy, attr.Priority = unix.SCHED_FIFO, rxPriority
	}
	return unix.SchedSetAttr(0, &attr, 0)
}

// The duty guard of a real-time thread (a receiver's or a pacer worker's):
// within every rxDutyWindow it works at most rxDutyMax of the window, then
// sleeps the window's other 30 % (3 ms), so the SIP stack, Redis and PostgreSQL get
// the rest of that core every 10 ms (the kernel's own throttling would
// leave them a twentieth, and only per second). The thread never leaves
// real-time priority: the guard used to step it down to normal priority
// for a whole second once it was over 70 % busy over a second, and at
// normal priority on a full machine the receiver waited behind every other
// thread — each bridge of the receiver lost ~100 ms of audio at once, and
// under sustained overload the step-down fed on itself. Now every pause
// is 3 ms: a few milliseconds of added
// delay for the packets that arrive meanwhile, never a stall of all
// bridges. Signalling keeps its share; media keeps flowing.
const (
	rxDutyWindow = 10 * time.Millisecond
	rxDutyMax    = 0.7
	// rxDutyLogEvery bounds the guard's log lines to one a second per thread.
	rxDutyLogEvery = time.Second
)

// dutyGuard is one real-time thread's budget, named by who for the log.
type dutyGuard struct {
	start time.Time     // the current window's start
	busy  time.Duration // worked in it
	// paused and pauses count the time given away since the last log line.
	paused time.Duration
	pauses int
	logged time.Time
	cpu    time.Duration // the thread's CPU time at the last call of worked
	log    *slog.Logger
	who    string
}

func newDutyGuard(log *slog.Logger, who string) dutyGuard {
	return dutyGuard{start: time.Now(), log: log, who: who}
}

// worked counts the CPU time the calling thread used since its last call
// (CLOCK_THREAD_CPUTIME_ID, not the wall clock: time the thread spent
// preempted, by other real-time threads of the machine or the kernel's
// throttling, is no work of its own and must not make it pause) and, once
// the window's budget is spent, sleeps the window's unbudgeted share. The
// guard belongs to the thread that calls worked.
func (g *dutyGuard) worked(now time.Time) {
	cpu := ThreadCPU()
	busy := cpu - g.cpu
	if g.cpu == 0 {
		busy = 0 // the first call: the thread's earlier life is not this guard's
	}
	g.cpu = cpu
	pause := g.add(busy, now)
	if pause <= 0 {
		return
	}
	_ = unix.Nanosleep(&unix.Timespec{Nsec: int64(pause)}, nil)
	g.paused += pause
	g.pauses++
	if g.log != nil && now.Sub(g.logged) >= rxDutyLogEvery {
		g.log.Warn(g.who+": over-busy, pausing to leave other threads their share",
			"pauses", g.pauses, "paused", g.paused.Round(time.Microsecond),
			"limit", fmt.Sprintf("%.0f%% of every %v", 100*rxDutyMax, rxDutyWindow))
		g.logged, g.paused, g.pauses = now, 0, 0
	}
}

// add counts a round's busy time, ending at now, and returns how long the
// thread must pause: zero while the window's budget lasts; once it is spent,
// the window's unbudgeted share, after which a new window starts. A thread
// busy without end thus works 7 ms and pauses 3 ms, every 10 ms. The pause
// stays under the 5 ms added-jitter target of a relayed packet.
func (g *dutyGuard) add(busy time.Duration, now time.Time) time.Duration {
	if now.Sub(g.start) >= rxDutyWindow {
		g.start, g.busy = now, 0 // a new window; this round counts in it
	}
	g.busy += busy
	if g.busy <= rxDutyBudget {
		return 0
	}
	pause := rxDutyWindow - rxDutyBudget
	g.start, g.busy = now.Add(pause), 0
	return pause
}

// rxDutyBudget is the work a real-time thread may do in one window.
const rxDutyBudget = time.Duration(rxDutyMax * float64(rxDutyWindow))

// runLocked is run on a real-time thread: it sleeps in epoll_wait itself,
// so the kernel wakes it the moment a packet arrives and lets it run ahead
// of normal threads, where run's netpoller and timer wake-ups wait for a Go
// thread of normal priority to be scheduled first. The goroutine keeps its
// thread and, while it handles packets, its P; it adds rxProcs Ps while it
// runs so that other goroutines keep theirs.
func (r *receiver) runLocked() {
	defer close(r.done)
	defer close(r.loopDone)
	defer addProcs(-addProcs(rxProcs)) // back before stop returns
	events := make([]unix.EpollEvent, rxEvents)
	buf := make([]byte, rxBufSize)
	var pkt rtp.Packet
	guard := newDutyGuard(r.log, "RTP receive")
	for {
		n, err := unix.EpollWait(r.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			return
		}
		select {
		case <-r.quit: // stop wrote wakeFD
			return
		default:
		}
		if n > 0 {
			r.handleEvents(events[:n], buf, &pkt)
		}
		guard.worked(time.Now())
		if n < rxEvents/4 {
			// Let a few more packets gather: woken per packet, the
			// receivers cost 0.3–0.4 cores more at 1,000 bridged calls.
			_ = unix.Nanosleep(&unix.Timespec{Nsec: int64(rxGather)}, nil)
		}
	}
}

// rxGather is how long a real-time receiver lets packets gather after a
// round that found few: a relayed packet waits up to this long more, the
// same for every packet of a leg, so it adds no jitter to speak of.
const rxGather = 400 * time.Microsecond

// watch waits in the netpoller until the epoll set is readable and says so
// on wake, each time run has found the set empty (idle).
func (r *receiver) watch(rc syscall.RawConn, idle <-chan struct{}, wake chan<- struct{}) {
	one := make([]unix.EpollEvent, 1)
	for {
		select {
		case <-r.quit:
			return
		case <-idle:
		}
		// Level-triggered sockets stay ready: peeking here leaves them for run.
		err := rc.Read(func(fd uintptr) bool {
			n, werr := unix.EpollWait(int(fd), one, 0)
			return n > 0 || (werr != nil && werr != unix.EINTR)
		})
		if err != nil {
			return
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// handleEvents reads one datagram from each ready socket: the sockets are
// level-triggered, so one with more is reported again by the next
// EpollWait, and no read is spent on finding a socket empty (EAGAIN). The
// packets relayed meanwhile are sent before the receiver yields and at the
// end.
func (r *receiver) handleEvents(events []unix.EpollEvent, buf []byte, pkt *rtp.Packet) {
	if r.in != nil {
		r.handleBatch(events, pkt)
		return
	}
	handled := 0
	for _, ev := range events {
		if e := r.entry(uint32(ev.Fd), uint32(ev.Pad)); e != nil && r.read(e, buf, pkt) {
			handled++
		}
		if handled >= rxYieldEvery {
			handled = 0
			r.flush()
			r.yield()
		}
	}
	r.flush()
}

// handleBatch reads one datagram from each ready socket, rxYieldEvery
// sockets to a submission to the ring, handles them in order and sends what
// they relayed, then lets other goroutines run before the next chunk. A
// chunk, not the whole round: a packet's relay latency grows with the
// packets read and handled before its relay is sent. Each entry's mu is
// held from before its read until its packet is handled, as read does:
// unregister waits, and the descriptor stays open while the kernel reads it.
func (r *receiver) handleBatch(events []unix.EpollEvent, pkt *rtp.Packet) {
	for len(events) > 0 && r.in != nil {
		n := min(len(events), rxYieldEvery)
		r.readChunk(events[:n], pkt)
		r.flush()
		if events = events[n:]; len(events) > 0 {
			r.yield()
		}
	}
}

// readChunk reads and handles one datagram of each socket of events.
func (r *receiver) readChunk(events []unix.EpollEvent, pkt *rtp.Packet) {
	in := r.in
	in.ents, in.q = in.ents[:0], in.q[:0]
	// The chunk's entries under one hold of r.mu, not one a packet.
	r.mu.Lock()
	for _, ev := range events {
		if e := r.entryLocked(uint32(ev.Fd), uint32(ev.Pad)); e != nil {
			in.ents = append(in.ents, e)
		}
	}
	r.mu.Unlock()
	ents := in.ents
	in.ents = in.ents[:0]
	for _, e := range ents {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			continue
		}
		q := &in.reqs[len(in.q)]
		q.fd = e.s.sock.fd
		in.ents, in.q = append(in.ents, e), append(in.q, q)
	}
	if err := in.ring.recv(in.q); err != nil {
		// The ring broke: read one by one from now on.
		in.ring.close()
		r.in = nil
		for _, e := range in.ents {
			e.mu.Unlock()
		}
		return
	}
	for i, e := range in.ents {
		if q := in.q[i]; q.res >= 0 {
			if src, ok := sockaddrPort(&q.name); ok {
				e.s.handle(q.buf[:q.res], src, pkt, arrival(q.oob[:]), r.out)
			}
		}
		e.mu.Unlock()
	}
}

// yield lets other goroutines run on the receiver's P between chunks; a
// real-time receiver has a thread and a P of its own and keeps them.
func (r *receiver) yield() {
	if !r.onOwnThread() {
		runtime.Gosched()
	}
}

// onOwnThread: run holds a real-time thread of its own (runLocked).
func (r *receiver) onOwnThread() bool { return r.tid != 0 }

// flush sends the relayed packets queued so far.
func (r *receiver) flush() {
	if r.out != nil {
		r.out.flush()
	}
}

// stop ends run and waits for it; the epoll descriptor is closed only once
// run no longer uses it (a closed number may be reused by another file).
func (r *receiver) stop() {
	r.mu.Lock()
	r.stopped = true // no register or unregister uses epfd from here on
	r.mu.Unlock()
	close(r.quit)
	if r.realtime {
		var one = [8]byte{1}
		_, _ = unix.Write(r.wakeFD, one[:]) // wakes runLocked's epoll_wait
	}
	<-r.loopDone
	if r.ep != nil {
		_ = r.ep.Close() // wakes watch out of the netpoller
	} else {
		_ = unix.Close(r.epfd) // runLocked's, or run's that never started
	}
	<-r.done
	if r.out != nil {
		r.out.close() // run flushed every chunk before it returned
	}
	if r.in != nil {
		r.in.ring.close()
	}
	if r.realtime {
		_ = unix.Close(r.wakeFD)
	}
}

func (r *receiver) entry(slot, gen uint32) *rxEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entryLocked(slot, gen)
}

// entryLocked is entry with r.mu held.
func (r *receiver) entryLocked(slot, gen uint32) *rxEntry {
	if int(slot) >= len(r.slots) {
		return nil
	}
	if e := r.slots[slot]; e != nil && e.gen == gen {
		return e
	}
	return nil
}

// read reads one datagram from e's socket and handles it; it reports
// whether there was one.
func (r *receiver) read(e *rxEntry, buf []byte, pkt *rtp.Packet) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	size, src, at, errno := recvMsg(int(e.s.sock.fd), buf)
	if errno != 0 {
		return false // EAGAIN: taken meanwhile; anything else: the next datagram may do
	}
	e.s.handle(buf[:size], src, pkt, at, r.out)
	return true
}

// register adds s to the epoll set; false means s must read on its own.
func (r *receiver) register(s *Session) (*rxEntry, bool) {
	if s.sock.fd < 0 {
		return nil, false
	}
	stampArrivals(s.sock)
	// The session will own a duplicate of the descriptor, out of Go's
	// netpoller (detach); until the entry is in place nothing reads the
	// socket, and a pacer worker's batch sends under the shard's sendMu.
	dup := int32(-1)
	if s.shard != nil && !s.sock.own {
		dup = dupSocket(s.sock.fd)
	}
	fd := s.sock.fd
	if dup >= 0 {
		fd = dup
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fail := func() (*rxEntry, bool) {
		if dup >= 0 {
			_ = unix.Close(int(dup))
		}
		return nil, false
	}
	if r.stopped {
		return fail()
	}
	var slot uint32
	if k := len(r.free); k > 0 {
		slot, r.free = r.free[k-1], r.free[:k-1]
	} else {
		slot = uint32(len(r.slots))
		r.slots = append(r.slots, nil)
	}
	r.gen++
	e := &rxEntry{r: r, s: s, slot: slot, gen: r.gen}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(slot), Pad: int32(e.gen)}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		r.free = append(r.free, slot)
		return fail()
	}
	if dup >= 0 {
		lockWithoutHandoff(&s.shard.sendMu)
		s.sock.fd, s.sock.own = dup, true
		s.shard.sendMu.Unlock()
		// Go deletes the original descriptor from its netpoller and closes
		// it; the socket lives on in the duplicate. A failed close leaves
		// the original watched, and the session works through the duplicate.
		_ = s.conn.Close()
	}
	r.slots[slot] = e
	return e, true
}

// unregister takes e's socket out of the set and waits until the receiver
// is done with it; the caller may close the socket afterwards.
func (e *rxEntry) unregister() {
	r := e.r
	r.mu.Lock()
	if !r.stopped {
		// The socket is still open here: DEL cannot hit another one.
		_ = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, int(e.s.sock.fd), nil)
	}
	r.slots[e.slot] = nil
	r.free = append(r.free, e.slot)
	r.mu.Unlock()
	lockWithoutHandoff(&e.mu) // a packet of e's in hand is handled first
	e.closed = true
	e.mu.Unlock()
}

// stampArrivals has the kernel stamp each datagram's arrival on the socket
// (SO_TIMESTAMPNS): a packet waits in its socket until it is read (behind
// the shared receiver's other sockets, or until a reader goroutine runs), and
// the relay latency of a Bridge counts from the arrival, not the read.
func stampArrivals(sock rawSocket) {
	if sock.fd >= 0 {
		_ = unix.SetsockoptInt(int(sock.fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
}

// rxOOB is room for one SCM_TIMESTAMPNS control message.
const rxOOB = 64

// recvMsg reads one datagram without blocking and without allocating, with
// its arrival time from the kernel (time.Now when the socket gave none).
func recvMsg(fd int, buf []byte) (int, netip.AddrPort, time.Time, unix.Errno) {
	var sa unix.RawSockaddrInet6 // large enough for both families
	var oob [rxOOB]byte
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sa)), Namelen: uint32(unsafe.Sizeof(sa)),
		Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
	if errno != 0 {
		return 0, netip.AddrPort{}, time.Time{}, errno
	}
	at := arrival(oob[:msg.Controllen])
	src, ok := sockaddrPort(&sa)
	if !ok {
		return 0, netip.AddrPort{}, time.Time{}, unix.EAFNOSUPPORT
	}
	return int(n), src, at, 0
}

// sockaddrPort reads an AF_INET or AF_INET6 address the kernel wrote.
func sockaddrPort(sa *unix.RawSockaddrInet6) (netip.AddrPort, bool) {
	be := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(be[0])<<8 | uint16(be[1])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port), true
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port), true
	}
	return netip.AddrPort{}, false
}

// arrival finds the SCM_TIMESTAMPNS message in oob.
func arrival(oob []byte) time.Time {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS &&
			int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return time.Unix(ts.Unix())
		}
		next := unix.CmsgSpace(int(h.Len) - unix.CmsgLen(0))
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return time.Now()
}
