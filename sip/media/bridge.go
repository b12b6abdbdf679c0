package media

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Bridge sides; a side's audio is also its channel in the Recorder (S19:
// caller left, agent right).
const (
	sideCaller = 0
	sideAgent  = 1
)

// BridgeOptions configure a Bridge.
type BridgeOptions struct {
	// Recorder, when set, receives both directions (S19). The Bridge does
	// not close it.
	Recorder *Recorder
	// HoldMusic is looped to the side still listening while the other side
	// holds (re-INVITE sendonly or inactive); nil leaves it silent.
	HoldMusic *Prompt
	// CallerDigits keeps the caller session's own DTMF detection on while
	// bridged, so its RFC 4733 digits also reach ReadDigit (flush them
	// before the next menu). The agent's digits are only relayed, never
	// detected, while bridged. Relaying happens either way.
	CallerDigits bool
	// Logger may be nil.
	Logger *slog.Logger
	// Metrics may be nil: the caller session's metrics are used.
	Metrics *Metrics
}

// BridgeStats are a bridge's counters.
type BridgeStats struct {
	CallerToAgent uint64 // audio packets relayed from the caller to the agent
	AgentToCaller uint64 // audio packets relayed from the agent to the caller
	Transcoded    uint64 // audio packets converted between PCMU and PCMA
	DTMF          uint64 // RFC 4733 telephone-event packets passed through
	DroppedHeld   uint64 // not sent: the destination put us on hold, or the source holds and hold music plays
	DroppedPrompt uint64 // not sent: a prompt (hold music) plays to the destination
	DroppedCodec  uint64 // not sent: no conversion between the codecs, or no telephone-event on the destination
	DroppedClosed uint64 // not sent: the destination's session closed (its leg hung up) before the bridge stopped
	DroppedLate   uint64 // not sent: waited over 200 ms in its socket (the receiver behind, overloaded)
	LatencyMean   time.Duration
	LatencyMax    time.Duration // from receiving a packet to handing it to the kernel
}

// Bridge relays the media of two sessions to each other: the caller's leg and
// the agent's. Each accepted packet goes out at once on the other session's
// own RTP stream from the receiving goroutine (no buffering, no extra
// goroutine), converted between PCMU and PCMA when the legs differ, with RFC
// 4733 events passed through.
type Bridge struct {
	caller, agent *Session
	legs          [2]*leg // legs[side] relays what side says
	taps          [2]*tap
	rec           *Recorder
	kr            *kernelRelay // nil: every packet goes through user space
	music         *Prompt
	log           *slog.Logger
	m             *Metrics

	mu      sync.Mutex
	state   int                   // bridgeNew, bridgeRunning, bridgeStopped
	holding [2]context.CancelFunc // hold music playing to side i
	players sync.WaitGroup
}

const (
	bridgeNew = iota
	bridgeRunning
	bridgeStopped
)

// NewBridge prepares a bridge between the caller's and the agent's sessions;
// Start attaches it.
func NewBridge(caller, agent *Session, opts BridgeOptions) *Bridge {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := opts.Metrics
	if m == nil {
		m = caller.m
	}
	b := &Bridge{caller: caller, agent: agent, rec: opts.Recorder, music: opts.HoldMusic,
		log: log.With("component", "bridge"), m: m, kr: caller.kernel()}
	b.legs[sideCaller] = &leg{b: b, side: sideCaller, from: caller, to: agent, dir: dirCallerToAgent}
	b.legs[sideAgent] = &leg{b: b, side: sideAgent, from: agent, to: caller, dir: dirAgentToCaller}
	b.taps[sideCaller] = &tap{packet: b.legs[sideCaller].packet, update: b.reconcile, digits: opts.CallerDigits}
	b.taps[sideAgent] = &tap{packet: b.legs[sideAgent].packet, update: b.reconcile}
	return b
}

// Start stops any prompt playing on either session (its Play returns
// ErrBridged) and starts relaying. Calling it again, or after Stop, does
// nothing.
func (b *Bridge) Start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != bridgeNew {
		return
	}
	b.state = bridgeRunning
	for _, l := range b.legs {
		l.attach(b.kr)
	}
	for side, s := range []*Session{b.caller, b.agent} {
		if s.cutPlayback() {
			b.log.Debug("prompt stopped by bridge", "side", side)
		}
		s.tap.Store(b.taps[side])
	}
	b.m.bridges.Inc()
	b.reconcileLocked()
	b.log.Info("bridged", "caller_codec", b.caller.peer.Load().neg.Codec.Name,
		"agent_codec", b.agent.peer.Load().neg.Codec.Name)
}

