//go:build linux

package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// The kernel relay forwards a bridged leg's audio inside the kernel: a tc
// program on the loopback interface's ingress finds the packet's leg by its
// source address and destination port, rewrites it onto the other leg's
// stream (addresses, ports, SSRC, sequence number, timestamp, payload type,
// exactly as Session.relay would) and lets it go on to the other leg's
// socket, so the server's threads never read or send it. A copy of every
// forwarded packet goes through a ring buffer to user space, drained in
// batches, for the recording (S19), the session's media timeout and the
// counters. Everything else (telephone-events, a new SSRC, another codec,
// hold, a prompt) goes up to the user-space relay, which takes the leg back
// first (docs/media-relay.md).

// Layout of a leg's entry in the legs map (kleg.value).
const (
	kvNewDaddr  = 4  // be32: the other leg's remote address
	kvPorts     = 8  // be16 source port (the other session's), be16 destination port (its remote)
	kvSrcSSRC   = 12 // be32: the SSRC the leg latched
	kvNewSSRC   = 16 // be32: the other session's SSRC
	kvTSOffset  = 20 // u32: added to the source timestamp
	kvPTIn      = 24 // u8: the audio payload type forwarded
	kvPTOut     = 25 // u8: its number on the other leg
	kvID        = 28 // u32: the leg's id in ring records
	kvSeq       = 32 // u64: the next outgoing sequence number (low 16 bits)
	kvPackets   = 40 // u64: packets forwarded
	kvLastTS    = 48 // u32: the last forwarded packet's outgoing timestamp
	kvLastLen   = 52 // u32: its payload length (samples of G.711)
	kvLastNs    = 56 // u64: its arrival, CLOCK_MONOTONIC
	kvLost      = 64 // u64: copies the ring buffer had no room for
	kvValueSize = 72
)

// Ring records: leg id u32, RTP length u32, arrival u64 (CLOCK_MONOTONIC),
// then the first krCopy bytes of the RTP packet as it arrived.
const (
	krHeader = 16
	// krCopy holds a 40 ms G.711 frame with its header (332 bytes); a leg
	// with longer packets stays in user space (kernelCopyMax).
	krCopy        = 336
	kernelCopyMax = krCopy
	// krRingSize holds over a second of 1,500 bridges' both directions
	// (150,000 copies a second).
	krRingSize = 64 << 20
	// krDrainEvery: the recorder places audio by its arrival stamp and
	// keeps recLag (240 ms) open, so a drain every fourth frame loses
	// nothing, and each leg has about four packets a drain to count at once.
	krDrainEvery = 80 * time.Millisecond
	// krMaxLegs: two legs per session of the widest port range.
	krMaxLegs = 1 << 16
)

// Offsets in an IPv4 frame as the tc program sees it on loopback (a 14-byte
// Ethernet header, an IP header without options, UDP, then RTP).
const (
	kpIP   = 14
	kpUDP  = kpIP + 20
	kpRTP  = kpUDP + 8
	kpMin  = kpRTP + 12
	skbLen = 0  // __sk_buff.len
	skbDat = 76 // __sk_buff.data
	skbEnd = 80 // __sk_buff.data_end
)

// kernelRelay is the loaded program, its maps and its link on loopback.
type kernelRelay struct {
	legs *ebpf.Map
	ring *ebpf.Map
	prog *ebpf.Program
	lnk  link.Link
	rd   *ringbuf.Reader
	// stats keeps the kernel counting the program's runs and run time
	// (BPF_ENABLE_STATS): the relay's CPU, which no process is charged.
	stats io.Closer
	m     *Metrics
	log   *slog.Logger

	mu     sync.RWMutex
	byID   map[uint32]*kleg
	nextID uint32

	drainMu sync.Mutex // one drain at a time; owns the fields below
	rec     ringbuf.Record
	pcm     []int16
	touched []*kleg      // legs with packets in this drain (kleg.n)
	sums    []counterSum // per counter, summed over a drain
	monoAt  time.Time    // when CLOCK_MONOTONIC read monoNs
	monoNs  int64
	stop    chan struct{}
	done    chan struct{}
}

