package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// ErrClosed is returned by Play and ReadDigit after Close or a media timeout.
var ErrClosed = errors.New("media session closed")

// digitBuffer is how many digits wait for a reader; when it is full the
// oldest digit is dropped.
const digitBuffer = 32

// SessionConfig configures a Session.
type SessionConfig struct {
	// Conn is the RTP socket (from PortPool.Listen). The session reads from
	// it, sends on it and closes it in Close.
	Conn *net.UDPConn
	// LocalPort is Conn's port, for logs.
	LocalPort int
	// Negotiated is the outcome of the offer/answer exchange.
	Negotiated Negotiated
	// MediaTimeout closes TimedOut when no valid RTP arrives for this long;
	// 0 disables it. It is suspended while our direction does not receive.
	MediaTimeout time.Duration
	// Pacer sends the prompts; required for Play.
	Pacer *Pacer
	// Metrics may be nil.
	Metrics *Metrics
	// Logger may be nil.
	Logger *slog.Logger
	// OnAudio, when set, is called on the reader goroutine for every accepted
	// audio packet. pkt and its Payload are reused: do not keep them.
	// SetOnAudio replaces it at runtime.
	OnAudio func(pkt *rtp.Packet)
}

// PlayOptions modify Session.Play.
type PlayOptions struct {
	// Interruptible stops playback at the first digit (barge-in).
	Interruptible bool
	// Loop repeats the prompts until ctx is done or, if Interruptible, a digit
	// arrives.
	Loop bool
	// Stop, when set with Interruptible, chooses the digits that stop
	// playback; any other digit is consumed, given to Dropped (when set),
	// and playback goes on. A digit that means nothing at this point of a
	// call must neither cut the prompt nor be left for the next question.
	Stop    func(rune) bool
	Dropped func(rune)
}

// SessionStats are a session's packet counters.
type SessionStats struct {
	PacketsIn      uint64 // valid RTP (audio and telephone-event) from the latched source
	PacketsOut     uint64 // RTP packets sent
	SendErrors     uint64 // packets the socket refused
	DroppedRTCP    uint64 // RTCP multiplexed on the RTP port (RFC 5761), not used yet
	DroppedInvalid uint64 // not RTP version 2, bad lengths, bad telephone-event payload
	DroppedForeign uint64 // from another address or SSRC than the latched one
	DroppedBadPT   uint64 // payload type not negotiated
	// DroppedSocket are datagrams the kernel dropped before the session
	// read them (the socket's receive buffer full), read when it closes.
	DroppedSocket uint64
	Digits        uint64 // digits received (RFC 4733 and SIP INFO)
	DigitsDropped uint64 // oldest digits dropped because nobody read them
}

// Session is the media side of one call: it receives and checks RTP, detects
// DTMF, watches for media timeout and plays prompts through the Pacer.
type Session struct {
	conn *net.UDPConn
	sock rawSocket // conn's descriptor, for the pacer's batched sends
	// sockClosed is set by Close under shard.sendMu: from then on the
	// pacer queues nothing for sock, whose descriptor may belong to another
	// socket once Go has really closed it.
	sockClosed bool
	// relayInflight counts relayed packets queued for sock in a shared
	// receiver's chunk and not yet sent; relayClosing, set by Close, stops
	// new ones (relay drops them as closed). Close closes the socket only
	// once the count is zero.
	relayInflight atomic.Int32
	relayClosing  atomic.Bool
	timeout       time.Duration
	pacer         *Pacer
	shard         *shard
	slot          int // the sub-slot of the 20 ms frame this session sends in (pacer.go)
	m             *Metrics
	log           *slog.Logger
	onAudio       atomic.Pointer[func(pkt *rtp.Packet)]
	tap           atomic.Pointer[tap] // a Bridge attached to this session (bridge.go)
	// lport is the socket's local port; kout is the bridge leg the kernel
	// relay may forward onto this session's stream, kin the one it may
	// forward from this session's remote (kernel.go).
	lport     uint16
	kout, kin atomic.Pointer[kleg]

	peer atomic.Pointer[peerState]
	tx   txState

	digits   chan rune
	playSem  chan struct{}
	closed   chan struct{}
	timedOut chan struct{}

	mu       sync.Mutex // guards the lifecycle below
	started  bool
	isClosed bool
	timer    *time.Timer
	// hasTimedOut: timedOut is closed (a timer Reset by SetMediaTimeout may
	// fire again).
	hasTimedOut bool
	readerDone  chan struct{}
	rxReg       *rxEntry // the shared receiver's registration, if any; set by Start under mu

	epoch  time.Time
	lastRx atomic.Int64 // nanoseconds since epoch of the last valid packet
	stats  sessionCounters
	rx     rxState // owned by the reader goroutine
}

