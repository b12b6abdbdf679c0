package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPacer plays a looping prompt on many sessions at once, each on its
// own loopback socket from a PortPool, to sink sockets nobody reads, and reports how
// well the pacer holds the 20 ms grid: p99 lateness against the grid, p99 of
// the per-stream send interval, the share of intervals outside 20 ± 2 ms and
// the process CPU time per packet. Each size runs for about 3 s.
//
//	go test -run '^$' -bench Pacer -benchtime 1x ./sip/media/
func BenchmarkPacer(b *testing.B) {
	for _, mode := range []string{SendEach, SendAuto} {
		for _, sessions := range []int{500, 2000} {
			b.Run(fmt.Sprintf("send=%s/sessions=%d", mode, sessions), func(b *testing.B) {
				for b.Loop() {
					benchPacer(b, mode, sessions, 3*time.Second)
				}
			})
		}
	}
}

func benchPacer(b *testing.B, mode string, n int, d time.Duration) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	pacer := NewPacerConfig(PacerConfig{Metrics: m, Send: mode})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { pacer.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	sessions := openSessions(b, n, pacer, m, openSinks(b, n/sessionsPerSink+1))
	prompt := NewPrompt("music", tone(8000))
	playCtx, stop := context.WithCancel(ctx)
	var plays sync.WaitGroup
	for _, s := range sessions {
		plays.Go(func() { s.Play(playCtx, []*Prompt{prompt}, PlayOptions{Loop: true}) })
	}
	time.Sleep(200 * time.Millisecond) // all streams registered and ticking
	before, cpu0 := gather(b, reg), cpuTime(b)
	time.Sleep(d)
	after, cpu1 := gather(b, reg), cpuTime(b)
	stop()
	plays.Wait()
	report(b, before, after, cpu1-cpu0, d)
}

// sessionsPerSink spreads the load over several receiving sockets, as real
// calls go to many phones; one sink for all would make the senders contend
// for its receive queue in the kernel.
const sessionsPerSink = 50

// openSinks opens n receiving sockets nobody reads: the kernel drops what
// overflows, which costs the senders nothing extra.
func openSinks(b *testing.B, n int) []netip.AddrPort {
	var out []netip.AddrPort
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return out
}

func openSessions(b *testing.B, n int, pacer *Pacer, m *Metrics, sinks []netip.AddrPort) []*Session {
	pool, err := NewPortPool(30000, 30000+4*n)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]*Session, 0, n)
	for range n {
		conn, port, err := pool.Listen(loopback)
		if err != nil {
			b.Fatalf("open session %d: %v", len(out), err)
		}
		s := NewSession(SessionConfig{Conn: conn, LocalPort: port, Pacer: pacer, Metrics: m,
			Negotiated: Negotiated{Codec: PCMU, Remote: sinks[len(out)%len(sinks)], Direction: SendRecv}})
		s.Start()
		b.Cleanup(func() {
			s.Close()
			pool.Release(port)
		})
		out = append(out, s)
	}
	return out
}

// histogram is a cumulative snapshot of one Prometheus histogram.
type histogram struct {
	count  float64
	bounds []float64
	cum    []float64
}

type snapshot struct {
	lateness, interval histogram
	sent, skipped      float64
}

func gather(b *testing.B, reg *prometheus.Registry) snapshot {
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var s snapshot
	for _, f := range families {
		metric := f.GetMetric()[0]
		switch f.GetName() {
		case "hotline_media_packets_sent_total":
			s.sent = metric.GetCounter().GetValue()
		case "hotline_media_skipped_ticks_total":
			s.skipped = metric.GetCounter().GetValue()
		case "hotline_media_send_lateness_seconds", "hotline_media_send_interval_seconds":
			h := histogram{count: float64(metric.GetHistogram().GetSampleCount())}
			for _, bk := range metric.GetHistogram().GetBucket() {
				h.bounds = append(h.bounds, bk.GetUpperBound())
				h.cum = append(h.cum, float64(bk.GetCumulativeCount()))
			}
			if f.GetName() == "hotline_media_send_lateness_seconds" {
				s.lateness = h
			} else {
				s.interval = h
			}
		}
	}
	return s
}

// sub returns the observations made between two snapshots.
func (h histogram) sub(o histogram) histogram {
	out := histogram{count: h.count - o.count, bounds: h.bounds}
	for i := range h.cum {
		out.cum = append(out.cum, h.cum[i]-o.cum[i])
	}
	return out
}

// quantile interpolates linearly inside the bucket, like PromQL's
// histogram_quantile; above the last bound it returns that bound.
func (h histogram) quantile(q float64) float64 {
	rank, lower, below := q*h.count, 0.0, 0.0
	for i, c := range h.cum {
		if c >= rank {
			return lower + (h.bounds[i]-lower)*(rank-below)/max(c-below, 1)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}

// le is the number of observations at or below bound (a bucket boundary).
func (h histogram) le(bound float64) float64 {
	for i, ub := range h.bounds {
		if ub == bound {
			return h.cum[i]
		}
	}
	return 0
}

func report(b *testing.B, before, after snapshot, cpu, d time.Duration) {
	sent := after.sent - before.sent
	if sent == 0 {
		b.Fatal("no packet sent")
	}
	late := after.lateness.sub(before.lateness)
	iv := after.interval.sub(before.interval)
	b.ReportMetric(sent/d.Seconds(), "pkts/s")
	b.ReportMetric(after.skipped-before.skipped, "skipped-ticks")
	b.ReportMetric(float64(cpu.Nanoseconds())/sent, "cpu-ns/pkt")
	b.ReportMetric(late.quantile(0.99)*1e3, "p99-late-ms")
	b.ReportMetric((late.count-late.le(0.002))/late.count*100, "late>2ms-%")
	b.ReportMetric(iv.quantile(0.99)*1e3, "p99-interval-ms")
	b.ReportMetric((iv.count-(iv.le(0.022)-iv.le(0.018)))/iv.count*100, "interval-off-2ms-%")
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
