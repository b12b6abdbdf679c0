package media

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// errPacerStopped is returned by Play once the pacer's Run has returned.
var errPacerStopped = fmt.Errorf("pacer stopped: %w", ErrClosed)

// Pacer is the one scheduler that sends the RTP of every playback in the
// process. One clock goroutine walks a fixed 20 ms grid (tick n at
// start + n·20 ms, so no drift accumulates) and hands each tick to a few
// workers (GOMAXPROCS), each owning a shard of the streams. Thousands of calls
// therefore cost a handful of goroutines and one timer, not a timer per call.
// When the clock wakes up a whole tick late it skips the missed ticks instead
// of sending bursts; RTP timestamps still advance with the elapsed time.
type Pacer struct {
	m       *Metrics
	shards  []*shard
	next    atomic.Uint32
	running atomic.Bool
	done    chan struct{}
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
	m       *Metrics
	ticks   chan tick
	mu      sync.Mutex
	stopped bool
	pending []*stream // registered since the last tick, guarded by mu
	active  []*stream // owned by the worker goroutine
}

// NewPacer creates a pacer with one worker per usable CPU. m may be nil.
func NewPacer(m *Metrics) *Pacer {
	if m == nil {
		m = NewMetrics(nil)
	}
	p := &Pacer{m: m, done: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		p.shards = append(p.shards, &shard{m: m, ticks: make(chan tick, 2*subSlots)})
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
	var wg sync.WaitGroup
	for _, sh := range p.shards {
		wg.Go(func() { sh.run(ctx) })
	}
	p.clock(ctx)
	wg.Wait()
	return nil
}

// clock sleeps to each absolute grid slot and posts it to every shard.
func (p *Pacer) clock(ctx context.Context) {
	start := time.Now()
	timer := time.NewTimer(subSlot)
	defer timer.Stop()
	last := int64(0) // sub-slots handed out so far
	for {
		due := start.Add(time.Duration(last+1) * subSlot)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := int64(time.Since(start) / subSlot)
		if now-last > subSlots {
			// A whole frame or more missed: skip it, never burst.
			missed := (now - last - 1) / subSlots
			p.m.skippedTicks.Add(float64(missed))
			last += missed * subSlots
		}
		for m := last + 1; m <= now; m++ {
			t := tick{n: m / subSlots, sub: int(m % subSlots), due: start.Add(time.Duration(m) * subSlot)}
			for _, sh := range p.shards {
				sh.post(t)
			}
		}
		last = max(last, now)
	}
}

// pick assigns a session to a shard, round-robin. All streams of one session
// go to the same shard, so one goroutine sends all of its packets in order.
// A session also keeps one sub-slot for all its streams, so that two Plays
// one after the other never send twice in one frame.
func (p *Pacer) pick() (*shard, int) {
	n := int(p.next.Add(1))
	return p.shards[n%len(p.shards)], (n / len(p.shards)) % subSlots
}

// post hands t to the worker. A worker a whole frame behind loses its oldest
// sub-slot: it skips, never bursts.
func (sh *shard) post(t tick) {
	select {
	case sh.ticks <- t:
		return
	default:
	}
	select {
	case <-sh.ticks:
		sh.m.skippedTicks.Inc()
	default:
	}
	select {
	case sh.ticks <- t:
	default:
	}
}

// add registers a stream; it is sent from the next tick on.
func (sh *shard) add(st *stream) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.stopped {
		return errPacerStopped
	}
	sh.pending = append(sh.pending, st)
	sh.m.activeStreams.Inc()
	return nil
}

// sender is a worker's reusable packet and buffer: no allocation per packet.
type sender struct {
	pkt rtp.Packet
	buf [1500]byte
}

func (sh *shard) run(ctx context.Context) {
	var w sender
	for {
		select {
		case <-ctx.Done():
			sh.shutdown()
			return
		case t := <-sh.ticks:
			sh.step(t, &w)
		}
	}
}

// step sends one frame of every active stream and drops finished ones.
func (sh *shard) step(t tick, w *sender) {
	sh.mu.Lock()
	sh.active = append(sh.active, sh.pending...)
	clear(sh.pending)
	sh.pending = sh.pending[:0]
	sh.mu.Unlock()
	keep := sh.active[:0]
	for _, st := range sh.active {
		if st.sess.slot != t.sub {
			keep = append(keep, st)
			continue
		}
		if st.sess.sendFrame(st, t, w) {
			keep = append(keep, st)
		} else {
			sh.m.activeStreams.Dec()
		}
	}
	clear(sh.active[len(keep):])
	sh.active = keep
}

func (sh *shard) shutdown() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.stopped = true
	sh.m.activeStreams.Sub(float64(len(sh.active) + len(sh.pending)))
	sh.active, sh.pending = nil, nil
}

// stream is one Play call: a cursor over its prompts. Its fields are guarded
// by the owning session's tx.mu.
type stream struct {
	sess     *Session
	prompts  []*Prompt
	loop     bool
	pi, fi   int       // current prompt and frame
	marker   bool      // the next packet starts a talkspurt (RFC 3551 section 4.1)
	lastSent time.Time // for the send-interval histogram
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
func (s *Session) sendFrame(st *stream, t tick, w *sender) bool {
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
			s.tx.tsBase = s.tx.last.next(time.Now())
		}
	}
	peer := s.peer.Load()
	// A frame whose tick was skipped is sent at the next one (the RTP
	// timestamp still jumps with the grid): prompts stay whole under load,
	// at the cost of ending late.
	payload, last := st.next(peer.neg.Codec)
	if peer.sends() && payload != nil {
		s.write(st, t, peer, payload, w)
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

// write marshals and sends one packet; called with s.tx.mu held.
func (s *Session) write(st *stream, t tick, peer *peerState, payload []byte, w *sender) {
	w.pkt.Header = rtp.Header{
		Version:        2,
		Marker:         st.marker,
		PayloadType:    peer.neg.Codec.PayloadType,
		SequenceNumber: s.tx.seq,
		// The timestamp follows the grid, so skipped ticks and pauses between
		// prompts advance it by the elapsed frames (RFC 3550 section 5.1).
		Timestamp: s.tx.tsBase + uint32(t.n-s.tx.tickBase)*frameSamples,
		SSRC:      s.tx.ssrc,
	}
	w.pkt.Payload = payload
	s.tx.seq++
	st.marker = false
	s.tx.relay.active = false
	n, err := w.pkt.MarshalTo(w.buf[:])
	if err == nil {
		_, err = s.conn.WriteToUDPAddrPort(w.buf[:n], peer.remote)
	}
	now := time.Now() // one clock read per packet serves the relay hand-over and the metrics
	s.tx.last.note(w.pkt.Timestamp, w.pkt.Timestamp+frameSamples, now)
	if err != nil {
		s.stats.sendErrors.Add(1)
		s.m.sendErrors.Inc()
		st.lastSent = time.Time{}
		return
	}
	var interval float64
	if !st.lastSent.IsZero() {
		interval = now.Sub(st.lastSent).Seconds()
	}
	st.lastSent = now
	s.stats.packetsOut.Add(1)
	s.m.observeSend(now.Sub(t.due).Seconds(), interval)
}
