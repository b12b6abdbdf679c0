package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hotline-dev/hotline/sip/media"
	"golang.org/x/sys/unix"
)

// The bench's own RTP peer for bridged legs (-rtp go). SIPp's rtp_stream
// runs a thread per 200 calls and one send call per packet, and at a
// thousand bridges it took as much CPU as the server it measured. Here SIPp
// only signals: its SDP names one of two sockets of this process (callers',
// agents'), and the generator answers each server port that sends to it
// (symmetric RTP: the server's first packet of a leg names where to send),
// from that same socket. Sends are paced by a timer wheel of 1 ms slots
// (each leg keeps its slot, so 1,000 legs are 50 packets a millisecond, not
// a burst every 20 ms) and go out in sendmmsg batches; receives come in
// recvmmsg batches. No goroutine per leg or per packet. The receivers
// measure 1 leg in sample; a socket filter keeps the others' packets out of
// the sockets but for a few (attachSampleFilter).
//
// Each packet the generator sends carries a mark, its leg and its send time
// in the payload, which the server relays unchanged (PCMU both sides), so
// the other leg's receiver measures what the server added: the latency from
// send to receive and its change from one packet to the next (added jitter,
// RFC 3550 section 6.4.1's |D(i-1,i)|), and the worst gap between relayed
// packets per leg.
const (
	genSlot       = time.Millisecond
	genSlots      = 20 // 20 ms packets
	genBatch      = 64
	genMark       = 0x484c4247 // "HLBG"
	genIdle       = 2 * time.Second
	genCallerIdle = 15 * time.Second
	genCatchUp    = time.Second
	genCatchUpBy  = 4 // packets a visit at most
	genPoll       = 2 * time.Millisecond
	genSockBuf    = 64 << 20
	genHistScale  = 10 // histogram buckets per ms
	genHistMax    = 200 * genHistScale
)

// genSide is which SDP a socket was advertised in.
type genSide int

const (
	sideCaller genSide = iota
	sideAgent
)

// genLeg is one server port sending to one of the generator's sockets.
type genLeg struct {
	id                           uint32
	side                         genSide
	to                           unix.SockaddrInet4
	seen                         time.Time // first packet from the server
	from                         time.Time // start sending at
	until                        time.Time // stop sending at (zero: while the server sends)
	last                         time.Time // last packet from the server
	seq                          uint16
	ts                           uint32
	ssrc                         uint32
	next                         time.Time
	sent                         int
	recv                         int // relayed packets (marked) received
	read                         int // packets read from the server, any
	prevLat                      time.Duration
	prevAt                       time.Time
	worstGap, worstLat, worstJit time.Duration
}

// genWindow is what the receivers measured over a window of a step.
type genWindow struct {
	// Seconds is the window's length: what the peer owed is over it, not
	// over the step's plateau, which also holds a /metrics answer.
	Seconds  float64 `json:"window_s"`
	Legs     int     `json:"legs_heard"`
	Sample   int     `json:"legs_sample"` // 1 leg in Sample measured
	Sent     int     `json:"packets_sent"`
	Received int     `json:"relayed_packets_received"`
	// SendErrors are packets the kernel refused (a port closed with its
	// call); Resets are legs the sender fell more than genCatchUp behind
	// on, and TickLateMax its latest wake-up, in ms: the peer's own faults.
	SendErrors  int     `json:"send_errors"`
	NewLegs     int     `json:"legs_latched"` // server ports first heard in the window
	Resets      int     `json:"catch_up_resets"`
	TickLateMax float64 `json:"tick_late_max_ms"`
	// Realtime says the sender ran on a real-time thread (root or
	// CAP_SYS_NICE); at normal priority it may fall behind on a full machine.
	Realtime   bool    `json:"sender_realtime"`
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	JitterP50  float64 `json:"added_jitter_p50_ms"`
	JitterP99  float64 `json:"added_jitter_p99_ms"`
	// JitterWithin is the share of packet-to-packet latency changes under 5 ms.
	JitterWithin float64 `json:"added_jitter_within_5ms"`
	// Worst gap between relayed packets per leg (a lost or stalled stretch),
	// and worst latency per leg: p50, p99, max over the legs, in ms.
	GapP50, GapP99, GapMax float64
	WorstP99, WorstMax     float64
}