// openKernelRelay loads the program and attaches it to loopback's ingress.
func openKernelRelay(m *Metrics, log *slog.Logger) (*kernelRelay, error) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, fmt.Errorf("kernel relay: %w", err)
	}
	legs, err := ebpf.NewMap(&ebpf.MapSpec{Name: "hotline_legs", Type: ebpf.Hash, KeySize: 8, ValueSize: kvValueSize, MaxEntries: krMaxLegs})
	if err != nil {
		return nil, fmt.Errorf("kernel relay: legs map: %w", err)
	}
	ring, err := ebpf.NewMap(&ebpf.MapSpec{Name: "hotline_rec", Type: ebpf.RingBuf, MaxEntries: krRingSize})
	if err != nil {
		legs.Close()
		return nil, fmt.Errorf("kernel relay: ring buffer: %w", err)
	}
	k := &kernelRelay{legs: legs, ring: ring, m: m, log: log, byID: map[uint32]*kleg{},
		stop: make(chan struct{}), done: make(chan struct{})}
	fail := func(err error) (*kernelRelay, error) {
		k.close()
		return nil, fmt.Errorf("kernel relay: %w", err)
	}
	// Without a verifier log: cilium/ebpf loads again with one when the
	// verifier refuses, and puts it in the error.
	k.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "hotline_relay", Type: ebpf.SchedCLS, License: "GPL", Instructions: relayProgram(legs.FD(), ring.FD()),
	})
	if err != nil {
		return fail(fmt.Errorf("load program: %w", err))
	}
	k.lnk, err = link.AttachTCX(link.TCXOptions{Interface: lo.Index, Program: k.prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fail(fmt.Errorf("attach to lo ingress: %w", err))
	}
	if k.stats, err = ebpf.EnableStats(unix.BPF_STATS_RUN_TIME); err != nil {
		log.Info("kernel relay: run time not counted", "err", err)
	}
	k.rd, err = ringbuf.NewReader(ring)
	if err != nil {
		return fail(fmt.Errorf("ring reader: %w", err))
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fail(err)
	}
	k.monoAt, k.monoNs = time.Now(), ts.Nano()
	return k, nil
}

// run drains the ring until the pacer's closeKernel.
func (k *kernelRelay) run() {
	defer close(k.done)
	t := time.NewTicker(krDrainEvery)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			k.drain()
		}
	}
}

// close detaches the program (what it forwarded is delivered; what comes
// after goes to the sessions' sockets) and frees the maps.
func (k *kernelRelay) close() {
	if k.lnk != nil {
		k.lnk.Close()
	}
	if k.rd != nil {
		k.drain()
		k.rd.Close()
	}
	if k.prog != nil {
		k.prog.Close()
	}
	if k.stats != nil {
		k.stats.Close()
	}
	k.legs.Close()
	k.ring.Close()
}

// kleg is a leg's registration with the kernel relay: created when the leg
// is first handed to the kernel, dropped when its bridge stops. Whether its
// entry is in the map now is guarded by the destination's tx.mu.
type kleg struct {
	k         *kernelRelay
	l         *leg
	id        uint32
	key       [8]byte
	installed bool
	n         uint64 // packets in the current drain, owned by drain
	// total is what the drain counted and Stats of the leg's bridge and
	// sessions add to their own counts until release folds it in: the
	// drain then touches the leg's registration, not three other structs.
	total atomic.Uint64
	// rec and side are the leg's bridge's, copied here: the drain reads
	// them for every packet and one cache line is cheaper than three.
	rec  *Recorder
	side int
}

// register gives l an id for ring records.
func (k *kernelRelay) register(l *leg) *kleg {
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		k.nextID++
		if _, used := k.byID[k.nextID]; !used && k.nextID != 0 {
			break
		}
	}
	kl := &kleg{k: k, l: l, id: k.nextID, rec: l.b.rec, side: l.side}
	k.byID[kl.id] = kl
	return kl
}

