package agents

import (
	"context"
	"fmt"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// acdMetrics are the ACD's metrics, part of Metrics.
type acdMetrics struct {
	matches        *prometheus.CounterVec // category, mode (one, all)
	misses         *prometheus.CounterVec // reason (no_answer, busy, decline)
	notResponding  prometheus.Counter
	callerGone     *prometheus.CounterVec // when (ringing, answered)
	transitions    *prometheus.CounterVec // to state
	reaped         *prometheus.CounterVec // kind (call, agent, node)
	lateBeats      prometheus.Counter
	latency        prometheus.Histogram
	historyDropped prometheus.Counter
	historyErrors  prometheus.Counter
	states         *scrapeCollector
	handle         *prometheus.HistogramVec // category
	wrapUp         prometheus.Histogram
}

// Buckets of the agents' time histograms; wrap-up has S12's 300 s entry
// window on a boundary.
var (
	handleBuckets = []float64{30, 60, 120, 180, 300, 600, 900, 1800, 3600}
	wrapUpBuckets = []float64{10, 30, 60, 120, 180, 240, 300, 600}
)

var (
	byStateDesc = prometheus.NewDesc("hotline_agents_by_state",
		"Agents in each state (read from Redis at scrape time).", []string{"state"}, nil)
	servingDesc = prometheus.NewDesc("hotline_agents_serving",
		"Logged-in agents serving each category, by state; an agent serving two categories counts in both (read from Redis at scrape time).",
		[]string{"category", "state"}, nil)
)

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
		lateBeats: single("heartbeats_late_total",
			"Heartbeats of this node that came after its alive key had lapsed, before any node reaped it (a node too loaded to beat on time)."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "match_seconds",
			Help:    "Duration of one Match step in Redis (target: p99 5 ms).",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025},
		}),
		historyDropped: single("state_history_dropped_total", "State transitions not written to PostgreSQL because the buffer was full."),
		historyErrors:  single("state_history_errors_total", "State transitions PostgreSQL refused or did not answer."),
		states: newScrapeCollector([]*prometheus.Desc{byStateDesc, servingDesc},
			"state_scrape_errors_total", "Scrapes whose agent states could not be read from Redis."),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "handle_seconds",
			Help:    "Conversation time from the agent's answer to the hang-up, by category.",
			Buckets: handleBuckets,
		}, []string{"category"}),
		wrapUp: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "wrap_up_seconds",
			Help:    "Time agents spent in wrap-up after a call (S12: at most the entry window).",
			Buckets: wrapUpBuckets,
		}),
	}
}

func (m *acdMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.matches, m.misses, m.notResponding, m.callerGone, m.transitions,
		m.reaped, m.lateBeats, m.latency, m.historyDropped, m.historyErrors, m.states, m.handle, m.wrapUp}
}

// preset creates every known label combination so dashboards and rate()
// see zeros from the start, not series that appear with their first event.
func (m *acdMetrics) preset() {
	for _, c := range configs.QueueCategories() {
		m.handle.WithLabelValues(c)
		m.matches.WithLabelValues(c, "one")
		m.matches.WithLabelValues(c, "all")
	}
	for _, r := range []string{MissNoAnswer, MissBusy, MissDecline} {
		m.misses.WithLabelValues(r)
	}
	for _, w := range []string{"ringing", "answered"} {
		m.callerGone.WithLabelValues(w)
	}
	for _, s := range States {
		m.transitions.WithLabelValues(string(s))
	}
	for _, k := range []string{"call", "agent", "node"} {
		m.reaped.WithLabelValues(k)
	}
}

// stateGauges counts the agents in each state, and those serving each
// category by state, cluster-wide, in one pipeline; every known combination
// is reported, zero included, so dashboards see a stable set of series.
func (a *ACD) stateGauges(ctx context.Context) ([]gauge, error) {
	categories := configs.QueueCategories()
	pipe := a.rdb.Pipeline()
	all := pipe.HGetAll(ctx, a.key("agents:state"))
	serving := make([]*redis.StringSliceCmd, len(categories))
	for i, c := range categories {
		serving[i] = pipe.SMembers(ctx, a.key("agents:serving:"+c))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read agent states: %w", err)
	}
	states := all.Val()
	out := make([]gauge, 0, len(States)*(1+len(categories)))
	count := func(ids []string) map[State]float64 {
		n := make(map[State]float64, len(States))
		for _, id := range ids {
			n[State(states[id])]++
		}
		return n
	}
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	total := count(ids)
	for _, s := range States {
		out = append(out, gauge{byStateDesc, total[s], []string{string(s)}})
	}
	for i, c := range categories {
		n := count(serving[i].Val())
		for _, s := range States {
			out = append(out, gauge{servingDesc, n[s], []string{c, string(s)}})
		}
	}
	return out, nil
}