func (g genWindow) String() string {
	prio := "real-time sender"
	if !g.Realtime {
		prio = "sender at normal priority"
	}
	return fmt.Sprintf("go peer (%s): %d legs measured (1 in %d; %d latched in the window), sent %d (%d refused, %d catch-up resets, wake-ups up to %.0f ms late), relayed received by the measured legs %d; latency p50 %s p99 %s ms; added jitter p50 %s p99 %s ms, %s within 5 ms; worst gap per leg p50 %s p99 %s max %s ms",
		prio, g.Legs, g.Sample, g.NewLegs, g.Sent, g.SendErrors, g.Resets, g.TickLateMax, g.Received, num(g.LatencyP50), num(g.LatencyP99), num(g.JitterP50), num(g.JitterP99), pct(g.JitterWithin),
		num(g.GapP50), num(g.GapP99), num(g.GapMax))
}

// rtpGen is the generator: two sockets, one sender, one receiver each.
type rtpGen struct {
	windowAt time.Time // when reset began the window
	socks    [2]*net.UDPConn
	raws     [2]syscall.RawConn
	// sample is 1 in how many legs the receivers measure (by the server
	// port's low bits); 1 measures every leg.
	sample int

	mu       sync.Mutex
	realtime bool                  // the sender's thread got real-time priority
	legs     map[[2]uint64]*genLeg // by side and server address
	wheel    [genSlots][]*genLeg
	nextID   uint32
	plan     genPlan
	lat      [genHistMax + 1]uint64
	jit      [genHistMax + 1]uint64
	done     []*genLeg // legs that ended in the window
	window   genWindow

	stop chan struct{}
	wg   sync.WaitGroup
}

// genPlan says when a caller leg talks, relative to the server's first
// packet (the answer): as the SIPp callers' rtp_stream did.
type genPlan struct {
	start, length time.Duration
}

func newRTPGen(sample int, realtime bool) (*rtpGen, error) {
	if sample < 1 || sample&(sample-1) != 0 || sample > 1<<10 {
		return nil, fmt.Errorf("rtp generator: sample %d: want a power of two from 1 to 1024", sample)
	}
	g := &rtpGen{legs: map[[2]uint64]*genLeg{}, stop: make(chan struct{}), sample: sample}
	for i := range g.socks {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopback)})
		if err != nil {
			g.close()
			return nil, fmt.Errorf("rtp generator: %w", err)
		}
		g.socks[i] = c
		if g.raws[i], err = c.SyscallConn(); err != nil {
			g.close()
			return nil, fmt.Errorf("rtp generator: %w", err)
		}
		// On loopback a sent packet stays charged to this socket's send
		// buffer until the server reads it from its own socket: one socket
		// for a thousand legs, with the default buffer (about 200 packets),
		// blocked on the server's slowest reads and sent half its packets.
		// Root may force buffers past the sysctl caps; others get the caps.
		_ = c.SetReadBuffer(genSockBuf)
		_ = c.SetWriteBuffer(genSockBuf)
		_ = g.raws[i].Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, genSockBuf)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, genSockBuf)
		})
		if sample > 1 {
			var ferr error
			if err := g.raws[i].Control(func(fd uintptr) { ferr = attachSampleFilter(int(fd), sample) }); err != nil || ferr != nil {
				g.close()
				return nil, fmt.Errorf("rtp generator: sample filter: %w", errors.Join(err, ferr))
			}
		}
	}
	for i := range g.socks {
		g.wg.Go(func() { g.receive(genSide(i)) })
	}
	g.wg.Go(func() { g.send(realtime) })
	return g, nil
}

// genKeepEvery is 1 in how many packets of a leg not measured the kernel
// still delivers (by RTP sequence number): enough for the leg to be found
// and kept (genIdle), a sixteenth of the reading.
const genKeepEvery = 16

// attachSampleFilter makes the kernel drop, before they are queued, the
// packets of the legs the receivers do not measure (server ports whose
// bits 1 to log2(sample) are not zero), but for 1 in genKeepEvery of them. Reading every
// relayed packet cost the generator as much CPU as sending; measuring 1 leg
// in sample leaves the server's work unchanged (it sends every packet).
// The filter sees the datagram from its UDP header on.
func attachSampleFilter(fd, sample int) error {
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 0},                                     // A = UDP source port
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 1, Jf: 0, K: uint32(sample-1) << 1}, // not a measured leg?
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},                                              // measured: keep
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 8 + 2},                                 // A = RTP sequence number
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 1, Jf: 0, K: genKeepEvery - 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff}, // one in genKeepEvery: keep
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},      // drop
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp)
}

