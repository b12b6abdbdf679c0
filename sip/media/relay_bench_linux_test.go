//go:build linux

package media

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// BenchmarkRelayPacket is the server's cost of one relayed packet, with
// nothing else in the way: one op is one RTP packet read by a shared
// receiver, checked, latched, relayed to the other leg (and recorded, for
// rec=on) and handed to the kernel. The phones' sends and reads are outside
// the timer; the kernel's loopback delivery of the relayed packet is inside,
// as it is in the server's own CPU. Reported beside ns/op and allocs/op:
// cpu-ns/pkt, the process's CPU time (getrusage, user and system) over the
// timed rounds — the figure to compare on a shared machine, where wall time
// is noisy.
//
//	go test -run '^$' -bench RelayPacket -benchmem ./sip/media/
func BenchmarkRelayPacket(b *testing.B) {
	for _, rec := range []bool{false, true} {
		for _, mode := range []string{SendIOURing, SendEach} {
			b.Run(fmt.Sprintf("rec=%s/send=%s", onOff(rec), mode), func(b *testing.B) {
				benchRelay(b, mode == SendIOURing, rec)
			})
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// relayBenchPairs is how many bridged calls the benchmark's receiver
// serves; a round reads one packet from up to rxEvents of their sockets.
const relayBenchPairs = 256

// rawPhone is a phone's socket as a bare descriptor: the benchmark's own
// sends and reads stay cheap and outside Go's netpoller.
type rawPhone struct {
	fd   int
	addr *net.UDPAddr
	to   unix.Sockaddr // its session's address
	seq  uint16
	ssrc uint32
}

func newRawPhone(b *testing.B) *rawPhone {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		b.Fatal(err)
	}
	return &rawPhone{fd: fd, addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port},
		ssrc: uint32(fd) * 7919}
}

func benchRelay(b *testing.B, batched, record bool) {
	r, err := newReceiver(batched, false, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Skip(err)
	}
	if rd, rl := r.batches(); batched && (!rd || !rl) {
		b.Skip("io_uring not available")
	}
	defer func() {
		// run never started: the benchmark drives the rounds itself.
		close(r.loopDone)
		close(r.done)
		r.stop()
	}()
	m := NewMetrics(nil)
	// A pacer that never runs: its shards give the sessions the sendMu
	// that a shared receiver's registration takes (Session.shard).
	pacer := NewPacer(m)
	dir := b.TempDir()
	var phones []*rawPhone
	var bridges []*Bridge
	for i := range relayBenchPairs {
		var sess [2]*Session
		for side := range sess {
			ph := newRawPhone(b)
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			s := NewSession(SessionConfig{Conn: conn, Metrics: m, Pacer: pacer,
				Negotiated: Negotiated{Codec: PCMU, Remote: ph.addr.AddrPort(), Direction: SendRecv}})
			e, ok := r.register(s)
			if !ok {
				b.Fatal("register with the receiver")
			}
			s.rxReg = e
			b.Cleanup(func() { s.Close() })
			ph.to = &unix.SockaddrInet4{Port: conn.LocalAddr().(*net.UDPAddr).Port, Addr: [4]byte{127, 0, 0, 1}}
			sess[side] = s
			phones = append(phones, ph)
		}
		opts := BridgeOptions{Metrics: m}
		if record {
			rec, err := NewRecorder(filepath.Join(dir, fmt.Sprintf("%d.wav", i)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { rec.Close() })
			opts.Recorder = rec
		}
		br := NewBridge(sess[0], sess[1], opts)
		br.Start()
		b.Cleanup(br.Stop)
		bridges = append(bridges, br)
	}
	pkt := make([]byte, rtpHeaderSize+frameSamples)
	pcm := PCMU.Encode(nil, tone(frameSamples))
	copy(pkt[rtpHeaderSize:], pcm)
	events := make([]unix.EpollEvent, rxEvents)
	buf := make([]byte, rxBufSize)
	drain := make([]byte, rxBufSize)
	var p rtp.Packet
	start := time.Now()
	var cpu time.Duration
	next := 0
	round := func(k int) {
		// The phones' side, untimed: one packet to each of k sessions,
		// timestamps on the wall clock as a phone's are.
		ts := uint32(time.Since(start) / (time.Second / 8000))
		for j := range k {
			ph := phones[(next+j)%len(phones)]
			ph.seq++
			pkt[0], pkt[1] = 0x80, PCMU.PayloadType
			binary.BigEndian.PutUint16(pkt[2:], ph.seq)
			binary.BigEndian.PutUint32(pkt[4:], ts)
			binary.BigEndian.PutUint32(pkt[8:], ph.ssrc)
			if err := unix.Sendto(ph.fd, pkt, 0, ph.to); err != nil {
				b.Fatal(err)
			}
		}
		c0 := processCPU(b)
		b.StartTimer()
		for got := 0; got < k; {
			n, err := unix.EpollWait(r.epfd, events, 0)
			if err != nil && err != unix.EINTR {
				b.Fatal(err)
			}
			r.handleEvents(events[:max(n, 0)], buf, &p)
			got += max(n, 0)
		}
		b.StopTimer()
		cpu += processCPU(b) - c0
		// The relayed packets reach the other phones; read them away.
		for j := range k {
			ph := phones[(next+j)%len(phones)^1]
			for {
				if _, _, err := unix.Recvfrom(ph.fd, drain, unix.MSG_DONTWAIT); err != nil {
					break
				}
			}
		}
		next = (next + k) % len(phones)
	}
	round(len(phones)) // every source latches before the timer starts
	cpu = 0
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for done := 0; done < b.N; {
		k := min(rxEvents, b.N-done)
		round(k)
		done += k
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
	var relayed uint64
	for _, br := range bridges {
		st := br.Stats()
		relayed += st.CallerToAgent + st.AgentToCaller
	}
	if want := uint64(b.N + len(phones)); relayed != want {
		b.Fatalf("relayed %d packets, want %d", relayed, want)
	}
}

// processCPU is the process's user and system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