// Stop ends relaying and hold music and detaches the bridge, so each session
// is as before Start (own DTMF detection on, prompts play as usual: the
// caller can go on to the survey). No packet is relayed after Stop returns.
// It is idempotent.
func (b *Bridge) Stop() {
	b.mu.Lock()
	if b.state == bridgeStopped {
		b.mu.Unlock()
		return
	}
	wasRunning := b.state == bridgeRunning
	b.state = bridgeStopped
	for side, s := range []*Session{b.caller, b.agent} {
		s.tap.CompareAndSwap(b.taps[side], nil)
		if cancel := b.holding[side]; cancel != nil {
			cancel()
			b.holding[side] = nil
		}
	}
	b.mu.Unlock()
	b.players.Wait()
	for _, l := range b.legs {
		l.mu.Lock() // waits for a packet being relayed right now
		l.off = true
		l.mu.Unlock()
		relayWait(&l.to.relayInflight) // and for one queued in a receiver's chunk
	}
	for _, l := range b.legs {
		l.release() // the kernel forwards no more, and what it forwarded is counted and recorded
	}
	if wasRunning {
		b.m.bridges.Dec()
		st := b.Stats()
		b.log.Info("bridge stopped", "caller_to_agent", st.CallerToAgent, "agent_to_caller", st.AgentToCaller,
			"transcoded", st.Transcoded, "dtmf", st.DTMF, "latency_max", st.LatencyMax)
	}
}

// Stats returns a snapshot of the bridge's counters.
func (b *Bridge) Stats() BridgeStats {
	c, a := b.legs[sideCaller], b.legs[sideAgent]
	b.mu.Lock()
	kc, ka := c.kernelCount(), a.kernelCount()
	b.mu.Unlock()
	st := BridgeStats{CallerToAgent: c.relayed.Load() + kc, AgentToCaller: a.relayed.Load() + ka}
	var latN, latSum int64
	for _, l := range b.legs {
		st.Transcoded += l.transcoded.Load()
		st.DTMF += l.dtmf.Load()
		st.DroppedHeld += l.held.Load()
		st.DroppedPrompt += l.prompt.Load()
		st.DroppedCodec += l.codec.Load()
		st.DroppedClosed += l.closed.Load()
		st.DroppedLate += l.late.Load()
		latN += l.latN.Load()
		latSum += l.latSum.Load()
		st.LatencyMax = max(st.LatencyMax, time.Duration(l.latMax.Load()))
	}
	if latN > 0 {
		st.LatencyMean = time.Duration(latSum / latN)
	}
	return st
}

// reconcile runs after a re-INVITE on either session (Update).
func (b *Bridge) reconcile() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reconcileLocked()
}

// reconcileLocked plays hold music to a side while the other side holds:
// our direction towards the holding side is recvonly or inactive (RFC 3264
// section 8.4). The music, a prompt, pauses the relay to the listener.
func (b *Bridge) reconcileLocked() {
	if b.state != bridgeRunning {
		return
	}
	for _, l := range b.legs {
		l.takeBack() // a new remote, codec or direction: user space decides again
	}
	for side, l := range b.legs {
		listener := 1 - side
		holds := onHold(l.from.Direction())
		want := holds && b.music != nil
		switch {
		case want && b.holding[listener] == nil:
			l.muted.Store(true) // at once, not when the music's first frame goes out
			b.holding[listener] = b.playHold(l.to)
			b.log.Info("hold: music to the other side", "holding_side", side)
		case !want && b.holding[listener] != nil:
			l.muted.Store(false)
			b.holding[listener]()
			b.holding[listener] = nil
			b.log.Info("unhold", "side", side)
		}
	}
}

// onHold reports whether our direction d means the remote holds the call.
func onHold(d Direction) bool { return d == RecvOnly || d == Inactive }

// playHold loops the hold music on s until the returned cancel is called.
func (b *Bridge) playHold(s *Session) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	b.players.Go(func() {
		_, err := s.Play(ctx, []*Prompt{b.music}, PlayOptions{Loop: true})
		if err != nil && !errors.Is(err, context.Canceled) {
			b.log.Debug("hold music ended", "err", err)
		}
	})
	return cancel
}

// leg relays what one side says to the other. packet runs on the source
// session's reader goroutine, which owns the scratch buffers.
type leg struct {
	b        *Bridge
	side     int
	from, to *Session
	dir      string

	mu    sync.Mutex // held while relaying one packet; Stop takes it
	off   bool
	k     *kleg       // the leg's registration with the kernel relay; nil without one
	muted atomic.Bool // the source holds: the destination hears hold music
	pcm   []int16
	enc   []byte
	w     relayBuf

	relayed, transcoded, dtmf, held, prompt, codec, closed, late atomic.Uint64
	latN, latSum, latMax                                         atomic.Int64
	// The last relayed packet's arrival and relay latency, for the added
	// jitter of the next one; only the leg's reader writes them (when it
	// relays the packet, or when its chunk of relayed packets is sent).
	lastAt  time.Time
	lastLat int64
}

