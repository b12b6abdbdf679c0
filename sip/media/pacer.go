package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errPacerStopped is returned by Play once the pacer's Run has returned.
var errPacerStopped = fmt.Errorf("pacer stopped: %w", ErrClosed)

// Pacer is the one scheduler that sends the RTP of every playback in the
// process. A few workers (GOMAXPROCS), each owning a shard of the streams,
// each walk a fixed grid of 2 ms sub-slots (tick k at start + k·2 ms, so no
// drift accumulates; the workers' grids are offset from each other).
// Thousands of calls therefore cost a handful of goroutines and clocks, not a
// timer per call. A worker that wakes a whole frame late skips the missed
// frames instead of sending bursts; RTP timestamps still advance with the
// elapsed time.
type Pacer struct {
	m       *Metrics
	log     *slog.Logger
	send    string
	receive string
	relay   string
	// kernel is the kernel relay while Run runs with one (kernel.go).
	kernel atomic.Pointer[kernelRelay]
	// realtime: receivers and workers at real-time priority (PacerConfig).
	realtime bool
	shards   []*shard
	next     atomic.Uint32
	running  atomic.Bool
	ready    chan struct{} // closed once Run has set up the rings and receivers
	done     chan struct{}
}

// tick is one sub-slot on the grid.
type tick struct {
	n   int64     // 20 ms frame index since the pacer started
	sub int       // sub-slot within the frame, 0..subSlots-1
	due time.Time // start + n·20 ms + sub·subSlot
}

// Each stream sends in one of subSlots phases of the 20 ms frame, so a
// worker sends a tenth of its streams every 2 ms instead of all of them at
// once: every stream keeps a steady 20 ms interval (its packets leave at the
// same phase each frame) and no burst makes the last streams of a frame late.
const (
	subSlots = 10
	subSlot  = frameDuration / subSlots
)

// shard is the set of streams one worker sends.
type shard struct {
	m *Metrics
	// sendMu is held by the worker from the first packet of a sub-slot to
	// the last completion, and by Session.Close around closing its socket: a
	// batched send names sockets by descriptor, which must not be closed (and
	// reused) under it.
	sendMu sync.Mutex
	out    batch
	// rx reads the RTP of the shard's sessions (receiver_linux.go); nil
	// before Run, with ReceivePerCall or without epoll, and stopped after
	// Run: each session then reads in its own goroutine.
	rx      atomic.Pointer[receiver]
	mu      sync.Mutex
	stopped bool
	// realtime: the worker runs on a real-time thread where allowed
	// (realtimeClock); log is where it says it stepped down.
	realtime bool
	log      *slog.Logger
	pending  []*stream           // registered since the last tick, guarded by mu
	active   [subSlots][]*stream // by sub-slot; owned by the worker goroutine
}

// PacerConfig configures a Pacer.
type PacerConfig struct {
	// Metrics may be nil.
	Metrics *Metrics
	// Logger may be nil.
	Logger *slog.Logger
	// Send is SendAuto (also ""), SendIOURing or SendEach.
	Send string
	// Receive is ReceiveShared (also "") or ReceivePerCall.
	Receive string
	// Realtime runs each shared receiver and each worker on a thread of
	// its own at real-time priority, where the process may (CAP_SYS_NICE).
	Realtime bool
	// Relay is RelayAuto (also ""), RelayKernel or RelayUser: where bridges
	// forward audio between legs on this host's loopback.
	Relay string
}

// NewPacer creates a pacer with one worker per usable CPU that batches its
// sends where it can (SendAuto). m may be nil.
func NewPacer(m *Metrics) *Pacer { return NewPacerConfig(PacerConfig{Metrics: m}) }

// NewPacerConfig creates a pacer with one worker per usable CPU.
func NewPacerConfig(cfg PacerConfig) *Pacer {
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pacer{m: m, log: log, send: cfg.Send, receive: cfg.Receive, relay: cfg.Relay, realtime: cfg.Realtime, ready: make(chan struct{}), done: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		p.shards = append(p.shards, &shard{m: m, realtime: cfg.Realtime, log: log})
	}
	return p
}

// Run drives the grid until ctx is done, then returns nil. Call it once; after
// it returns, Play on any session fails with ErrClosed.
func (p *Pacer) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pacer is already running")
	}
	defer close(p.done)
	if err := p.openRings(); err != nil {
		for _, sh := range p.shards {
			sh.shutdown()
		}
		return err
	}
	if err := p.openKernel(); err != nil {
		for _, sh := range p.shards {
			sh.shutdown()
		}
		return err
	}
	defer p.closeKernel()
	p.startReceivers()
	defer p.stopReceivers()
	close(p.ready)
	start := time.Now()
	var wg sync.WaitGroup
	for i, sh := range p.shards {
		// Worker i's grid is offset by i/len of a sub-slot: two workers never
		// wake at the same instant (see shard.run).
		offset := time.Duration(i) * subSlot / time.Duration(len(p.shards))
		wg.Go(func() { sh.run(ctx, start.Add(offset)) })
	}
	wg.Wait()
	return nil
}

