package media

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons for incoming packets. A closed set, so it can be a metric label
// (house style habit 8).
const (
	dropRTCP    = "rtcp"
	dropInvalid = "invalid"
	dropForeign = "foreign"
	dropBadPT   = "bad_pt"
	// dropSocket: dropped by the kernel, the socket's receive buffer full;
	// counted when the session closes.
	dropSocket = "socket_full"
)

// Digit sources, the closed label set of digits_total.
const (
	digitRFC4733 = "rfc4733"
	digitSIPInfo = "sip_info"
)

// Relay directions and the reasons a relayed packet is not sent: the closed
// label sets of the bridge metrics.
const (
	dirCallerToAgent = "caller_to_agent"
	dirAgentToCaller = "agent_to_caller"
	relayDropHeld    = "held"
	relayDropPrompt  = "prompt"
	relayDropCodec   = "codec"
	relayDropClosed  = "closed"
	relayDropLate    = "late"
)

// lateThreshold is the lateness above which a packet counts as late.
const lateThreshold = 2e-3 // seconds

// Metrics holds the Prometheus instruments of the media engine (namespace
// "hotline", subsystem "media"). Build it once with NewMetrics and share it
// between the Pacer and all Sessions.
type Metrics struct {
	sendLateness  prometheus.Histogram
	sendInterval  prometheus.Histogram
	packetsSent   prometheus.Counter
	latePackets   prometheus.Counter
	sendErrors    prometheus.Counter
	skippedTicks  prometheus.Counter
	activeStreams prometheus.Gauge
	packetsIn     prometheus.Counter
	dropped       map[string]prometheus.Counter
	digits        map[string]prometheus.Counter
	timeouts      prometheus.Counter
	sourceMoves   prometheus.Counter
	bridges       prometheus.Gauge
	relayed       map[string]prometheus.Counter
	relayDropped  map[string]prometheus.Counter
	transcoded    prometheus.Counter
	dtmfRelayed   prometheus.Counter
	relayLatency  prometheus.Histogram
	relayJitter   prometheus.Histogram
	kernelLegs    prometheus.Gauge
	kernelRelayed prometheus.Counter
	kernelLost    prometheus.Counter
	kernel        atomic.Pointer[kernelRelay] // the running kernel relay, for kernelCollector
}

// kernelCollector reports the kernel relay program's runs and CPU time: the
// relay's share that no process is charged for (it runs in the sender's
// system call on loopback).
type kernelCollector struct {
	m         *Metrics
	runs, cpu *prometheus.Desc
}

func (c kernelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.runs
	ch <- c.cpu
}

func (c kernelCollector) Collect(ch chan<- prometheus.Metric) {
	k := c.m.kernel.Load()
	if k == nil {
		return
	}
	runs, cpu, ok := k.runStats()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(runs))
	ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, cpu.Seconds())
}

// NewMetrics creates the media metrics and registers them with reg. With a nil
// reg the metrics work but are registered nowhere (useful in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sendLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "media", Name: "send_lateness_seconds",
			Help:    "Delay between a packet's slot on the 20 ms grid and its send call.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05},
		}),
		sendInterval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "media", Name: "send_interval_seconds",
			Help: "Time between two consecutive packets of one playback (target 20 ms ± 2 ms).",
			Buckets: []float64{0.01, 0.015, 0.018, 0.019, 0.0195, 0.0205, 0.021,
				0.022, 0.025, 0.03, 0.04},
		}),
		packetsSent: counter("packets_sent_total", "RTP packets sent by the pacer."),
		latePackets: counter("late_packets_total", "RTP packets sent more than 2 ms after their grid slot."),
		sendErrors:  counter("send_errors_total", "RTP packets whose send call failed."),
		skippedTicks: counter("skipped_ticks_total",
			"20 ms ticks the pacer skipped because it woke up a whole tick late."),
		activeStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "media", Name: "active_streams",
			Help: "Playbacks currently registered with the pacer.",
		}),
		packetsIn: counter("packets_received_total", "Valid RTP packets accepted from the latched source."),
		timeouts:  counter("media_timeouts_total", "Sessions that received no RTP for media_timeout."),
		sourceMoves: counter("source_moves_total",
			"RTP sources that took a session over from another source or from the SDP address (NAT rebinding, new SSRC)."),
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "media", Name: "packets_dropped_total",
		Help: "Incoming packets dropped, by reason (rtcp, invalid, foreign, bad_pt; socket_full: by the kernel, the call's RTP socket buffer full, counted when the call's media ends).",
	}, []string{"reason"})
	m.dropped = children(dropped, dropRTCP, dropInvalid, dropForeign, dropBadPT, dropSocket)
	digits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "media", Name: "digits_total",
		Help: "DTMF digits received, by source (rfc4733, sip_info).",
	}, []string{"source"})
	m.digits = children(digits, digitRFC4733, digitSIPInfo)
	relayed, relayDropped := m.bridgeMetrics()
	if reg != nil {
		reg.MustRegister(m.sendLateness, m.sendInterval, m.packetsSent, m.latePackets,
			m.sendErrors, m.skippedTicks, m.activeStreams, m.packetsIn, dropped, digits, m.timeouts, m.sourceMoves,
			m.bridges, relayed, relayDropped, m.transcoded, m.dtmfRelayed, m.relayLatency, m.relayJitter,
			m.kernelLegs, m.kernelRelayed, m.kernelLost, kernelCollector{m: m,
				runs: prometheus.NewDesc("hotline_media_kernel_relay_runs_total",
					"Runs of the kernel relay program since it was loaded: every IPv4 packet on loopback, forwarded or not.", nil, nil),
				cpu: prometheus.NewDesc("hotline_media_kernel_relay_cpu_seconds_total",
					"CPU time of the kernel relay program since it was loaded (counted by the kernel, BPF_ENABLE_STATS).", nil, nil)})
	}
	return m
}

