package ivr

import (
	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what callers do in the IVR (namespace hotline, subsystem ivr).
// Labels come from closed sets only: outcome, category, source, reason.
type Metrics struct {
	calls    *prometheus.CounterVec // outcome
	choices  *prometheus.CounterVec // category (S3)
	invalid  prometheus.Counter
	timeouts prometheus.Counter
	// typeAhead: menu keys pressed during the greeting in office hours.
	typeAhead prometheus.Counter
	// dropped: keys pressed where they mean nothing, by stage.
	dropped *prometheus.CounterVec
	// languages: calls switched from the home language, by language and
	// source (key or prefix).
	languages *prometheus.CounterVec
	priority  *prometheus.CounterVec // source: key|number (S7)
	callbacks *prometheus.CounterVec // reason: after_hours|max_wait (S9)
	announces prometheus.Counter     // S8
	// announceFailures: announcements skipped because position or wait could
	// not be read (Redis unreachable); the caller stayed queued.
	announceFailures prometheus.Counter
	// offered, outcomes and answerWait are the supervisor's queue figures:
	// callers entering a category's queue, how each stint in a queue ended,
	// and the wait of the answered ones (service level and speed of answer, S1).
	offered    *prometheus.CounterVec   // category
	outcomes   *prometheus.CounterVec   // category, outcome
	answerWait *prometheus.HistogramVec // category
}

// Queue stint outcomes (label "outcome" of queue_outcomes_total).
const (
	stintAnswered  = "answered"
	stintAbandoned = "abandoned"
	stintCallback  = "callback"
	stintFailed    = "failed"
)

// answerWaitBuckets hold every service-level threshold a centre may pick
// (S1's default is 20 s) so the share answered within it is exact.
var answerWaitBuckets = []float64{5, 10, 15, 20, 30, 60, 120, 300, 600}

// NewMetrics creates the IVR metrics and registers them on reg; with a nil reg
// they work but are registered nowhere.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: "hotline", Subsystem: "ivr", Name: name, Help: help}
	}
	m := &Metrics{
		calls: prometheus.NewCounterVec(opts("calls_total",
			"Calls that left the IVR, by outcome."), []string{"outcome"}),
		choices: prometheus.NewCounterVec(opts("menu_choices_total",
			"Queue categories chosen in the menu (S3)."), []string{"category"}),
		invalid: prometheus.NewCounter(opts("menu_invalid_total",
			"Menu keys that are not in the menu.")),
		timeouts: prometheus.NewCounter(opts("menu_timeouts_total",
			"Menus that got no key within menu_timeout.")),
		typeAhead: prometheus.NewCounter(opts("menu_type_ahead_total",
			"Menu keys pressed during the greeting in office hours (they stop the greeting and answer the menu).")),
		dropped: prometheus.NewCounterVec(opts("dtmf_dropped_total",
			"Keys pressed where they mean nothing (consumed so they cannot answer the next question), by stage."), []string{"stage"}),
		languages: prometheus.NewCounterVec(opts("language_choices_total",
			"Calls switched from the home language, by language and source: key (offered in the greeting) or prefix (the caller's number)."),
			[]string{"language", "source"}),
		priority: prometheus.NewCounterVec(opts("priority_calls_total",
			"Calls marked priority (S7), by source: key 9 or a listed number."), []string{"source"}),
		callbacks: prometheus.NewCounterVec(opts("callbacks_total",
			"Callback requests stored, by reason (S9)."), []string{"reason"}),
		announces: prometheus.NewCounter(opts("queue_announcements_total",
			"Position and wait announcements to queued callers (S8).")),
		announceFailures: prometheus.NewCounter(opts("queue_announcement_failures_total",
			"Position and wait announcements skipped because the queue could not be read (S8); the caller stayed queued.")),
		offered: prometheus.NewCounterVec(opts("queue_offered_total",
			"Callers who entered a category's queue (a transfer back to a queue counts again)."), []string{"category"}),
		outcomes: prometheus.NewCounterVec(opts("queue_outcomes_total",
			"How a caller's stay in a queue ended, by category and outcome (answered, abandoned, callback, failed)."),
			[]string{"category", "outcome"}),
		answerWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "ivr", Name: "answer_wait_seconds",
			Help:    "Queue wait of callers an agent answered, by category (S1: service level and average speed of answer).",
			Buckets: answerWaitBuckets,
		}, []string{"category"}),
	}
	for _, o := range Outcomes() {
		m.calls.WithLabelValues(o)
	}
	for _, c := range configs.QueueCategories() {
		m.choices.WithLabelValues(c)
		m.offered.WithLabelValues(c)
		m.answerWait.WithLabelValues(c)
		for _, o := range []string{stintAnswered, stintAbandoned, stintCallback, stintFailed} {
			m.outcomes.WithLabelValues(c, o)
		}
	}
	for _, s := range []string{stageGreeting, stageCallbackOffer, stageSurvey} {
		m.dropped.WithLabelValues(s)
	}
	for _, l := range Languages() {
		for _, s := range []string{languageByKey, languageByPrefix} {
			m.languages.WithLabelValues(l, s)
		}
	}
	for _, s := range []string{prioritySourceKey, prioritySourceNumber} {
		m.priority.WithLabelValues(s)
	}
	for _, r := range []string{ReasonAfterHours, ReasonMaxWait} {
		m.callbacks.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.choices, m.invalid, m.timeouts, m.typeAhead, m.dropped, m.languages, m.priority, m.callbacks, m.announces, m.announceFailures,
			m.offered, m.outcomes, m.answerWait)
	}
	return m
}

const (
	prioritySourceKey    = "key"
	prioritySourceNumber = "number"
)