// startReceivers gives every shard its shared RTP reader; a shard without
// one leaves its sessions to read in their own goroutines.
func (p *Pacer) startReceivers() {
	if p.receive == ReceivePerCall {
		p.log.Info("RTP receive: one goroutine per call", "mode", ReceivePerCall)
		return
	}
	batched := p.SendMode() == SendIOURing
	var reads, relays bool
	rt := 0
	for _, sh := range p.shards {
		r, err := newReceiver(batched, p.realtime, p.log)
		if err != nil {
			p.log.Warn("RTP receive: one goroutine per call", "error", err)
			return
		}
		reads, relays = r.batches()
		go r.run()
		if r.realtime && <-r.started {
			rt++
		}
		sh.rx.Store(r)
	}
	if p.realtime && rt == 0 {
		p.log.Warn("RTP receive: real-time priority not allowed (needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of 10); normal priority")
	}
	p.log.Info("RTP receive: one epoll reader per worker", "readers", len(p.shards),
		"reads_batched", reads, "relay_batched", relays, "realtime", rt)
}

// stopReceivers stops the shared readers once the workers are done; their
// sessions have been closed by then, or read nothing more. A stopped
// receiver registers nothing: later sessions read on their own.
func (p *Pacer) stopReceivers() {
	for _, sh := range p.shards {
		if r := sh.rx.Load(); r != nil {
			r.stop()
		}
	}
}

// openKernel loads the kernel relay per the relay mode.
func (p *Pacer) openKernel() error {
	switch p.relay {
	case RelayUser:
		p.log.Info("RTP relay: in user space", "mode", RelayUser)
		return nil
	case "", RelayAuto, RelayKernel:
	default:
		return fmt.Errorf("pacer: unknown relay mode %q (want %s, %s or %s)", p.relay, RelayAuto, RelayKernel, RelayUser)
	}
	k, err := openKernelRelay(p.m, p.log)
	if err != nil {
		if p.relay == RelayKernel {
			return fmt.Errorf("pacer: %w", err)
		}
		p.log.Warn("RTP relay: in user space", "error", err)
		return nil
	}
	go k.run()
	p.kernel.Store(k)
	p.m.kernel.Store(k)
	p.log.Info("RTP relay: bridged audio on loopback forwarded in the kernel", "mode", RelayKernel)
	return nil
}

// closeKernel detaches the kernel relay once the workers are done.
func (p *Pacer) closeKernel() {
	k := p.kernel.Swap(nil)
	if k == nil {
		return
	}
	p.m.kernel.CompareAndSwap(k, nil)
	close(k.stop)
	<-k.done
	k.close()
}

// openRings gives every worker its io_uring per the send mode.
func (p *Pacer) openRings() error {
	switch p.send {
	case SendEach:
		p.log.Info("RTP sends: one system call per packet", "mode", SendEach)
		return nil
	case "", SendAuto, SendIOURing:
	default:
		return fmt.Errorf("pacer: unknown send mode %q (want %s, %s or %s)", p.send, SendAuto, SendIOURing, SendEach)
	}
	for _, sh := range p.shards {
		if err := sh.out.openRing(); err != nil {
			for _, o := range p.shards {
				o.out.close()
			}
			if p.send == SendIOURing {
				return fmt.Errorf("pacer: %w", err)
			}
			p.log.Warn("RTP sends: io_uring unavailable, one system call per packet", "mode", SendAuto, "error", err)
			return nil
		}
	}
	p.log.Info("RTP sends: batched per 2 ms sub-slot through io_uring", "mode", SendIOURing, "workers", len(p.shards))
	return nil
}

// SendMode reports how the workers send once Run has started: SendIOURing
// or SendEach.
func (p *Pacer) SendMode() string {
	if len(p.shards) > 0 && p.shards[0].out.ringOpen() {
		return SendIOURing
	}
	return SendEach
}

// pick assigns a session to a shard, round-robin. All streams of one session
// go to the same shard, so one goroutine sends all of its packets in order.
// A session also keeps one sub-slot for all its streams, so that two Plays
// one after the other never send twice in one frame.
func (p *Pacer) pick() (*shard, int) {
	n := int(p.next.Add(1))
	return p.shards[n%len(p.shards)], (n / len(p.shards)) % subSlots
}

