package agents

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Enqueue reasons (label "reason" of enqueues_total).
const (
	reasonNew       = "new"       // first time the call joins a queue
	reasonRequeue   = "requeue"   // Enqueue of a call already waiting (original time kept)
	reasonRepublish = "republish" // re-added after a Redis restart
)

// Removal reasons (label "reason" of removals_total).
const (
	reasonRemoved   = "removed"    // the call was waiting and left the queue
	reasonNotQueued = "not_queued" // Remove of a call that was not waiting
)

// scrapeTimeout bounds the Redis reads of one scrape of the queue lengths.
const scrapeTimeout = time.Second

// Metrics holds the agents subsystem's metrics (namespace "hotline").
type Metrics struct {
	enqueues *prometheus.CounterVec
	removals *prometheus.CounterVec
	wait     *prometheus.HistogramVec
	lengths  *scrapeCollector
	acd      *acdMetrics
}

// NewMetrics creates the metrics and registers them on reg; a nil reg
// registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "queue_enqueues_total",
			Help: "Callers added to a queue, by category and reason (new, requeue, republish).",
		}, []string{"category", "reason"}),
		removals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "queue_removals_total",
			Help: "Queue removals, by category and reason (removed, not_queued).",
		}, []string{"category", "reason"}),
		// 20 s is the default service-level threshold (S1).
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "agents", Name: "queue_wait_seconds",
			Help:    "Time a caller spent in the queue, observed when the caller leaves it.",
			Buckets: []float64{5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800},
		}, []string{"category"}),
		lengths: newScrapeCollector("hotline_agents_queue_length",
			"Callers waiting in each category's queue (read from Redis at scrape time).", "category",
			"queue_length_scrape_errors_total", "Scrapes whose queue lengths could not be read from Redis."),
		acd: newACDMetrics(),
	}
	if reg != nil {
		reg.MustRegister(m.enqueues, m.removals, m.wait, m.lengths)
		reg.MustRegister(m.acd.collectors()...)
	}
	return m
}

func (m *Metrics) enqueued(category, reason string) {
	m.enqueues.WithLabelValues(category, reason).Inc()
}

func (m *Metrics) removed(category, reason string, waited time.Duration) {
	m.removals.WithLabelValues(category, reason).Inc()
	if reason == reasonRemoved {
		m.wait.WithLabelValues(category).Observe(max(waited, 0).Seconds())
	}
}

// scrapeCollector reports one gauge per label value, read from Redis at
// scrape time, so every node exports the shared, cluster-wide figure rather
// than its own view. A Redis failure skips the values and counts an error
// instead of failing the whole scrape. The queue lengths and the agents by
// state are two of them.
type scrapeCollector struct {
	desc   *prometheus.Desc
	errors prometheus.Counter

	mu   sync.RWMutex
	read func(ctx context.Context) (map[string]float64, error)
}

func newScrapeCollector(name, help, label, errName, errHelp string) *scrapeCollector {
	return &scrapeCollector{
		desc: prometheus.NewDesc(name, help, []string{label}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: errName, Help: errHelp,
		}),
	}
}

// attach sets what the collector reads; the last attached wins.
func (c *scrapeCollector) attach(read func(ctx context.Context) (map[string]float64, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = read
}

// Describe implements prometheus.Collector.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	c.mu.RLock()
	read := c.read
	c.mu.RUnlock()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	values, err := read(ctx)
	if err != nil {
		c.errors.Inc()
		return
	}
	for label, v := range values {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, label)
	}
}

// lengthGauges is the queue lengths for the collector.
func (q *Queue) lengthGauges(ctx context.Context) (map[string]float64, error) {
	lengths, err := q.lengths(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(lengths))
	for c, n := range lengths {
		out[c] = float64(n)
	}
	return out, nil
}

// lengths returns the length of every queue that was ever used.
func (q *Queue) lengths(ctx context.Context) (map[string]int64, error) {
	categories, err := q.rdb.SMembers(ctx, q.categoriesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list queue categories: %w", err)
	}
	cards := make(map[string]*redis.IntCmd, len(categories))
	pipe := q.rdb.Pipeline()
	for _, c := range categories {
		cards[c] = pipe.ZCard(ctx, q.queueKey(c))
	}
	if len(categories) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("read queue lengths: %w", err)
		}
	}
	out := make(map[string]int64, len(cards))
	for c, cmd := range cards {
		out[c] = cmd.Val()
	}
	return out, nil
}
