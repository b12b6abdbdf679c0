package dispatch

import (
	"sync/atomic"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/prometheus/client_golang/prometheus"
)

// callbackMetrics are the placed callbacks' (subsystem "callbacks", S9).
type callbackMetrics struct {
	pending    atomic.Int64 // last count read by this node's placer
	placed     prometheus.Counter
	connected  prometheus.Counter
	attempts   *prometheus.CounterVec
	failed     *prometheus.CounterVec
	toConnect  prometheus.Histogram
	freeToRing prometheus.Histogram
	pendingFn  prometheus.GaugeFunc
	agentMiss  prometheus.Counter
	heldRounds *prometheus.CounterVec
}

func newCallbackMetrics(reg prometheus.Registerer) *callbackMetrics {
	m := &callbackMetrics{
		placed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "placed_total",
			Help: "Callbacks whose callee was dialled through the trunk (an agent had answered).",
		}),
		connected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "connected_total",
			Help: "Callbacks whose callee answered and was bridged to the agent.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "attempts_total",
			Help: "Callback attempts by result (connected, busy, no_answer, failed, forbidden_number).",
		}, []string{"result"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "failed_total",
			Help: "Callback requests closed without reaching the callee, by the last attempt's reason.",
		}, []string{"reason"}),
		toConnect: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "request_to_connect_seconds",
			Help: "Time from a callback request to its callee bridged to an agent (the default deadline is 2 working hours).",
			// 2h is the default callback deadline (deadlines.yaml); a night and a weekend run to days.
			Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600},
		}),
		freeToRing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "free_to_ring_seconds",
			Help:    "Time from an agent becoming available to the callee's phone ringing (180) for a callback it places, the agent's own ring included.",
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30},
		}),
		agentMiss: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "agent_misses_total",
			Help: "Agents rung for a callback who did not answer (the request is tried again; no attempt counted).",
		}),
		heldRounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "callbacks", Name: "held_total",
			Help: "Requests due but not placed in a round, by why (no_agent, callers_waiting).",
		}, []string{"why"}),
	}
	m.pendingFn = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hotline", Subsystem: "callbacks", Name: "pending",
		Help: "Callback requests not yet returned nor closed (read by this node's placer each round).",
	}, func() float64 { return float64(m.pending.Load()) })
	for _, r := range tickets.CallbackResults() {
		m.attempts.WithLabelValues(r)
		if r != tickets.ResultConnected {
			m.failed.WithLabelValues(r)
		}
	}
	for _, w := range []string{"no_agent", "callers_waiting"} {
		m.heldRounds.WithLabelValues(w)
	}
	if reg != nil {
		reg.MustRegister(m.placed, m.connected, m.attempts, m.failed, m.toConnect, m.freeToRing, m.pendingFn, m.agentMiss, m.heldRounds)
	}
	return m
}
