package tickets

import (
	"slices"
	"strconv"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of package tickets (namespace "hotline",
// subsystem "tickets"). Labels come from closed sets: record kinds, ticket
// channels and configs.TicketCategories(), escalation levels, survey scores.
type Metrics struct {
	written      *prometheus.CounterVec
	spooled      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	writeErrors  *prometheus.CounterVec
	pending      prometheus.Gauge
	batchSize    prometheus.Histogram // records per group commit
	batchSeconds prometheus.Histogram // one group commit's round trip
	batchSplits  prometheus.Counter   // group commits refused and written one by one

	calendarCoveredUntil prometheus.Gauge // S9: last date with listed holidays

	created      *prometheus.CounterVec   // by channel (S20)
	entries      *prometheus.CounterVec   // by category (S12)
	lateEntries  *prometheus.CounterVec   // by category (S12)
	entryLatency *prometheus.HistogramVec // call end → entry, by category (S12)
	overdue      prometheus.Counter       // drafts flagged overdue (S12)
	breaches     *prometheus.CounterVec   // by category (S14)
	escalations  *prometheus.CounterVec   // by level (S15)
	surveys      *prometheus.CounterVec   // by category and score (S18)
	backlog      *backlogCollector        // unresolved tickets from PostgreSQL
}

// entryBuckets put the S12 five-minute rule (300 s) on a bucket boundary.
var entryBuckets = []float64{60, 120, 240, 300, 600, 1800}

// NewMetrics creates the metrics and registers them on reg; with a nil reg
// it registers nothing (for tests and tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: name, Help: help,
		}, []string{label})
	}
	m := &Metrics{
		written:      counter("records_written_total", "Records (call, callback, answered call with draft ticket) written to PostgreSQL.", "kind"),
		spooled:      counter("records_spooled_total", "Records put in the on-disk spool because PostgreSQL could not take them.", "kind"),
		deadLettered: counter("records_dead_lettered_total", "Records PostgreSQL refused for good (bad data, a value too large), kept in the spool's dead-letter file.", "kind"),
		writeErrors:  counter("write_errors_total", "Failed attempts to write a record to PostgreSQL.", "kind"),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "records_pending",
			Help: "Records in the spool waiting for PostgreSQL.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "write_batch_records",
			Help:    "Records written per group commit (one round trip, one transaction).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096},
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "write_batch_seconds",
			Help:    "Time of one group commit's round trip to PostgreSQL, written or failed; a record write gives up at 2 s by default.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5},
		}),
		batchSplits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "write_batch_splits_total",
			Help: "Group commits PostgreSQL refused for one record's data, then written record by record so only that one is dead-lettered.",
		}),
		calendarCoveredUntil: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "calendar_covered_until_seconds",
			Help: "Last date (midnight, Unix seconds) of the last year whose holidays calendar.yaml lists; 0 when none (S9).",
		}),
		created:     counter("created_total", "Tickets created, by channel (S20).", "channel"),
		entries:     counter("entries_total", "Tickets entered (submitted), by category (S12).", "category"),
		lateEntries: counter("late_entries_total", "Tickets entered after their entry deadline, by category (S12).", "category"),
		entryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "entry_latency_seconds",
			Help:    "Time from call end to ticket entry, by category; S12 allows 300 s.",
			Buckets: entryBuckets,
		}, []string{"category"}),
		overdue: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "overdue_drafts_total",
			Help: "Draft tickets not entered by their entry deadline (S12).",
		}),
		breaches:    counter("deadline_breaches_total", "Ticket deadlines breached, by category (S14).", "category"),
		escalations: counter("escalations_total", "Ticket escalations, by level (S15).", "level"),
		surveys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "survey_scores_total",
			Help: "Survey scores recorded on tickets, by category: 1 satisfied, 2 neutral, 3 dissatisfied (S18).",
		}, []string{"category", "score"}),
		backlog: newBacklogCollector(),
	}
	m.preset()
	if reg != nil {
		reg.MustRegister(m.written, m.spooled, m.deadLettered, m.writeErrors, m.pending, m.batchSize, m.batchSeconds, m.batchSplits, m.calendarCoveredUntil,
			m.created, m.entries, m.lateEntries, m.entryLatency, m.overdue, m.breaches, m.escalations, m.surveys, m.backlog)
	}
	return m
}

// preset creates every label value so dashboards see zeros, not gaps.
func (m *Metrics) preset() {
	for _, kind := range []string{kindCall, kindCallback, kindAnswered} {
		m.written.WithLabelValues(kind)
		m.spooled.WithLabelValues(kind)
		m.deadLettered.WithLabelValues(kind)
		m.writeErrors.WithLabelValues(kind)
	}
	for _, ch := range []string{ChannelPhone, ChannelWeb, ChannelLetter} {
		m.created.WithLabelValues(ch)
	}
	for _, c := range configs.TicketCategories() {
		m.entries.WithLabelValues(c)
		m.lateEntries.WithLabelValues(c)
		m.breaches.WithLabelValues(c)
	}
	for _, l := range []string{"1", "2"} {
		m.escalations.WithLabelValues(l)
	}
	for _, c := range configs.TicketCategories() {
		m.entryLatency.WithLabelValues(c)
		for score := 1; score <= 3; score++ {
			m.surveys.WithLabelValues(c, strconv.Itoa(score))
		}
	}
}

// observeCalendar exports how far the calendar's holidays reach (S9).
func (m *Metrics) observeCalendar(c *Calendar) {
	if u := c.CoveredUntil(); !u.IsZero() {
		m.calendarCoveredUntil.Set(float64(u.Unix()))
		return
	}
	m.calendarCoveredUntil.Set(0)
}

// observeEntry counts an entered ticket (S12).
func (m *Metrics) observeEntry(k Ticket) {
	m.entries.WithLabelValues(k.Category).Inc()
	if k.Late {
		m.lateEntries.WithLabelValues(k.Category).Inc()
	}
	if !k.CallEndedAt.IsZero() && slices.Contains(configs.TicketCategories(), k.Category) {
		m.entryLatency.WithLabelValues(k.Category).Observe(k.EnteredAt.Sub(k.CallEndedAt).Seconds())
	}
}

// observeSurvey counts a score that landed on a ticket (S18).
func (m *Metrics) observeSurvey(category string, score int) {
	if slices.Contains(configs.TicketCategories(), category) {
		m.surveys.WithLabelValues(category, strconv.Itoa(score)).Inc()
	}
}

// observeSweep counts one sweeper alert (S12, S14, S15).
func (m *Metrics) observeSweep(a Alert) {
	switch a.Kind {
	case AlertOverdue:
		m.overdue.Inc()
	case AlertBreach:
		if a.Category != "" {
			m.breaches.WithLabelValues(a.Category).Inc()
		}
		m.escalations.WithLabelValues(strconv.Itoa(a.Level)).Inc()
	case AlertEscalation:
		m.escalations.WithLabelValues(strconv.Itoa(a.Level)).Inc()
	}
}
