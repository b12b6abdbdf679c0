package media

import (
	"net/netip"

	"github.com/pion/rtp"
)

// Relay modes (PacerConfig.Relay): where a bridge's audio is forwarded.
const (
	// RelayAuto forwards in the kernel where it can load its program (Linux,
	// root or CAP_BPF with CAP_NET_ADMIN), in user space otherwise.
	RelayAuto = "auto"
	// RelayKernel requires the kernel relay: the pacer does not run without it.
	RelayKernel = "kernel"
	// RelayUser forwards every packet in the server's threads.
	RelayUser = "user"
)

// kernel returns the running kernel relay, or nil.
func (s *Session) kernel() *kernelRelay {
	if s.pacer == nil {
		return nil
	}
	return s.pacer.kernel.Load()
}

// offload hands the leg to the kernel relay after the user-space relay sent
// pkt, when nothing about the leg needs the server's threads: the same
// codec on both sides, no audio hook on the source, both remotes on this
// host's loopback (the interface the program sits on). Called on the
// source's reader goroutine with l.mu held.
func (l *leg) offload(pkt *rtp.Packet, ptOut uint8) {
	if l.k == nil || l.muted.Load() || l.from.onAudio.Load() != nil {
		return
	}
	to := l.to
	src, dst := l.from.rx.src, to.peer.Load().remote
	if !onLoopback4(src) || !onLoopback4(dst) || l.from.lport == 0 || to.lport == 0 ||
		pkt.MarshalSize() > kernelCopyMax { // the ring's copy must hold it whole
		return
	}
	lockWithoutHandoff(&to.tx.mu)
	defer to.tx.mu.Unlock()
	peer := to.peer.Load()
	r := &to.tx.relay
	if l.k.installed || to.tx.playing != nil || !peer.sends() || peer.remote != dst || to.relayClosing.Load() ||
		!r.active || r.ssrc != pkt.SSRC {
		return
	}
	if err := l.k.installLocked(src, dst, l.from.lport, to.lport, pkt.SSRC, pkt.PayloadType, ptOut, &to.tx); err != nil {
		l.b.log.Warn("kernel relay: install leg; relaying in user space", "err", err)
	}
}

// onLoopback4 reports whether a is an IPv4 address on loopback, where the
// program sits.
func onLoopback4(a netip.AddrPort) bool { return a.Addr().Is4() && a.Addr().IsLoopback() }

// takeBack returns the leg to the user-space relay (re-INVITE, hold, the
// bridge stopping); the next packet it relays may hand it over again.
func (l *leg) takeBack() {
	if l.k == nil {
		return
	}
	lockWithoutHandoff(&l.to.tx.mu)
	l.k.removeLocked(&l.to.tx)
	l.to.tx.mu.Unlock()
}

// attach registers the leg with the kernel relay, if there is one, as its
// bridge starts.
func (l *leg) attach(kr *kernelRelay) {
	if kr == nil {
		return
	}
	l.k = kr.register(l)
	l.to.kout.Store(l.k)
	l.from.kin.Store(l.k)
}

// release takes the leg back for good once its bridge stopped: the ring's
// records of it are handled before its id is forgotten.
func (l *leg) release() {
	if l.k == nil {
		return
	}
	l.takeBack()
	l.to.kout.CompareAndSwap(l.k, nil)
	l.from.kin.CompareAndSwap(l.k, nil)
	l.k.k.unregister(l.k)
	l.k.fold()
}

// kernelCount is what the kernel relay forwarded for the leg and the drain
// counted, not yet folded into its counters; called with b.mu held.
func (l *leg) kernelCount() uint64 {
	if l.k == nil {
		return 0
	}
	return l.k.forwarded()
}

// takeBackLocked stops the kernel sending on the session's stream before
// user space sends on it (a prompt, a packet relayed in user space): the
// two never share the sequence numbers. Called with s.tx.mu held.
func (s *Session) takeBackLocked() {
	if k := s.kout.Load(); k != nil {
		k.removeLocked(&s.tx)
	}
}

// takeBackAll stops the kernel forwarding to and from the session (it is
// closing: its port may soon belong to another call).
func (s *Session) takeBackAll() {
	lockWithoutHandoff(&s.tx.mu)
	s.takeBackLocked()
	s.tx.mu.Unlock()
	if k := s.kin.Load(); k != nil {
		k.l.takeBack()
	}
}
