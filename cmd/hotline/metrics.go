package main

import (
	"strconv"

	"github.com/hotline-dev/hotline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// appMetrics are the wiring's own metrics (subsystem "calls").
type appMetrics struct {
	ended        *prometheus.CounterVec
	rings        *prometheus.CounterVec
	agentHangups *prometheus.CounterVec
	ownerLate    prometheus.Counter
}

func newAppMetrics(reg prometheus.Registerer) *appMetrics {
	m := &appMetrics{ended: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "calls", Name: "ended_total",
		Help: "Calls ended, by outcome of the call record.",
	}, []string{"outcome"}),
		rings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "agent_rings_total",
			Help: "Agents rung for queued callers, by result (answered, no_answer, busy, decline, caller_gone; ring-all: answered_elsewhere).",
		}, []string{"result"}),
		agentHangups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "agent_hangups_total",
			Help: "Conversations the agent ended before the caller (S11), per agent.",
		}, []string{"agent"}),
		ownerLate: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "calls", Name: "owner_lookup_late_total",
			Help: "Callers queued before the lookup of their open ticket's owner answered (S16): they went without the owner preference.",
		}),
	}
	reg.MustRegister(m.ended, m.rings, m.agentHangups, m.ownerLate)
	return m
}

func (m *appMetrics) ringEnded(result string) { m.rings.WithLabelValues(result).Inc() }

func (m *appMetrics) agentHangup(agent string) { m.agentHangups.WithLabelValues(agent).Inc() }

func (m *appMetrics) callEnded(outcome string) { m.ended.WithLabelValues(outcome).Inc() }

// guardCollector exports the SIP UDP guard's counters on scrape.
type guardCollector struct {
	srv  *sip.Server
	desc *prometheus.Desc
}

func newGuardCollector(s *sip.Server) *guardCollector {
	return &guardCollector{srv: s, desc: prometheus.NewDesc("hotline_sip_guard_datagrams_total",
		"UDP datagrams seen by the SIP guard, by what happened to them.", []string{"result"}, nil)}
}

func (g *guardCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *guardCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range g.srv.GuardStats() {
		for result, n := range map[string]uint64{
			"received": st.Received.Load(), "delivered": st.Delivered.Load(), "keepalive": st.KeepAlives.Load(),
			"oversized": st.Oversized.Load(), "rate_limited": st.RateLimited.Load(), "banned": st.Banned.Load(),
			"dropped": st.Dropped.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(n), result)
		}
		for _, status := range sip.RejectedStatuses() {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(st.Rejected(status)),
				"rejected_"+strconv.Itoa(status))
		}
	}
}
