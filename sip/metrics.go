package sip

import (
	"net"
	"strconv"
	"sync/atomic"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the SIP front end's Prometheus metrics (subsystem "sip").
type Metrics struct {
	invites     *prometheus.CounterVec
	requestsBad *prometheus.CounterVec
	activeCalls prometheus.Gauge
	prompts     *prometheus.CounterVec
	agentLegs   *prometheus.CounterVec
	trunkLegs   *prometheus.CounterVec
	refers      *prometheus.CounterVec
	dnsRefused  prometheus.Counter
	udpDrops    prometheus.CounterFunc
	// udpConn is the SIP UDP socket whose kernel drops udpDrops reads (nil
	// before Run binds it).
	udpConn atomic.Pointer[net.UDPConn]
}

// NewMetrics creates the metrics and registers them on reg (nil registers nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		invites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "invites_total",
			Help: "Initial INVITEs by result (answered, not_found, not_acceptable, cancelled, draining, node_full, source_full, no_ports, bad_sdp, bad_media_address, no_ack, failed).",
		}, []string{"result"}),
		requestsBad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "requests_rejected_total",
			Help: "Requests refused by validation, by response status.",
		}, []string{"status"}),
		activeCalls: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "active_calls",
			Help: "Calls in progress on this node.",
		}),
		prompts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "prompts_started_total",
			Help: "Prompts started on callers' legs, by prompt name (a closed set from the IVR).",
		}, []string{"prompt"}),
		agentLegs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "agent_legs_total",
			Help: "Calls to agents' phones by result (answered, busy, declined, no_answer, cancelled, failed).",
		}, []string{"result"}),
		trunkLegs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "trunk_legs_total",
			Help: "Calls out through the callback trunk by result (answered, busy, declined, no_answer, cancelled, failed).",
		}, []string{"result"}),
		refers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "refers_total",
			Help: "REFERs (blind transfers, S10) by result (accepted, forbidden, bad_request, not_implemented, no_dialog, failed).",
		}, []string{"result"}),
		dnsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "dns_lookups_refused_total",
			Help: "DNS queries the SIP stack tried and was refused: a message named a host where an address was needed (the server never resolves names from requests).",
		}),
	}
	// A lost ACK or INFO is repaired only by the sender's retransmission,
	// 0.5–4 s later, and an INFO that overtakes its ACK reaches a call
	// without media yet: an operator must see that the socket overflows.
	m.udpDrops = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "sip", Name: "udp_receive_drops_total",
		Help: "SIP datagrams the kernel dropped on the UDP socket before the server read them (its receive buffer full; Linux only).",
	}, func() float64 {
		c := m.udpConn.Load()
		if c == nil {
			return 0
		}
		n, _ := media.SocketDrops(c)
		return float64(n)
	})
	for _, r := range []string{legAnswered, legBusy, legDeclined, legNoAnswer, legCancelled, legFailed} {
		m.agentLegs.WithLabelValues(r) // export zeros, so rates work from the start
		m.trunkLegs.WithLabelValues(r)
	}
	for _, r := range []string{referAccepted, referForbidden, referBadRequest, referNotImplemented, referNoDialog, referFailed} {
		m.refers.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.invites, m.requestsBad, m.activeCalls, m.prompts, m.agentLegs, m.trunkLegs, m.refers, m.dnsRefused, m.udpDrops)
	}
	return m
}

func (m *Metrics) invite(result string) { m.invites.WithLabelValues(result).Inc() }

func (m *Metrics) rejected(status int) { m.requestsBad.WithLabelValues(strconv.Itoa(status)).Inc() }

func (m *Metrics) promptPlayed(name string) { m.prompts.WithLabelValues(name).Inc() }

func (m *Metrics) agentLeg(result string) { m.agentLegs.WithLabelValues(result).Inc() }

func (m *Metrics) trunkLeg(result string) { m.trunkLegs.WithLabelValues(result).Inc() }

func (m *Metrics) refer(result string) { m.refers.WithLabelValues(result).Inc() }

// watchUDP makes udp_receive_drops_total read the drops of c, the SIP UDP socket.
func (m *Metrics) watchUDP(c *net.UDPConn) { m.udpConn.Store(c) }