type sessionCounters struct {
	packetsIn, packetsOut, sendErrors                         atomic.Uint64
	droppedRTCP, droppedInvalid, droppedForeign, droppedBadPT atomic.Uint64
	droppedSocket                                             atomic.Uint64
	digits, digitsDropped                                     atomic.Uint64
}

// peerState is one negotiated state; Update swaps it atomically.
type peerState struct {
	neg    Negotiated
	remote netip.AddrPort
}

func newPeerState(n Negotiated) *peerState {
	return &peerState{neg: n, remote: netip.AddrPortFrom(n.Remote.Addr().Unmap(), n.Remote.Port())}
}

// sends reports whether our direction lets us send (RFC 3264 section 6.1).
func (p *peerState) sends() bool {
	d := p.neg.Direction
	return (d == SendRecv || d == SendOnly || d == "") && p.remote.IsValid() && p.remote.Port() != 0
}

// receives reports whether the peer is expected to send to us.
func (p *peerState) receives() bool {
	d := p.neg.Direction
	return d == SendRecv || d == RecvOnly || d == ""
}

// NewSession creates a session on cfg.Conn; call Start to begin receiving.
func NewSession(cfg SessionConfig) *Session {
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		conn:       cfg.Conn,
		sock:       socketOf(cfg.Conn),
		timeout:    cfg.MediaTimeout,
		pacer:      cfg.Pacer,
		m:          m,
		log:        log.With("component", "media", "rtp_port", cfg.LocalPort),
		digits:     make(chan rune, digitBuffer),
		playSem:    make(chan struct{}, 1),
		closed:     make(chan struct{}),
		timedOut:   make(chan struct{}),
		readerDone: make(chan struct{}),
		epoch:      time.Now(),
	}
	if s.pacer != nil {
		s.shard, s.slot = s.pacer.pick()
	}
	if cfg.Conn != nil {
		if a, ok := cfg.Conn.LocalAddr().(*net.UDPAddr); ok {
			s.lport = uint16(a.Port)
		}
	}
	// RFC 3550 section 5.1: SSRC, first sequence number and timestamp are random.
	s.tx.ssrc, s.tx.seq, s.tx.tsBase = rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
	s.peer.Store(newPeerState(cfg.Negotiated))
	s.SetOnAudio(cfg.OnAudio)
	return s
}

// Start starts the reader goroutine and the media timeout. Calling it again,
// or after Close, does nothing.
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.isClosed {
		return
	}
	s.started = true
	s.touch()
	s.startReading()
	if s.timeout > 0 {
		s.timer = time.AfterFunc(s.timeout, s.checkTimeout)
	}
}

// Close stops the reader, any playback and the media timeout, and closes the
// socket. It is idempotent. It does NOT release the port: the owner of the
// PortPool does, after Close.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return nil
	}
	s.isClosed = true
	close(s.closed)
	if s.timer != nil {
		s.timer.Stop()
	}
	started, reg := s.started, s.rxReg
	s.mu.Unlock()
	if reg != nil {
		// Out of the shared receiver's set before the descriptor is
		// closed: it must never read a descriptor reused by another socket.
		reg.unregister()
	}
	s.relayClosing.Store(true)
	s.takeBackAll()
	relayWait(&s.relayInflight) // no receiver's chunk names the socket any more
	var err error
	if sh := s.shard; sh != nil {
		// Not while the pacer's worker has a batch naming this socket.
		lockWithoutHandoff(&sh.sendMu)
		s.sockClosed = true
		err = s.closeSocket()
		sh.sendMu.Unlock()
	} else {
		err = s.closeSocket()
	}
	if started {
		<-s.readerDone // the own reader goroutine, if any, has returned
	}
	if err != nil {
		return fmt.Errorf("close rtp socket: %w", err)
	}
	return nil
}

