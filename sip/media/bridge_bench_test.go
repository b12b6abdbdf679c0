package media

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkBridge bridges n call pairs on loopback (every other pair
// PCMU⇄PCMA, so half the packets are transcoded); each of the 2n phones
// sends a packet every 20 ms at a random phase and receives the other side.
// Reported: the delay a packet takes from the sending phone through the
// bridge to the other phone (p50, p99), the added jitter (p99 of each
// stream's delay above its own minimum), loss, the bridge's own
// receive-to-send latency and CPU per relayed packet. The target:
// ≥ 1,000 concurrent bridged calls with p99 added jitter under 5 ms.
//
//	go test -run '^$' -bench Bridge -benchtime 1x ./sip/media/
func BenchmarkBridge(b *testing.B) {
	for _, pairs := range benchPairs {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			for b.Loop() {
				benchBridge(b, pairs, 3*time.Second)
			}
		})
	}
}

// benchPairs are the sizes BenchmarkBridge runs.
var benchPairs = []int{100, 250, 500, 1000}

// phone is one simulated softphone: it sends frames to its session and
// records when each left, and measures what it receives.
type phone struct {
	conn   *net.UDPConn
	to     *Session
	codec  Codec
	sentAt []atomic.Int64 // unix nanoseconds per frame index
	peer   *phone         // the phone whose frames this one receives
	delays []time.Duration
	minD   time.Duration
}

func benchBridge(b *testing.B, pairs int, d time.Duration) {
	m := NewMetrics(nil)
	pacer := NewPacer(m)
	ctx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { pacer.Run(ctx) })
	defer func() {
		cancel()
		bg.Wait()
	}()
	frames := int((d + time.Second) / frameDuration)
	var phones []*phone
	var bridges []*Bridge
	for i := range pairs {
		agentCodec := PCMU
		if i%2 == 1 {
			agentCodec = PCMA
		}
		a, c := benchLeg(b, pacer, m, PCMU, frames), benchLeg(b, pacer, m, agentCodec, frames)
		a.peer, c.peer = c, a
		br := NewBridge(a.to, c.to, BridgeOptions{Metrics: m})
		br.Start()
		bridges = append(bridges, br)
		phones = append(phones, a, c)
	}
	start := time.Now().Add(100 * time.Millisecond)
	cpu0 := cpuTime(b)
	var run sync.WaitGroup
	for _, p := range phones {
		run.Go(func() { p.send(b, start, frames) })
		run.Go(func() { p.receive(start.Add(d + 1500*time.Millisecond)) })
	}
	run.Wait()
	cpu := cpuTime(b) - cpu0
	benchReport(b, phones, bridges, frames, cpu)
}

func benchLeg(b *testing.B, pacer *Pacer, m *Metrics, c Codec, frames int) *phone {
	listen := func() *net.UDPConn {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	p := &phone{conn: listen(), codec: c, sentAt: make([]atomic.Int64, frames), minD: time.Hour}
	sconn := listen()
	p.to = NewSession(SessionConfig{Conn: sconn, Pacer: pacer, Metrics: m,
		Negotiated: Negotiated{Codec: c, Remote: addrOf(p.conn), Direction: SendRecv}})
	p.to.Start()
	b.Cleanup(func() { p.to.Close() })
	return p
}

// send plays frames at a random phase on the absolute 20 ms grid.
func (p *phone) send(b *testing.B, start time.Time, frames int) {
	start = start.Add(time.Duration(rand.Int64N(int64(frameDuration))))
	pcm := tone(frameSamples)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.codec.PayloadType, SSRC: rand.Uint32()}}
	buf := make([]byte, 1500)
	to := sessionAddr(p.to)
	for k := range frames {
		time.Sleep(time.Until(start.Add(time.Duration(k) * frameDuration)))
		pkt.SequenceNumber, pkt.Timestamp = uint16(k), uint32(k*frameSamples)
		pkt.Payload = p.codec.Encode(pkt.Payload[:0], stampFrame(pcm, k))
		n, _ := pkt.MarshalTo(buf)
		p.sentAt[k].Store(time.Now().UnixNano())
		if _, err := p.conn.WriteToUDPAddrPort(buf[:n], to); err != nil {
			b.Errorf("phone send: %v", err)
			return
		}
	}
}

// stampBits is how many leading samples carry the frame index.
const stampBits = 16

// stampFrame writes k into the signs of the first samples of pcm: a sign
// survives G.711 and PCMU⇄PCMA conversion, so the receiver can tell which
// frame arrived whatever the codecs.
func stampFrame(pcm []int16, k int) []int16 {
	for i := range stampBits {
		pcm[i] = -8000
		if k>>i&1 == 1 {
			pcm[i] = 8000
		}
	}
	return pcm
}

// frameStamp reads the index written by stampFrame.
func frameStamp(pcm []int16) int {
	k := 0
	for i := range stampBits {
		if pcm[i] > 0 {
			k |= 1 << i
		}
	}
	return k
}

// receive measures each packet's delay from the moment the peer sent the
// frame it carries.
func (p *phone) receive(until time.Time) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var pcm []int16
	p.conn.SetReadDeadline(until)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		pcm = p.codec.Decode(pcm[:0], pkt.Payload)
		if len(pcm) < stampBits {
			continue
		}
		k := frameStamp(pcm)
		if k >= len(p.peer.sentAt) || k < 15 { // the first 300 ms warm up
			continue
		}
		sent := p.peer.sentAt[k].Load()
		if sent == 0 || sent > now {
			continue // cannot happen unless the stamp is corrupted
		}
		d := time.Duration(now - sent)
		p.delays = append(p.delays, d)
		p.minD = min(p.minD, d)
	}
}

func benchReport(b *testing.B, phones []*phone, bridges []*Bridge, frames int, cpu time.Duration) {
	var delays, jitter []time.Duration
	for _, p := range phones {
		delays = append(delays, p.delays...)
		for _, d := range p.delays {
			jitter = append(jitter, d-p.minD)
		}
	}
	if len(delays) == 0 {
		b.Fatal("no packet went through the bridges")
	}
	slices.Sort(delays)
	slices.Sort(jitter)
	q := func(s []time.Duration, f float64) float64 {
		return float64(s[min(int(f*float64(len(s))), len(s)-1)]) / 1e6
	}
	var relayed, transcoded uint64
	var latMax time.Duration
	for _, br := range bridges {
		st := br.Stats()
		relayed += st.CallerToAgent + st.AgentToCaller
		transcoded += st.Transcoded
		latMax = max(latMax, st.LatencyMax)
	}
	expected := float64(len(phones) * (frames - 15))
	b.ReportMetric(q(delays, 0.5), "p50-delay-ms")
	b.ReportMetric(q(delays, 0.99), "p99-delay-ms")
	b.ReportMetric(q(jitter, 0.99), "p99-added-jitter-ms")
	b.ReportMetric(q(jitter, 0.999), "p99.9-added-jitter-ms")
	b.ReportMetric((expected-float64(len(delays)))/expected*100, "loss-%")
	b.ReportMetric(float64(latMax)/1e6, "max-relay-ms")
	b.ReportMetric(float64(transcoded)/float64(max(relayed, 1))*100, "transcoded-%")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(relayed, 1)), "cpu-ns/relayed-pkt")
}