// bridgeMetrics creates the instruments of Bridge and returns the vectors to
// register.
func (m *Metrics) bridgeMetrics() (relayed, dropped *prometheus.CounterVec) {
	m.bridges = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "hotline", Subsystem: "media", Name: "active_bridges",
		Help: "Calls whose legs are bridged now.",
	})
	relayed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "media", Name: "relayed_packets_total",
		Help: "Audio packets relayed between bridged legs, by direction.",
	}, []string{"direction"})
	m.relayed = children(relayed, dirCallerToAgent, dirAgentToCaller)
	dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "media", Name: "relay_dropped_total",
		Help: "Bridged packets not relayed, by reason (held, prompt, codec, closed: the destination leg already hung up; late: waited over 200 ms in its socket, the receiver behind).",
	}, []string{"reason"})
	m.relayDropped = children(dropped, relayDropHeld, relayDropPrompt, relayDropCodec, relayDropClosed, relayDropLate)
	m.kernelLegs = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "hotline", Subsystem: "media", Name: "kernel_relay_legs",
		Help: "Bridge legs whose audio the kernel relay forwards now (a tc program on loopback).",
	})
	m.kernelRelayed = counter("kernel_relayed_packets_total",
		"Audio packets the kernel relay forwarded (also counted in relayed_packets_total).")
	m.kernelLost = counter("kernel_relay_lost_copies_total",
		"Packets the kernel relay forwarded without a copy for user space (its ring full): missing from the recording.")
	m.transcoded = counter("transcoded_packets_total", "Relayed audio packets converted between PCMU and PCMA.")
	m.dtmfRelayed = counter("dtmf_relayed_packets_total", "RFC 4733 telephone-event packets passed between bridged legs.")
	m.relayLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "hotline", Subsystem: "media", Name: "relay_latency_seconds",
		Help:    "Time from a packet's arrival in one leg's socket (the kernel's SO_TIMESTAMPNS stamp) to handing it to the kernel on the other.",
		Buckets: []float64{0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005},
	})
	m.relayJitter = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "hotline", Subsystem: "media", Name: "relay_jitter_seconds",
		Help: "Added jitter: the change in relay latency from one relayed packet of a leg to the next " +
			"(|D(i-1,i)| of RFC 3550 section 6.4.1 with the relay as the path).",
		Buckets: []float64{0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02},
	})
	return relayed, dropped
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "media", Name: name, Help: help,
	})
}

// children resolves the label values up front so the packet path does no map
// lookups inside the client library.
func children(v *prometheus.CounterVec, values ...string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, val := range values {
		out[val] = v.WithLabelValues(val)
	}
	return out
}

// observeSend records one packet handed to the kernel.
func (m *Metrics) observeSend(lateness, interval float64) {
	m.packetsSent.Inc()
	m.sendLateness.Observe(lateness)
	if lateness > lateThreshold {
		m.latePackets.Inc()
	}
	if interval > 0 {
		m.sendInterval.Observe(interval)
	}
}
