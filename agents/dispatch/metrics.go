package dispatch

import (
	"github.com/hotline-dev/hotline/ivr"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are routing's own (subsystem "calls"); no label carries an agent
// id or a number: per-agent figures belong in the panel.
type metrics struct {
	ended        *prometheus.CounterVec
	rings        *prometheus.CounterVec
	agentHangups prometheus.Counter
	ownerLate    prometheus.Counter
}

// ringResults are the values of agent_rings_total's result label.
var ringResults = []string{"answered", "answered_elsewhere", "no_answer", "busy", "decline", "caller_gone"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "ended_total",
			Help: "Calls ended, by outcome of the call record.",
		}, []string{"outcome"}),
		rings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "agent_rings_total",
			Help: "Agents rung for queued callers, by result (answered, no_answer, busy, decline, caller_gone; ring-all: answered_elsewhere).",
		}, []string{"result"}),
		agentHangups: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "agent_hangups_total",
			Help: "Conversations the agent ended before the caller (S11).",
		}),
		ownerLate: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "owner_lookup_late_total",
			Help: "Callers queued before the lookup of their open ticket's owner answered (S16): they went without the owner preference.",
		}),
	}
	for _, r := range ringResults {
		m.rings.WithLabelValues(r)
	}
	for _, o := range ivr.Outcomes() {
		m.ended.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.ended, m.rings, m.agentHangups, m.ownerLate)
	}
	return m
}

func (m *metrics) ringEnded(result string) { m.rings.WithLabelValues(result).Inc() }

func (m *metrics) agentHangup() { m.agentHangups.Inc() }

func (m *metrics) callEnded(outcome string) { m.ended.WithLabelValues(outcome).Inc() }