// unregister forgets kl once the ring holds nothing of it: the records
// before its removal are drained first.
func (k *kernelRelay) unregister(kl *kleg) {
	k.drain()
	k.mu.Lock()
	delete(k.byID, kl.id)
	k.mu.Unlock()
}

// installLocked puts the leg's entry in the map: from now on the kernel
// forwards from (src, ssrc) to the destination's remote on its stream,
// continuing its sequence numbers and the relay's timestamp mapping. Called
// with the destination's tx.mu held.
func (kl *kleg) installLocked(src, dst netip.AddrPort, fromPort, toPort uint16, ssrc uint32, ptIn, ptOut uint8, tx *txState) error {
	if kl.installed {
		return nil
	}
	a4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(kl.key[0:4], a4[:])
	binary.BigEndian.PutUint16(kl.key[4:6], src.Port())
	binary.BigEndian.PutUint16(kl.key[6:8], fromPort)
	var v [kvValueSize]byte
	copy(v[kvNewDaddr:], d4[:])
	binary.BigEndian.PutUint16(v[kvPorts:], toPort)
	binary.BigEndian.PutUint16(v[kvPorts+2:], dst.Port())
	binary.BigEndian.PutUint32(v[kvSrcSSRC:], ssrc)
	binary.BigEndian.PutUint32(v[kvNewSSRC:], tx.ssrc)
	binary.NativeEndian.PutUint32(v[kvTSOffset:], tx.relay.offset)
	v[kvPTIn], v[kvPTOut] = ptIn, ptOut
	binary.NativeEndian.PutUint32(v[kvID:], kl.id)
	binary.NativeEndian.PutUint64(v[kvSeq:], uint64(tx.seq))
	if err := kl.k.legs.Update(kl.key[:], v[:], ebpf.UpdateAny); err != nil {
		return err
	}
	kl.installed = true
	kl.k.m.kernelLegs.Inc()
	return nil
}

// removeLocked takes the leg back from the kernel: the destination's
// stream goes on from the kernel's last sequence number and timestamp.
// Called with the destination's tx.mu held.
func (kl *kleg) removeLocked(tx *txState) {
	if !kl.installed {
		return
	}
	kl.installed = false
	kl.k.m.kernelLegs.Dec()
	var v [kvValueSize]byte
	if err := kl.k.legs.LookupAndDelete(kl.key[:], v[:]); err != nil {
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			kl.k.log.Warn("kernel relay: remove leg", "err", err)
		}
		return
	}
	tx.seq = uint16(binary.NativeEndian.Uint64(v[kvSeq:]))
	if lost := binary.NativeEndian.Uint64(v[kvLost:]); lost > 0 {
		kl.k.m.kernelLost.Add(float64(lost))
	}
	if binary.NativeEndian.Uint64(v[kvPackets:]) == 0 {
		return
	}
	ts := binary.NativeEndian.Uint32(v[kvLastTS:])
	n := binary.NativeEndian.Uint32(v[kvLastLen:])
	tx.last.note(ts, ts+n, kl.k.monoTime(int64(binary.NativeEndian.Uint64(v[kvLastNs:]))))
	tx.started = false
}

// runStats are the program's runs (every IPv4 packet on loopback) and
// their CPU time, counted while stats are enabled.
func (k *kernelRelay) runStats() (runs uint64, cpu time.Duration, ok bool) {
	if k.stats == nil {
		return 0, 0, false
	}
	st, err := k.prog.Stats()
	if err != nil {
		return 0, 0, false
	}
	return st.RunCount, st.Runtime, true
}

// monoTime converts a CLOCK_MONOTONIC reading to a time.Time.
func (k *kernelRelay) monoTime(ns int64) time.Time {
	return k.monoAt.Add(time.Duration(ns - k.monoNs))
}