// measured says whether the receivers measure the leg of server port port.
// Bit 0 is left out: RTP ports are even.
func (g *rtpGen) measured(port int) bool { return (port>>1)&(g.sample-1) == 0 }

// port is the socket a side's SDP names.
func (g *rtpGen) port(s genSide) int { return g.socks[s].LocalAddr().(*net.UDPAddr).Port }

// setPlan sets when the callers of the next step talk.
func (g *rtpGen) setPlan(start, length time.Duration) {
	g.mu.Lock()
	g.plan = genPlan{start, length}
	g.mu.Unlock()
}

func (g *rtpGen) close() {
	select {
	case <-g.stop:
		return
	default:
	}
	close(g.stop)
	for _, c := range g.socks {
		if c != nil {
			c.Close()
		}
	}
	g.wg.Wait()
}

// reset starts a new measuring window.
func (g *rtpGen) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lat, g.jit = [genHistMax + 1]uint64{}, [genHistMax + 1]uint64{}
	g.done = nil
	g.window = genWindow{}
	g.windowAt = time.Now()
	for _, l := range g.legs {
		l.worstGap, l.worstLat, l.worstJit = 0, 0, 0
		l.prevAt = time.Time{}
	}
}

// snapshot is the window so far: the legs still up and those that ended.
func (g *rtpGen) snapshot() genWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.window
	w.Seconds = time.Since(g.windowAt).Seconds()
	w.Sample = g.sample
	w.Realtime = g.realtime
	var gaps, worst []float64
	for _, l := range slices.Concat(g.done, mapValues(g.legs)) {
		if l.worstGap > 0 {
			gaps = append(gaps, ms(l.worstGap))
			worst = append(worst, ms(l.worstLat))
			w.Legs++
		}
	}
	w.GapP50, w.GapP99, w.GapMax = quantile(gaps, 0.5), quantile(gaps, 0.99), quantile(gaps, 1)
	w.WorstP99, w.WorstMax = quantile(worst, 0.99), quantile(worst, 1)
	w.LatencyP50, w.LatencyP99 = histQuantile(g.lat[:], 0.5), histQuantile(g.lat[:], 0.99)
	w.JitterP50, w.JitterP99 = histQuantile(g.jit[:], 0.5), histQuantile(g.jit[:], 0.99)
	w.JitterWithin = histBelow(g.jit[:], 5)
	return w
}

func mapValues(m map[[2]uint64]*genLeg) []*genLeg {
	out := make([]*genLeg, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	return out
}

func histAdd(h []uint64, d time.Duration) {
	i := int(math.Round(ms(d) * genHistScale))
	h[max(0, min(i, genHistMax))]++
}

func histQuantile(h []uint64, q float64) float64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return math.NaN()
	}
	need := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h {
		if seen += n; seen >= need {
			return float64(i) / genHistScale
		}
	}
	return float64(genHistMax) / genHistScale
}

// histBelow is the share of samples under limit ms.
func histBelow(h []uint64, limit float64) float64 {
	var total, below uint64
	for i, n := range h {
		total += n
		if float64(i)/genHistScale < limit {
			below += n
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return float64(below) / float64(total)
}

func key(s genSide, sa *unix.SockaddrInet4) [2]uint64 {
	return [2]uint64{uint64(s), uint64(binary.BigEndian.Uint32(sa.Addr[:]))<<16 | uint64(sa.Port)}
}

// receive reads one socket in recvmmsg batches.
func (g *rtpGen) receive(side genSide) {
	bufs := make([][]byte, genBatch)
	names := make([]unix.RawSockaddrInet4, genBatch)
	iovs := make([]unix.Iovec, genBatch)
	hdrs := make([]unix.Mmsghdr, genBatch)
	oobs := make([][]byte, genBatch)
	for i := range hdrs {
		bufs[i] = make([]byte, 1500)
		oobs[i] = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		hdrs[i].Hdr.Control = &oobs[i][0]
	}
	// The kernel stamps each packet as it arrives (SO_TIMESTAMPNS), so the
	// receiver can read every genPoll in batches instead of waking per
	// packet: its own scheduling no longer shows in the latency.
	_ = g.raws[side].Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	for {
		for i := range hdrs {
			hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
			hdrs[i].Hdr.SetControllen(len(oobs[i]))
		}
		var n int
		var errno syscall.Errno
		err := g.raws[side].Read(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), genBatch, unix.MSG_DONTWAIT, 0, 0)
			n, errno = int(r), e
			return errno != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			return
		}
		now := time.Now()
		g.mu.Lock()
		for i := range n {
			sa := unix.SockaddrInet4{Port: int(names[i].Port>>8 | names[i].Port<<8)}
			copy(sa.Addr[:], names[i].Addr[:])
			g.received(side, &sa, bufs[i][:hdrs[i].Len], stamp(oobs[i][:hdrs[i].Hdr.Controllen], now))
		}
		g.mu.Unlock()
		if n < genBatch {
			select {
			case <-g.stop:
				return
			case <-time.After(genPoll):
			}
		}
	}
}