// add registers a stream; it is sent from the next tick on.
func (sh *shard) add(st *stream) error {
	lockWithoutHandoff(&sh.mu) // never make the worker hand sh.mu over (session.go)
	defer sh.mu.Unlock()
	if sh.stopped {
		return errPacerStopped
	}
	sh.pending = append(sh.pending, st)
	sh.m.activeStreams.Inc()
	return nil
}

// run is one worker: it waits for each sub-slot of its own grid (tick k at
// start + k·subSlot) and sends that sub-slot's streams, until ctx is done.
//
// The worker waits on its own clock rather than being handed ticks by a
// clock goroutine: a goroutine woken by a timer runs next on that P, but one
// goroutine waking two workers in a row pushes the first out of that place
// to the back of the run queue, behind every runnable SIP goroutine — tens
// of milliseconds under a few hundred calls per second. When the worker
// wakes a whole frame or more late it skips the missed frames instead of
// sending bursts; RTP timestamps still advance with the elapsed time.
func (sh *shard) run(ctx context.Context, start time.Time) {
	defer sh.shutdown()
	// A real-time worker sleeps on its own thread (realtimeClock); only
	// the others need newClock's timerfd and timer, whose reader would
	// otherwise wake through the netpoller every sub-slot for nothing.
	var grid gridClock
	if sh.realtime {
		if rt, ok := realtimeClock(ctx, start, subSlot, sh.log); ok {
			grid = rt
			defer addProcs(-addProcs(workerProcs))
		}
	}
	if grid == nil {
		grid = newClock(ctx, start, subSlot)
	}
	last := int64(0) // sub-slots done so far
	for {
		n, ok := grid.wait()
		if !ok {
			return
		}
		now := last + n
		if now-last > subSlots {
			missed := (now - last - 1) / subSlots
			sh.m.skippedTicks.Add(float64(missed))
			last += missed * subSlots
		}
		for k := last + 1; k <= now; k++ {
			sh.step(tick{n: k / subSlots, sub: int(k % subSlots), due: start.Add(time.Duration(k) * subSlot)})
		}
		last = now
	}
}

// step sends one frame of every active stream of sub-slot t.sub, all in one
// batch, and drops finished streams.
func (sh *shard) step(t tick) {
	sh.mu.Lock()
	for _, st := range sh.pending {
		sh.active[st.sess.slot] = append(sh.active[st.sess.slot], st)
	}
	clear(sh.pending)
	sh.pending = sh.pending[:0]
	sh.mu.Unlock()
	sh.sendMu.Lock()
	defer sh.sendMu.Unlock()
	now := time.Now() // one clock read for the frames of the sub-slot
	active := sh.active[t.sub]
	keep := active[:0]
	for _, st := range active {
		if st.sess.sendFrame(st, t, now, &sh.out) {
			keep = append(keep, st)
		} else {
			sh.m.activeStreams.Dec()
		}
	}
	clear(active[len(keep):])
	sh.active[t.sub] = keep
	sh.flush()
}

// flush sends the sub-slot's batch and accounts for every packet.
func (sh *shard) flush() {
	b := &sh.out
	if len(b.out) == 0 {
		return
	}
	b.send()
	sent := time.Now() // when the kernel had them all
	for i := range b.out {
		p := &b.out[i]
		if p.err != nil {
			p.s.stats.sendErrors.Add(1)
			sh.m.sendErrors.Inc()
			p.st.lastSent = time.Time{}
			continue
		}
		var interval float64
		if !p.st.lastSent.IsZero() {
			interval = sent.Sub(p.st.lastSent).Seconds()
		}
		p.st.lastSent = sent
		p.s.stats.packetsOut.Add(1)
		sh.m.observeSend(sent.Sub(p.due).Seconds(), interval)
	}
	b.reset()
}

func (sh *shard) shutdown() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sendMu.Lock()
	sh.out.close()
	sh.sendMu.Unlock()
	sh.stopped = true
	n := len(sh.pending)
	for i := range sh.active {
		n += len(sh.active[i])
		sh.active[i] = nil
	}
	sh.m.activeStreams.Sub(float64(n))
	sh.pending = nil
}

// stream is one Play call: a cursor over its prompts. Its fields are guarded
// by the owning session's tx.mu.
type stream struct {
	sess     *Session
	prompts  []*Prompt
	loop     bool
	pi, fi   int       // current prompt and frame
	marker   bool      // the next packet starts a talkspurt (RFC 3551 section 4.1)
	lastSent time.Time // for the send-interval histogram; owned by the worker
	stopped  bool
	done     chan struct{} // closed after the last frame
	cut      chan struct{} // closed when a Bridge takes the session over
}