// drain handles every record in the ring: what the kernel forwarded is
// counted, keeps its session alive and is recorded, as the user-space relay
// does for each packet it sends.
func (k *kernelRelay) drain() {
	k.drainMu.Lock()
	defer k.drainMu.Unlock()
	k.rd.SetDeadline(time.Now().Add(-time.Second)) // poll: no waiting for a wake-up
	k.mu.RLock()
	defer k.mu.RUnlock()
	for {
		err := k.rd.ReadInto(&k.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ringbuf.ErrClosed) {
			break
		}
		if err != nil {
			k.log.Warn("kernel relay: read ring", "err", err)
			break
		}
		k.handle(k.rec.RawSample)
	}
	k.settle()
}

// handle is one forwarded packet's user-space share: its recording now,
// its counting once per drain (settle). A relay of a thousand bridges sees
// some 100,000 packets a second, each touching its leg's and session's
// memory; counting them in batches touches it once per drain.
func (k *kernelRelay) handle(b []byte) {
	if len(b) < krHeader {
		return
	}
	kl := k.byID[binary.NativeEndian.Uint32(b)]
	if kl == nil {
		return
	}
	if kl.n == 0 {
		k.touched = append(k.touched, kl)
	}
	kl.n++
	if kl.rec == nil {
		return
	}
	n := min(int(binary.NativeEndian.Uint32(b[4:])), len(b)-krHeader)
	pkt := b[krHeader : krHeader+n]
	payload, ok := rtpPayload(pkt)
	if !ok {
		return
	}
	// The kernel forwards one payload type per leg, PCMU or PCMA as a rule
	// (static numbers, RFC 3551); another number is looked up.
	switch pt := pkt[1] & 0x7f; pt {
	case PCMU.PayloadType:
		k.pcm = PCMU.Decode(k.pcm[:0], payload)
	case PCMA.PayloadType:
		k.pcm = PCMA.Decode(k.pcm[:0], payload)
	default:
		k.pcm = kl.l.from.peer.Load().neg.Codec.Decode(k.pcm[:0], payload)
	}
	at := k.monoTime(int64(binary.NativeEndian.Uint64(b[8:])))
	kl.rec.write(kl.side, binary.BigEndian.Uint32(pkt[8:]), binary.BigEndian.Uint32(pkt[4:]), k.pcm, at)
}

// settle counts the drain's packets per leg and in the metrics, as the
// user-space relay counts each packet, and marks their sessions as alive.
func (k *kernelRelay) settle() {
	if len(k.touched) == 0 {
		return
	}
	now := time.Now()
	var total uint64
	for _, kl := range k.touched {
		l, n := kl.l, kl.n
		kl.n = 0
		total += n
		k.sum(l.b.m.relayed[l.dir], n)
		k.sum(l.from.m.packetsIn, n)
		l.from.lastRx.Store(int64(now.Sub(l.from.epoch))) // touch, without a clock read per leg
		kl.total.Add(n)
	}
	clear(k.touched)
	k.touched = k.touched[:0]
	for _, s := range k.sums {
		s.c.Add(float64(s.n))
	}
	clear(k.sums)
	k.sums = k.sums[:0]
	k.m.kernelRelayed.Add(float64(total))
}

// counterSum is one metric's count over a drain.
type counterSum struct {
	c prometheus.Counter
	n uint64
}

// sum adds n to c's count of this drain; the legs share two or three
// counters.
func (k *kernelRelay) sum(c prometheus.Counter, n uint64) {
	for i := range k.sums {
		if k.sums[i].c == c {
			k.sums[i].n += n
			return
		}
	}
	k.sums = append(k.sums, counterSum{c, n})
}

// forwarded is what the drain counted for kl and not yet folded.
func (kl *kleg) forwarded() uint64 { return kl.total.Load() }

// fold moves the drained count into the leg's and its sessions' own
// counters, once the leg is unregistered.
func (kl *kleg) fold() {
	n := kl.total.Swap(0)
	l := kl.l
	l.relayed.Add(n)
	l.from.stats.packetsIn.Add(n)
	l.to.stats.packetsOut.Add(n)
}

