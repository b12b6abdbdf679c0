package agents

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// acdMetrics are the ACD's metrics, part of Metrics.
type acdMetrics struct {
	matches        *prometheus.CounterVec // category, mode (one, all)
	misses         *prometheus.CounterVec // reason (no_answer, busy, decline)
	notResponding  prometheus.Counter
	callerGone     *prometheus.CounterVec // when (ringing, answered)
	transitions    *prometheus.CounterVec // to state
	reaped         *prometheus.CounterVec // kind (call, agent, node)
	latency        prometheus.Histogram
	historyDropped prometheus.Counter
	historyErrors  prometheus.Counter
	states         *scrapeCollector
}

func newACDMetrics() *acdMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: name, Help: help,
		}, labels)
	}
	single := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: name, Help: help,
		})
	}
	return &acdMetrics{
		matches:       counter("matches_total", "Callers offered to agents, by category and mode (one, all).", "category", "mode"),
		misses:        counter("misses_total", "Offers the agent did not take, by reason (no_answer, busy, decline; S1).", "reason"),
		notResponding: single("not_responding_total", "Agents paused as not responding after max_no_answer misses (S1)."),
		callerGone: counter("caller_gone_total",
			"Callers gone while an agent rang (ringing) or by the time the agent answered (answered).", "when"),
		transitions: counter("state_transitions_total", "Agent state transitions, by the state entered.", "state"),
		reaped:      counter("reaped_total", "Entries cleaned up after a dead node, by kind (node, call, agent).", "kind"),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "match_seconds",
			Help:    "Duration of one Match step in Redis (target: p99 5 ms).",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025},
		}),
		historyDropped: single("state_history_dropped_total", "State transitions not written to PostgreSQL because the buffer was full."),
		historyErrors:  single("state_history_errors_total", "State transitions PostgreSQL refused or did not answer."),
		states: newScrapeCollector("hotline_agents_by_state",
			"Agents in each state (read from Redis at scrape time).", "state",
			"state_scrape_errors_total", "Scrapes whose agent states could not be read from Redis."),
	}
}

func (m *acdMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.matches, m.misses, m.notResponding, m.callerGone, m.transitions,
		m.reaped, m.latency, m.historyDropped, m.historyErrors, m.states}
}

// stateGauges counts the agents in each state, cluster-wide, for the
// agents-by-state gauge; every state is reported, zero included, so
// dashboards see a stable set of series.
func (a *ACD) stateGauges(ctx context.Context) (map[string]float64, error) {
	states, err := a.rdb.HVals(ctx, a.key("agents:state")).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(States))
	for _, s := range States {
		out[string(s)] = 0
	}
	for _, s := range states {
		if _, known := out[s]; known {
			out[s]++
		}
	}
	return out, nil
}