// newStream returns nil when the prompts hold no frame at all.
func newStream(s *Session, prompts []*Prompt, loop bool) *stream {
	st := &stream{sess: s, prompts: prompts, loop: loop, marker: true,
		done: make(chan struct{}), cut: make(chan struct{})}
	if !st.seek(0) {
		return nil
	}
	return st
}

// seek moves the cursor to the first frame of the first non-empty prompt at
// or after i, wrapping when looping. It reports false at the end.
func (st *stream) seek(i int) bool {
	for range len(st.prompts) + 1 {
		if i == len(st.prompts) {
			if !st.loop {
				return false
			}
			i = 0
		}
		if st.prompts[i].frames > 0 {
			st.pi, st.fi = i, 0
			return true
		}
		i++
	}
	return false
}

// next returns the current frame for codec c and advances; last is true when
// this was the final frame.
func (st *stream) next(c Codec) (payload []byte, last bool) {
	p := st.prompts[st.pi]
	payload = p.frame(c, st.fi)
	st.fi++
	if st.fi < p.frames {
		return payload, false
	}
	return payload, !st.seek(st.pi + 1)
}

// txState is a session's RTP sender state (RFC 3550 section 5.1): random
// SSRC, sequence number and timestamp origin, fixed for the session so
// timestamps continue across prompts and relayed audio (relay.go): both
// share one outgoing stream.
type txState struct {
	mu       sync.Mutex
	ssrc     uint32
	seq      uint16
	tsBase   uint32
	tickBase int64 // grid slot of tsBase
	started  bool  // tsBase/tickBase anchor the pacer; false after relaying
	playing  *stream
	last     lastSent
	relay    relayState
}

// sendFrame is called by the stream's worker on tick t. It reports whether
// the stream stays registered.
func (s *Session) sendFrame(st *stream, t tick, now time.Time, b *batch) bool {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	if st.stopped {
		return false
	}
	if !s.tx.started {
		s.tx.started, s.tx.tickBase = true, t.n
		if s.tx.last.valid {
			// After relayed audio the prompt goes on from where the wall
			// clock is, never back (RFC 3550 section 5.1).
			s.tx.tsBase = s.tx.last.next(now)
		}
	}
	peer := s.peer.Load()
	// A frame whose tick was skipped is sent at the next one (the RTP
	// timestamp still jumps with the grid): prompts stay whole under load,
	// at the cost of ending late.
	payload, last := st.next(peer.neg.Codec)
	// sockClosed is guarded by the shard's sendMu, which step holds.
	if peer.sends() && payload != nil && !s.sockClosed {
		s.write(st, t, now, peer, payload, b)
	} else {
		// On hold the timing goes on silently; the first packet after it
		// starts a new talkspurt.
		st.marker, st.lastSent = true, time.Time{}
	}
	if last {
		st.stopped = true
		close(st.done)
		if s.tx.playing == st {
			s.tx.playing = nil
		}
	}
	return !last
}

// write marshals one packet into the worker's batch, which sends it when
// the sub-slot is complete (shard.flush); called with s.tx.mu held.
func (s *Session) write(st *stream, t tick, now time.Time, peer *peerState, payload []byte, b *batch) {
	h := rtpHeader{
		marker: st.marker,
		pt:     peer.neg.Codec.PayloadType,
		seq:    s.tx.seq,
		// The timestamp follows the grid, so skipped ticks and pauses between
		// prompts advance it by the elapsed frames (RFC 3550 section 5.1).
		ts:   s.tx.tsBase + uint32(t.n-s.tx.tickBase)*frameSamples,
		ssrc: s.tx.ssrc,
	}
	s.tx.seq++
	st.marker = false
	s.tx.relay.active = false
	s.tx.last.note(h.ts, h.ts+frameSamples, now)
	b.queue(s, st, t.due, peer.remote, h, payload)
}

// procs counts the Ps added for real-time receivers and workers over every
// running pacer (addProcs), and base is GOMAXPROCS before the first was
// added.
var procs struct {
	sync.Mutex
	added, base int
}

// How many Ps a real-time thread adds while it runs (addProcs): one it
// keeps while it works, and for a receiver a spare, so that back from
// epoll_wait it finds a P idle (the runtime lends a P stuck in a system call
// to other goroutines only when none is idle) and does not wait for a normal
// thread to hand it one.
const (
	rxProcs     = 2
	workerProcs = 1
)

// addProcs adds n Ps (n < 0 takes them back) and returns n: a real-time
// receiver or worker keeps its P while it works, which would otherwise be a
// P the rest of the server runs on (rxProcs, workerProcs).
func addProcs(n int) int {
	if n == 0 {
		return 0
	}
	procs.Lock()
	defer procs.Unlock()
	if procs.added == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	procs.added += n
	runtime.GOMAXPROCS(procs.base + procs.added)
	return n
}