// startReading has the shard's shared receiver read the socket, or starts
// the session's own reader goroutine when there is none (no pacer running,
// no epoll, a socket without a descriptor).
func (s *Session) startReading() {
	if s.shard != nil {
		if r := s.shard.rx.Load(); r != nil {
			if e, ok := r.register(s); ok {
				s.rxReg = e
				close(s.readerDone)
				return
			}
		}
	}
	go s.read()
}

// lockWithoutHandoff takes mu by polling TryLock. A goroutine blocked in
// Lock for over a millisecond puts the mutex in starvation mode, and then the
// holder's Unlock hands it over and yields its P: the holder here is a pacer
// worker, which then waits behind every runnable goroutine (execution trace at
// 400 calls/s: tens of milliseconds). Calls end a few hundred times a second
// and the worker holds sendMu for one sub-slot's batch (well under 2 ms), so
// the poll is short.
func lockWithoutHandoff(mu *sync.Mutex) {
	for !mu.TryLock() {
		time.Sleep(100 * time.Microsecond)
	}
}

// Update applies a new offer/answer outcome (re-INVITE): remote address,
// codec and direction change at once, and the source latch is reset. While
// our direction is recvonly or inactive, Play keeps time but sends nothing.
func (s *Session) Update(n Negotiated) {
	s.peer.Store(newPeerState(n))
	s.touch()
	s.log.Debug("media updated", "remote", n.Remote, "codec", n.Codec.Name, "direction", n.Direction)
	if tp := s.tap.Load(); tp != nil {
		tp.update()
	}
}

// SetOnAudio replaces the OnAudio hook; nil removes it. It is safe to call
// while the session runs: the next accepted audio packet sees the new hook.
func (s *Session) SetOnAudio(f func(pkt *rtp.Packet)) {
	if f == nil {
		s.onAudio.Store(nil)
		return
	}
	s.onAudio.Store(&f)
}

// Direction is our current direction towards the remote party (RFC 3264
// section 6.1): recvonly or inactive means the remote put us on hold and we
// send nothing to it.
func (s *Session) Direction() Direction { return s.peer.Load().neg.Direction }

// TimedOut is closed when no valid RTP arrived for MediaTimeout.
func (s *Session) TimedOut() <-chan struct{} { return s.timedOut }

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() SessionStats {
	c := &s.stats
	var kin, kout uint64 // what the kernel relay forwarded, until its bridge stops
	if k := s.kin.Load(); k != nil {
		kin = k.forwarded()
	}
	if k := s.kout.Load(); k != nil {
		kout = k.forwarded()
	}
	return SessionStats{
		PacketsIn: c.packetsIn.Load() + kin, PacketsOut: c.packetsOut.Load() + kout, SendErrors: c.sendErrors.Load(),
		DroppedRTCP: c.droppedRTCP.Load(), DroppedInvalid: c.droppedInvalid.Load(),
		DroppedForeign: c.droppedForeign.Load(), DroppedBadPT: c.droppedBadPT.Load(),
		DroppedSocket: c.droppedSocket.Load(),
		Digits:        c.digits.Load(), DigitsDropped: c.digitsDropped.Load(),
	}
}

// touch records the arrival of valid media now.
func (s *Session) touch() { s.lastRx.Store(int64(time.Since(s.epoch))) }

// LastPacketAt is when the last valid RTP packet from the latched source
// arrived; before the first one, and after Start, Update (re-INVITE) or a
// stretch on hold, the time media was expected from then on. It reads one
// atomic that the receive path writes anyway.
func (s *Session) LastPacketAt() time.Time {
	return s.epoch.Add(time.Duration(s.lastRx.Load()))
}

// SetMediaTimeout changes the media timeout of a running session (a caller
// waiting in a queue gets a shorter one); 0 disables it. The time already
// idle counts against the new timeout.
func (s *Session) SetMediaTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timeout = max(d, 0)
	if !s.started || s.isClosed {
		return
	}
	switch {
	case s.timer == nil && s.timeout > 0:
		s.timer = time.AfterFunc(s.timeout, s.checkTimeout)
	case s.timer != nil && s.timeout > 0:
		idle := time.Since(s.epoch) - time.Duration(s.lastRx.Load())
		s.timer.Reset(max(s.timeout-idle, 0))
	case s.timer != nil:
		s.timer.Stop()
	}
}

