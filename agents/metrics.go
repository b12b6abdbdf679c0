package agents

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
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
		lengths: newScrapeCollector([]*prometheus.Desc{queueLengthDesc, queueOldestDesc},
			"queue_length_scrape_errors_total", "Scrapes whose queue lengths could not be read from Redis."),
		acd: newACDMetrics(),
	}
	m.acd.preset()
	for _, c := range configs.QueueCategories() {
		m.wait.WithLabelValues(c)
		for _, r := range []string{reasonNew, reasonRequeue, reasonRepublish} {
			m.enqueues.WithLabelValues(c, r)
		}
		for _, r := range []string{reasonRemoved, reasonNotQueued} {
			m.removals.WithLabelValues(c, r)
		}
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

// gauge is one value of a scrapeCollector's metric.
type gauge struct {
	desc   *prometheus.Desc
	value  float64
	labels []string
}

// scrapeCollector reports gauges read from Redis at scrape time, in one
// round trip, so every node exports the shared, cluster-wide figure rather
// than its own view. A Redis failure skips the values and counts an error
// instead of failing the whole scrape. The queue figures and the agents by
// state are two of them.
type scrapeCollector struct {
	descs  []*prometheus.Desc
	errors prometheus.Counter

	mu   sync.RWMutex
	read func(ctx context.Context) ([]gauge, error)
}

func newScrapeCollector(descs []*prometheus.Desc, errName, errHelp string) *scrapeCollector {
	return &scrapeCollector{
		descs: descs,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "agents", Name: errName, Help: errHelp,
		}),
	}
}

// attach sets what the collector reads; the last attached wins.
func (c *scrapeCollector) attach(read func(ctx context.Context) ([]gauge, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = read
}

// Describe implements prometheus.Collector.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
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
	for _, g := range values {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value, g.labels...)
	}
}

// queueDescs are the queue gauges: length and oldest wait per category.
var (
	queueLengthDesc = prometheus.NewDesc("hotline_agents_queue_length",
		"Callers waiting in each category's queue (read from Redis at scrape time).", []string{"category"}, nil)
	queueOldestDesc = prometheus.NewDesc("hotline_agents_queue_oldest_wait_seconds",
		"Wait of the longest-waiting caller in each category's queue, 0 when empty (read from Redis at scrape time).",
		[]string{"category"}, nil)
)

// QueueFigure is one category's queue as the wall shows it.
type QueueFigure struct {
	Category string
	Waiting  int
	// OldestWait is the wait of the longest-waiting caller, 0 when none.
	OldestWait time.Duration
}

// queueGauges is Figures as the queue length and oldest wait gauges.
func (q *Queue) queueGauges(ctx context.Context) ([]gauge, error) {
	figs, err := q.Figures(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gauge, 0, 2*len(figs))
	for _, f := range figs {
		out = append(out, gauge{queueLengthDesc, float64(f.Waiting), []string{f.Category}},
			gauge{queueOldestDesc, f.OldestWait.Seconds(), []string{f.Category}})
	}
	return out, nil
}

// Figures reads every queue category's length and oldest caller in one
// pipeline, with the Redis clock that stamped the enqueue times: the
// figures of the queue metrics and of the supervisors' wall.
func (q *Queue) Figures(ctx context.Context) ([]QueueFigure, error) {
	categories := configs.QueueCategories()
	pipe := q.rdb.Pipeline()
	now := pipe.Time(ctx)
	cards := make([]*redis.IntCmd, len(categories))
	heads := make([]*redis.ZSliceCmd, len(categories))
	normal := make([]*redis.ZSliceCmd, len(categories))
	for i, c := range categories {
		k := q.queueKey(c)
		cards[i] = pipe.ZCard(ctx, k)
		// The head is the oldest priority caller if any (S7); the oldest
		// caller of the normal band may have waited longer.
		heads[i] = pipe.ZRangeWithScores(ctx, k, 0, 0)
		normal[i] = pipe.ZRangeByScoreWithScores(ctx, k, &redis.ZRangeBy{
			Min: strconv.FormatFloat(bandWidth, 'f', 0, 64), Max: "+inf", Count: 1})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read queue gauges: %w", err)
	}
	out := make([]QueueFigure, 0, len(categories))
	for i, c := range categories {
		var oldest time.Duration
		for _, z := range append(heads[i].Val(), normal[i].Val()...) {
			_, at := decodeScore(z.Score)
			oldest = max(oldest, now.Val().Sub(at))
		}
		out = append(out, QueueFigure{Category: c, Waiting: int(cards[i].Val()), OldestWait: oldest})
	}
	return out, nil
}