// stamp is the kernel's arrival time of a packet (SCM_TIMESTAMPNS), or
// fallback when there is none.
func stamp(oob []byte, fallback time.Time) time.Time {
	if len(oob) < unix.CmsgSpace(16) {
		return fallback
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_TIMESTAMPNS {
		return fallback
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	return time.Unix(ts.Sec, ts.Nsec)
}

// received handles one packet from the server (g.mu held).
func (g *rtpGen) received(side genSide, from *unix.SockaddrInet4, p []byte, now time.Time) {
	k := key(side, from)
	l := g.legs[k]
	if l == nil {
		g.nextID++
		l = &genLeg{id: g.nextID, side: side, to: *from, seen: now, ssrc: 0x48000000 | g.nextID}
		if side == sideCaller {
			l.from, l.until = now.Add(g.plan.start), now.Add(g.plan.start+g.plan.length)
		} else {
			l.from = now
		}
		l.next = l.from // aligned to its slot's grid by the first send
		g.legs[k] = l
		g.window.NewLegs++
		slot := int(l.id) % genSlots
		g.wheel[slot] = append(g.wheel[slot], l)
	}
	l.last = now
	l.read++
	if !g.measured(from.Port) {
		return // only 1 in genKeepEvery of its packets comes through
	}
	if len(p) < 12+16 || p[0]>>6 != 2 || p[1]&0x7f != 0 || binary.BigEndian.Uint32(p[12:]) != genMark {
		return // a prompt, or not ours
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(p[20:])))
	lat := now.Sub(sent)
	l.recv++
	g.window.Received++
	histAdd(g.lat[:], lat)
	l.worstLat = max(l.worstLat, lat)
	if !l.prevAt.IsZero() {
		jit := lat - l.prevLat
		if jit < 0 {
			jit = -jit
		}
		histAdd(g.jit[:], jit)
		l.worstJit = max(l.worstJit, jit)
		l.worstGap = max(l.worstGap, now.Sub(l.prevAt))
	}
	l.prevLat, l.prevAt = lat, now
}

// send runs the timer wheel: every millisecond, the legs of that slot that
// are due send one packet each, in one sendmmsg per socket.
//
// The sender stands in for phones on other machines. At normal priority
// (the default) the server's real-time threads go first, and on a full
// machine the sender falls behind and offers fewer packets than due (the
// step then fails on the peer). With realtime it runs at the server's own
// RTP priority where allowed: it always offers its load, and takes its CPU
// from the server.
func (g *rtpGen) send(realtime bool) {
	var out [2]genBatchOut
	sleep := g.sleeper(realtime)
	start := time.Now()
	for tick := 0; ; tick++ {
		at := start.Add(time.Duration(tick) * genSlot)
		if d := time.Until(at); d > 0 {
			if !sleep(d) {
				return
			}
		} else if d < -100*time.Millisecond {
			// Far behind (the machine stalled): skip ahead rather than burst.
			tick = int(time.Since(start) / genSlot)
			continue
		}
		now := time.Now()
		g.mu.Lock()
		g.window.TickLateMax = max(g.window.TickLateMax, ms(now.Sub(at)))
		slot := tick % genSlots
		// Due by the tick's scheduled time (at), not the wake-up's: a leg
		// then sends once a visit however late the wake-ups run.
		legs := g.wheel[slot][:0]
		for _, l := range g.wheel[slot] {
			idle := genIdle
			if l.side == sideCaller && now.Before(l.until) {
				// The server may say nothing to a caller for seconds
				// between prompts: a caller leg waits for its talk to end.
				idle = genCallerIdle
			}
			if now.Sub(l.last) > idle {
				delete(g.legs, key(l.side, &l.to))
				g.done = append(g.done, l)
				continue
			}
			legs = append(legs, l)
			if !l.until.IsZero() && now.After(l.until) {
				continue
			}
			// A leg the sender fell behind on (this process descheduled,
			// slots skipped) catches up a few packets a visit, so that the
			// relay is offered every packet; beyond genCatchUp it resumes
			// from now.
			if at.Sub(l.next) > genCatchUp {
				l.next = at
				g.window.Resets++
			}
			for k := 0; k < genCatchUpBy && !at.Before(l.next); k++ {
				out[l.side].add(l, now)
				l.next = l.next.Add(genSlots * genSlot)
				l.sent++
				g.window.Sent++
			}
		}
		clear(g.wheel[slot][len(legs):])
		g.wheel[slot] = legs
		g.mu.Unlock()
		for s := range out {
			if n := out[s].flush(g.raws[s]); n > 0 {
				g.mu.Lock()
				g.window.SendErrors += n
				g.mu.Unlock()
			}
		}
	}
}

// sleeper returns how the sender waits for a tick: on a thread of the
// server's own real-time RTP priority (media.LockRealtime; clock_nanosleep,
// so the kernel wakes it at that priority) when asked and allowed, else
// with a Go timer. It returns false once the generator stops.
func (g *rtpGen) sleeper(realtime bool) func(d time.Duration) bool {
	if !realtime || !media.LockRealtime() {
		return func(d time.Duration) bool {
			select {
			case <-g.stop:
				return false
			case <-time.After(d):
				return true
			}
		}
	}
	g.mu.Lock()
	g.realtime = true
	g.mu.Unlock()
	return func(d time.Duration) bool {
		select {
		case <-g.stop:
			return false
		default:
		}
		ts := unix.NsecToTimespec(int64(d))
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, 0, &ts, &ts) == unix.EINTR {
		}
		return true
	}
}