// checkTimeout runs on the AfterFunc timer: it re-arms itself for the rest of
// the window, so the timer is reset once per window, not once per packet.
func (s *Session) checkTimeout() {
	if !s.peer.Load().receives() {
		s.touch() // on hold the peer may send nothing (RFC 3264 section 8.4)
	}
	idle := time.Since(s.epoch) - time.Duration(s.lastRx.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed || s.timeout <= 0 || s.hasTimedOut {
		return
	}
	if idle < s.timeout {
		s.timer.Reset(s.timeout - idle)
		return
	}
	s.hasTimedOut = true
	s.m.timeouts.Inc() // counted before anyone can see the timeout
	close(s.timedOut)
	s.log.Info("media timeout", "idle", idle.Round(time.Millisecond))
}

// rxState is the reader goroutine's own state.
type rxState struct {
	det        DTMFDetector
	latchedFor *peerState // the state the latch belongs to; Update resets it
	src        netip.AddrPort
	ssrc       uint32
	cand       latchCandidate // another source on its way to take over (latch.go)
}

// read owns the socket's receive side until Close.
func (s *Session) read() {
	defer close(s.readerDone)
	buf := make([]byte, rxBufSize)
	oob := make([]byte, rxOOB)
	var pkt rtp.Packet
	stampArrivals(s.sock) // the kernel's arrival time, as the shared receiver has it
	for {
		n, oobn, _, src, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("rtp read failed", "err", err)
			continue
		}
		s.handle(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), &pkt, arrival(oob[:oobn]), nil)
	}
}

// handle checks one datagram and routes it (RFC 3550 appendix A.1, RFC 5761
// section 4 for the RTP/RTCP split).
// at is the arrival time, for the relay latency of a Bridge.
func (s *Session) handle(b []byte, src netip.AddrPort, pkt *rtp.Packet, at time.Time, out *relayOut) {
	if IsRTCP(b) {
		s.drop(dropRTCP, &s.stats.droppedRTCP)
		return
	}
	if err := ValidateRTP(b, pkt); err != nil {
		s.drop(dropInvalid, &s.stats.droppedInvalid)
		return
	}
	peer := s.peer.Load()
	latched := s.rx.latchedFor == peer && src == s.rx.src && pkt.SSRC == s.rx.ssrc
	if !latched && !s.admit(peer, src, pkt) {
		s.drop(dropForeign, &s.stats.droppedForeign)
		return
	}
	dtmf := peer.neg.DTMF && pkt.PayloadType == peer.neg.DTMFPayloadType
	if !dtmf && pkt.PayloadType != peer.neg.Codec.PayloadType {
		s.drop(dropBadPT, &s.stats.droppedBadPT)
		return
	}
	tp := s.tap.Load()
	if dtmf && !s.feedDTMF(pkt, tp == nil || tp.digits) {
		s.drop(dropInvalid, &s.stats.droppedInvalid)
		return
	}
	if !latched {
		s.latch(peer, src, pkt.SSRC)
	}
	s.touch()
	s.stats.packetsIn.Add(1)
	s.m.packetsIn.Inc()
	if f := s.onAudio.Load(); !dtmf && f != nil {
		(*f)(pkt)
	}
	if tp != nil {
		tp.packet(pkt, peer, dtmf, at, out)
	}
}

// noteSocketDrops counts the n datagrams the kernel dropped on the
// session's socket, once, as it closes. A per-call socket holds some 256
// datagrams (5 s of one stream) at the default SO_RCVBUF, so any drop here
// means its reader stalled for seconds, not a duty-guard pause of 3 ms.
func (s *Session) noteSocketDrops(n uint64) {
	if n == 0 {
		return
	}
	s.stats.droppedSocket.Store(n)
	s.m.dropped[dropSocket].Add(float64(n))
}

func (s *Session) drop(reason string, c *atomic.Uint64) {
	c.Add(1)
	s.m.dropped[reason].Inc()
}

// ended returns ErrClosed once the session is closed or timed out.
func (s *Session) ended() error {
	select {
	case <-s.closed:
		return ErrClosed
	case <-s.timedOut:
		return ErrClosed
	default:
		return nil
	}
}