// jitterGap: packets further apart than this start a new run (a talk spurt
// after silence suppression, the end of hold) and give no jitter sample.
const jitterGap = 200 * time.Millisecond

// packet is the session tap: one accepted packet from l.from.
func (l *leg) packet(pkt *rtp.Packet, peer *peerState, dtmf bool, at time.Time, out *relayOut) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.off {
		return
	}
	if l.muted.Load() {
		l.drop(&l.held, relayDropHeld) // not recorded either: the holder is not in the conversation
		return
	}
	if dtmf {
		l.event(pkt, at, out)
		return
	}
	l.audio(pkt, peer.neg.Codec, at, out)
}

// audio relays one audio packet, converting between PCMU and PCMA when the
// legs differ (the same codec is copied untouched), and records it.
func (l *leg) audio(pkt *rtp.Packet, src Codec, at time.Time, out *relayOut) {
	dst := l.to.peer.Load().neg.Codec
	same := sameFormat(src, dst)
	if !same || l.b.rec != nil {
		l.pcm = src.Decode(l.pcm[:0], pkt.Payload)
	}
	payload := pkt.Payload
	note := relayNote{l: l, at: at, kind: noteAudio}
	if !same {
		if !playable(src) || !playable(dst) {
			l.drop(&l.codec, relayDropCodec)
			l.record(pkt, at)
			return
		}
		l.enc = dst.Encode(l.enc[:0], l.pcm)
		payload = l.enc
		note.kind = noteTranscoded
	}
	res := l.to.relay(&pkt.Header, dst.PayloadType, payload, false, &l.w, out, note)
	l.settle(res, note)
	l.record(pkt, at)
	if same && (res == relaySent || res == relayQueued) {
		l.offload(pkt, dst.PayloadType)
	}
}

// event passes a telephone-event packet on with the destination's payload
// type (RFC 4733 section 2.1), if the destination negotiated one.
func (l *leg) event(pkt *rtp.Packet, at time.Time, out *relayOut) {
	dst := l.to.peer.Load().neg
	if !dst.DTMF {
		l.drop(&l.codec, relayDropCodec)
		return
	}
	note := relayNote{l: l, at: at, kind: noteEvent}
	l.settle(l.to.relay(&pkt.Header, dst.DTMFPayloadType, pkt.Payload, true, &l.w, out, note), note)
}

// settle accounts for a relay outcome now, unless the packet waits in the
// receiver's chunk (which accounts for it once sent).
func (l *leg) settle(res relayResult, note relayNote) {
	if res != relayQueued {
		note.done(res, time.Now())
	}
}

// account counts a relay outcome and, for a sent packet, its latency from
// the source packet's arrival (at) to its hand-over to the kernel (now).
func (l *leg) account(res relayResult, at, now time.Time) {
	switch res {
	case relaySent:
		lat := int64(now.Sub(at))
		l.latN.Add(1)
		l.latSum.Add(lat)
		if lat > l.latMax.Load() {
			l.latMax.Store(lat) // only this leg's reader writes it
		}
		l.b.m.relayLatency.Observe(float64(lat) / 1e9)
		// Added jitter: how much the relay's delay changed from the leg's
		// previous packet, |D(i-1,i)| of RFC 3550 section 6.4.1 with the
		// relay as the path. A steady delay adds none.
		if gap := at.Sub(l.lastAt); !l.lastAt.IsZero() && gap >= 0 && gap < jitterGap {
			d := lat - l.lastLat
			if d < 0 {
				d = -d
			}
			l.b.m.relayJitter.Observe(float64(d) / 1e9)
		}
		l.lastAt, l.lastLat = at, lat
	case relayHeld:
		l.drop(&l.held, relayDropHeld)
	case relayPrompt:
		l.drop(&l.prompt, relayDropPrompt)
	case relayClosed:
		l.drop(&l.closed, relayDropClosed)
	case relayLate:
		l.drop(&l.late, relayDropLate)
	case relayFailed: // counted by the session as a send error
	}
}

func (l *leg) drop(c *atomic.Uint64, reason string) {
	c.Add(1)
	l.b.m.relayDropped[reason].Inc()
}

// record hands the decoded audio to the recorder, after the packet is on
// its way.
func (l *leg) record(pkt *rtp.Packet, at time.Time) {
	if l.b.rec != nil && len(l.pcm) > 0 {
		l.b.rec.write(l.side, pkt.SSRC, pkt.Timestamp, l.pcm, at)
	}
}