// genBatchOut is the packets of one tick for one socket.
type genBatchOut struct {
	bufs  [][]byte
	names []unix.RawSockaddrInet4
	iovs  []unix.Iovec
	hdrs  []unix.Mmsghdr
	n     int
}

func (b *genBatchOut) add(l *genLeg, now time.Time) {
	if b.n == len(b.bufs) {
		b.bufs = append(b.bufs, make([]byte, 12+160))
		b.names = append(b.names, unix.RawSockaddrInet4{})
	}
	p := b.bufs[b.n]
	p[0], p[1] = 0x80, 0 // V=2, PT 0 (PCMU)
	binary.BigEndian.PutUint16(p[2:], l.seq)
	binary.BigEndian.PutUint32(p[4:], l.ts)
	binary.BigEndian.PutUint32(p[8:], l.ssrc)
	binary.BigEndian.PutUint32(p[12:], genMark)
	binary.BigEndian.PutUint32(p[16:], l.id)
	binary.BigEndian.PutUint64(p[20:], uint64(now.UnixNano()))
	for i := 28; i < len(p); i++ {
		p[i] = 0xff // µ-law silence
	}
	l.seq++
	l.ts += 160
	b.names[b.n] = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: uint16(l.to.Port)>>8 | uint16(l.to.Port)<<8, Addr: l.to.Addr}
	b.n++
}

// flush sends the batch with sendmmsg; a send the kernel refuses is dropped
// (the server's port closed with its call). It returns the packets dropped.
func (b *genBatchOut) flush(raw syscall.RawConn) (dropped int) {
	if b.n == 0 {
		return 0
	}
	if len(b.hdrs) < b.n {
		b.iovs, b.hdrs = make([]unix.Iovec, len(b.bufs)), make([]unix.Mmsghdr, len(b.bufs))
	}
	iovs, hdrs := b.iovs, b.hdrs
	for i := range b.n {
		iovs[i].Base = &b.bufs[i][0]
		iovs[i].SetLen(len(b.bufs[i]))
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
	for off := 0; off < b.n; {
		var sent int
		var errno syscall.Errno
		err := raw.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[off])), uintptr(b.n-off), unix.MSG_DONTWAIT, 0, 0)
			sent, errno = int(r), e
			return errno != unix.EAGAIN
		})
		if err != nil || (errno != 0 && !errors.Is(errno, unix.ECONNREFUSED)) {
			dropped += b.n - off
			break
		}
		if errno != 0 {
			off++ // skip the refused one
			dropped++
			continue
		}
		off += sent
	}
	b.n = 0
	return dropped
}