// rtpPayload is the payload of an RTP packet the program checked (version
// 2), by the same bounds ValidateRTP checks.
func rtpPayload(b []byte) ([]byte, bool) {
	if len(b) < rtpHeaderLen {
		return nil, false
	}
	start, end, err := payloadBounds(b)
	if err != nil {
		return nil, false
	}
	return b[start:end], true
}

// relayProgram is the tc program. Anything it does not forward it passes
// on unchanged (TCX_NEXT): the sessions' sockets get it as before.
func relayProgram(legsFD, ringFD int) asm.Instructions {
	const (
		tcxNext    = -1
		tcxPass    = 0
		rbNoWakeup = 1
	)
	// reload puts the packet's start in R2 and fails to "pass" unless its
	// first kpMin bytes are readable.
	reload := func() asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R2, asm.R6, skbDat, asm.Word),
			asm.LoadMem(asm.R3, asm.R6, skbEnd, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, kpMin),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		}
	}
	var p asm.Instructions
	p = append(p, asm.Mov.Reg(asm.R6, asm.R1))
	p = append(p, reload()...)
	p = append(p,
		// IPv4, no options, UDP, not a fragment, RTP version 2.
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R4, 0x0008, "pass"),
		asm.LoadMem(asm.R4, asm.R2, kpIP, asm.Byte),
		asm.JNE.Imm(asm.R4, 0x45, "pass"),
		asm.LoadMem(asm.R4, asm.R2, kpIP+9, asm.Byte),
		asm.JNE.Imm(asm.R4, unix.IPPROTO_UDP, "pass"),
		asm.LoadMem(asm.R4, asm.R2, kpIP+6, asm.Half),
		asm.And.Imm(asm.R4, 0xff3f),
		asm.JNE.Imm(asm.R4, 0, "pass"),
		asm.LoadMem(asm.R4, asm.R2, kpRTP, asm.Byte),
		asm.And.Imm(asm.R4, 0xc0),
		asm.JNE.Imm(asm.R4, 0x80, "pass"),
		// key: source address, source port, destination port
		asm.LoadMem(asm.R4, asm.R2, kpIP+12, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R2, kpUDP, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R4, asm.Word),
		asm.LoadMapPtr(asm.R1, legsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(asm.R7, asm.R0),
	)
	p = append(p, reload()...)
	p = append(p,
		// the latched SSRC and the leg's audio payload type only
		asm.LoadMem(asm.R4, asm.R2, kpRTP+8, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, kvSrcSSRC, asm.Word),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
		asm.LoadMem(asm.R4, asm.R2, kpRTP+1, asm.Byte),
		asm.And.Imm(asm.R4, 0x7f),
		asm.LoadMem(asm.R5, asm.R7, kvPTIn, asm.Byte),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
		// the copy for user space, before the rewrite
		asm.LoadMem(asm.R9, asm.R6, skbLen, asm.Word),
		asm.Sub.Imm(asm.R9, kpRTP),
		asm.LoadMapPtr(asm.R1, ringFD),
		asm.Mov.Imm(asm.R2, krHeader+krCopy),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "lost"),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.LoadMem(asm.R1, asm.R7, kvID, asm.Word),
		asm.StoreMem(asm.R8, 0, asm.R1, asm.Word),
		asm.StoreMem(asm.R8, 4, asm.R9, asm.Word),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R8, 8, asm.R0, asm.DWord),
		asm.StoreMem(asm.R7, kvLastNs, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R4, asm.R9),
		asm.JLT.Imm(asm.R4, 12, "discard"),
		asm.JLE.Imm(asm.R4, krCopy, "copy"),
		asm.Mov.Imm(asm.R4, krCopy),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("copy"),
		asm.Mov.Imm(asm.R2, kpRTP),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Add.Imm(asm.R3, krHeader),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "discard"),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, rbNoWakeup),
		asm.FnRingbufSubmit.Call(),
		asm.Ja.Label("rewrite"),
		asm.Mov.Reg(asm.R1, asm.R8).WithSymbol("discard"),
		asm.Mov.Imm(asm.R2, rbNoWakeup),
		asm.FnRingbufDiscard.Call(),
		asm.Mov.Imm(asm.R1, 1).WithSymbol("lost"),
		asm.AddAtomic.Mem(asm.R7, asm.R1, asm.DWord, kvLost),
		// addresses: from the address the packet came to, to the other
		// leg's remote; the IP checksum follows (replacing the old source
		// by the new destination sums the same as both changes).
		asm.LoadMem(asm.R2, asm.R6, skbDat, asm.Word).WithSymbol("rewrite"),
		asm.LoadMem(asm.R3, asm.R6, skbEnd, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, kpMin),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R8, asm.R2, kpIP+12, asm.Word),
		asm.LoadMem(asm.R9, asm.R2, kpIP+16, asm.Word),
		asm.LoadMem(asm.R4, asm.R7, kvNewDaddr, asm.Word),
		asm.JEq.Reg(asm.R8, asm.R4, "addrs"),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Imm(asm.R2, kpIP+10),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Mov.Imm(asm.R5, 4),
		asm.FnL3CsumReplace.Call(),
	)
	p = append(p, reload()...)
	p = append(p,
		asm.StoreMem(asm.R2, kpIP+12, asm.R9, asm.Word).WithSymbol("addrs"),
		asm.LoadMem(asm.R4, asm.R7, kvNewDaddr, asm.Word),
		asm.StoreMem(asm.R2, kpIP+16, asm.R4, asm.Word),
		// ports; no UDP checksum (RFC 768 lets IPv4 omit it)
		asm.LoadMem(asm.R4, asm.R7, kvPorts, asm.Word),
		asm.StoreMem(asm.R2, kpUDP, asm.R4, asm.Word),
		asm.StoreImm(asm.R2, kpUDP+6, 0, asm.Half),
		// marker kept, payload type renumbered
		asm.LoadMem(asm.R4, asm.R2, kpRTP+1, asm.Byte),
		asm.And.Imm(asm.R4, 0x80),
		asm.LoadMem(asm.R5, asm.R7, kvPTOut, asm.Byte),
		asm.Or.Reg(asm.R4, asm.R5),
		asm.StoreMem(asm.R2, kpRTP+1, asm.R4, asm.Byte),
		// the destination stream's next sequence number
		asm.Mov.Imm(asm.R4, 1),
		fetchAdd(asm.R7, asm.R4, kvSeq),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.R2, kpRTP+2, asm.R4, asm.Half),
		// the timestamp moved onto the destination's timeline
		asm.LoadMem(asm.R4, asm.R2, kpRTP+4, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, kvTSOffset, asm.Word),
		asm.Add.Reg32(asm.R4, asm.R5),
		asm.StoreMem(asm.R7, kvLastTS, asm.R4, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(asm.R2, kpRTP+4, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R7, kvNewSSRC, asm.Word),
		asm.StoreMem(asm.R2, kpRTP+8, asm.R4, asm.Word),
		// the payload's length, for the timestamp after a take-back
		asm.LoadMem(asm.R4, asm.R2, kpUDP+4, asm.Half),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.Sub.Imm(asm.R4, 8+12),
		asm.StoreMem(asm.R7, kvLastLen, asm.R4, asm.Word),
		asm.Mov.Imm(asm.R4, 1),
		asm.AddAtomic.Mem(asm.R7, asm.R4, asm.DWord, kvPackets),
		asm.Mov.Imm(asm.R0, tcxPass),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcxNext).WithSymbol("pass"),
		asm.Return(),
	)
	return p
}

// fetchAdd is `src = atomic_fetch_add((u64 *)(dst + off), src)`. Built by
// hand: asm.FetchAdd.Mem of cilium/ebpf v0.22 encodes an immediate of 0, a
// plain add that leaves src as it was (BPF_ADD|BPF_FETCH is 0x01).
func fetchAdd(dst, src asm.Register, off int16) asm.Instruction {
	ins := asm.AddAtomic.Mem(dst, src, asm.DWord, off)
	ins.Constant = 0x01
	return ins
}
