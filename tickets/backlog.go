package tickets

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// backlogMaxAge is how long one reading of the backlog serves scrapes: a
// Prometheus every 5 s and a second one scraping the same node cost one
// query, not one each.
const backlogMaxAge = 5 * time.Second

// backlogTimeout bounds the query of one reading.
const backlogTimeout = 2 * time.Second

// escalationLevels are the levels a breached ticket carries (S15).
var escalationLevels = []string{"1", "2"}

var (
	draftsOpenDesc = prometheus.NewDesc("hotline_tickets_drafts_open",
		"Draft tickets not yet entered, by category (S12).", []string{"category"}, nil)
	draftsOverdueDesc = prometheus.NewDesc("hotline_tickets_drafts_overdue",
		"Draft tickets past their entry deadline, by category (S12).", []string{"category"}, nil)
	openDesc = prometheus.NewDesc("hotline_tickets_open",
		"Entered tickets not yet resolved (open, in progress, reopened), by category.", []string{"category"}, nil)
	breachedDesc = prometheus.NewDesc("hotline_tickets_breached_open",
		"Unresolved tickets whose deadline was breached, by category and escalation level (S14, S15).",
		[]string{"category", "level"}, nil)
)

// backlogQuery counts the unresolved tickets in one pass; the status index
// keeps it off the resolved and closed millions.
const backlogQuery = `
SELECT coalesce(category, ''),
       count(*) FILTER (WHERE status = 'draft'),
       count(*) FILTER (WHERE status = 'draft' AND entry_deadline < now()),
       count(*) FILTER (WHERE status <> 'draft'),
       count(*) FILTER (WHERE status <> 'draft' AND breached_at IS NOT NULL AND escalation_level = 1),
       count(*) FILTER (WHERE status <> 'draft' AND breached_at IS NOT NULL AND escalation_level = 2)
FROM tickets
WHERE status IN ('draft', 'open', 'in_progress', 'reopened')
GROUP BY 1`

// backlog is one reading: per category drafts, overdue, open, level 1, level 2.
type backlog map[string][5]float64

// backlogCollector exports the unresolved tickets from PostgreSQL, read at
// most once per backlogMaxAge however many scrapes come; a failed reading
// is counted and exports nothing rather than stale figures.
type backlogCollector struct {
	errors prometheus.Counter
	now    func() time.Time

	mu     sync.Mutex
	pool   *pgxpool.Pool
	last   backlog
	lastAt time.Time
}

func newBacklogCollector() *backlogCollector {
	return &backlogCollector{now: time.Now, errors: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "hotline", Subsystem: "tickets", Name: "backlog_scrape_errors_total",
		Help: "Scrapes whose ticket backlog could not be read from PostgreSQL.",
	})}
}

func (c *backlogCollector) attach(pool *pgxpool.Pool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pool = pool
}

// Describe implements prometheus.Collector.
func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{draftsOpenDesc, draftsOverdueDesc, openDesc, breachedDesc} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector. Concurrent scrapes wait for the
// one reading in flight instead of starting their own.
func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	b, ok := c.reading()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, cat := range configs.TicketCategories() {
		v := b[cat]
		gauge(draftsOpenDesc, v[0], cat)
		gauge(draftsOverdueDesc, v[1], cat)
		gauge(openDesc, v[2], cat)
		for i, l := range escalationLevels {
			gauge(breachedDesc, v[3+i], cat, l)
		}
	}
}

func (c *backlogCollector) reading() (backlog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == nil {
		return nil, false
	}
	if c.last != nil && c.now().Sub(c.lastAt) < backlogMaxAge {
		return c.last, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	b, err := readBacklog(ctx, c.pool)
	if err != nil {
		c.errors.Inc()
		c.last = nil
		return nil, false
	}
	c.last, c.lastAt = b, c.now()
	return b, true
}

func readBacklog(ctx context.Context, pool *pgxpool.Pool) (backlog, error) {
	rows, err := pool.Query(ctx, backlogQuery)
	if err != nil {
		return nil, fmt.Errorf("read ticket backlog: %w", err)
	}
	defer rows.Close()
	b := backlog{}
	for rows.Next() {
		var cat string
		var n [5]int64
		if err := rows.Scan(&cat, &n[0], &n[1], &n[2], &n[3], &n[4]); err != nil {
			return nil, fmt.Errorf("read ticket backlog: %w", err)
		}
		if !slices.Contains(configs.TicketCategories(), cat) {
			continue // a web ticket not yet classified has no category label
		}
		b[cat] = [5]float64{float64(n[0]), float64(n[1]), float64(n[2]), float64(n[3]), float64(n[4])}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read ticket backlog: %w", err)
	}
	return b, nil
}
