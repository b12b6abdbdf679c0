package tickets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sweeper defaults.
const (
	defaultSweepInterval = 10 * time.Second
	defaultSweepBatch    = 200
)

// SweeperOptions configure a Sweeper.
type SweeperOptions struct {
	// Rules give the escalation period per category (S15); default DefaultDeadlineRules().
	Rules *DeadlineRules
	// Notifier receives the alerts; nil only logs them.
	Notifier Notifier
	// Interval between sweeps in Run (default 10s).
	Interval time.Duration
	// Batch is the number of tickets one statement takes (default 200).
	Batch int
	// Metrics may be nil (an unregistered set is used).
	Metrics *Metrics
	// Logger may be nil (logs are discarded).
	Logger *slog.Logger
}

// Sweeper finds overdue drafts (S12), breached deadlines (S14) and due
// escalations (S15). Every node runs one: each statement takes its rows
// with FOR UPDATE SKIP LOCKED, re-checks the condition on the locked row
// and records the step in that row and an event in the same statement, so
// no ticket is flagged, breached or escalated twice, across nodes and
// restarts alike.
type Sweeper struct {
	pool    *pgxpool.Pool
	opts    SweeperOptions
	metrics *Metrics
	log     *slog.Logger
}

// SweepResult counts what one Sweep did.
type SweepResult struct {
	Overdue   int // drafts flagged overdue (S12)
	Breached  int // deadlines marked breached, escalation level 1 (S14, S15)
	Escalated int // tickets raised to escalation level 2 (S15)
}

// NewSweeper returns a sweeper on pool.
func NewSweeper(pool *pgxpool.Pool, opts SweeperOptions) (*Sweeper, error) {
	if pool == nil {
		return nil, errors.New("sweeper: a database pool is required")
	}
	if opts.Interval < 0 || opts.Batch < 0 {
		return nil, errors.New("sweeper: interval and batch must not be negative")
	}
	if opts.Rules == nil {
		opts.Rules = DefaultDeadlineRules()
	}
	if err := opts.Rules.Validate(); err != nil {
		return nil, fmt.Errorf("sweeper: %w", err)
	}
	if opts.Interval == 0 {
		opts.Interval = defaultSweepInterval
	}
	if opts.Batch == 0 {
		opts.Batch = defaultSweepBatch
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("component", "tickets.sweeper")
	if opts.Notifier == nil {
		opts.Notifier = NewLogNotifier(log)
	}
	return &Sweeper{pool: pool, opts: opts, metrics: opts.Metrics, log: log}, nil
}

// Run sweeps every Interval until ctx is done; a failed sweep is logged and
// retried at the next tick.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if res, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sweep", "err", err)
		} else if res != (SweepResult{}) {
			s.log.Info("sweep", "overdue", res.Overdue, "breached", res.Breached, "escalated", res.Escalated)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep runs the three steps until none finds more work.
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var err error
	if res.Overdue, err = s.step(ctx, overdueQuery, AlertOverdue, nil); err != nil {
		return res, fmt.Errorf("sweep overdue drafts: %w", err)
	}
	cats, secs := s.escalationPeriods()
	if res.Breached, err = s.step(ctx, breachQuery, AlertBreach, []any{cats, secs}); err != nil {
		return res, fmt.Errorf("sweep breaches: %w", err)
	}
	if res.Escalated, err = s.step(ctx, escalationQuery, AlertEscalation, nil); err != nil {
		return res, fmt.Errorf("sweep escalations: %w", err)
	}
	return res, nil
}

// escalationPeriods lists the level-2 period of each category (S15), for
// the breach statement to store the time level 2 is due.
func (s *Sweeper) escalationPeriods() ([]string, []float64) {
	cats := make([]string, 0, len(configs.TicketCategories()))
	secs := make([]float64, 0, len(configs.TicketCategories()))
	for _, c := range configs.TicketCategories() {
		cats = append(cats, c)
		secs = append(secs, s.opts.Rules.EscalationAfterFor(c).Seconds())
	}
	return cats, secs
}

// step runs one statement in batches until a batch comes back short.
func (s *Sweeper) step(ctx context.Context, query, kind string, extra []any) (int, error) {
	total := 0
	for {
		args := append([]any{s.opts.Batch}, extra...)
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return total, err
		}
		alerts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
			a := Alert{Kind: kind}
			return a, r.Scan(&a.TicketRef, &a.Agent, &a.Category, &a.Level)
		})
		if err != nil {
			return total, err
		}
		for _, a := range alerts {
			s.metrics.observeSweep(a)
			s.opts.Notifier.Notify(ctx, a)
		}
		total += len(alerts)
		if len(alerts) < s.opts.Batch {
			return total, nil
		}
	}
}

// The sweep statements. Each picks due rows through its partial index
// (migration 0003), locks them skipping rows another node holds, updates
// them and appends their events atomically, and returns
// (ref, owner, category, level) for the alerts.
const (
	// S12: drafts not entered by their deadline, flagged once.
	overdueQuery = `WITH due AS (
		SELECT id FROM tickets
		WHERE status = 'draft' AND overdue_flagged_at IS NULL AND entry_deadline < now()
		ORDER BY entry_deadline LIMIT $1 FOR UPDATE SKIP LOCKED
	), upd AS (
		UPDATE tickets t SET overdue_flagged_at = now() FROM due WHERE t.id = due.id
		RETURNING t.id, t.ref, coalesce(t.owner_agent, '') AS owner, coalesce(t.category, '') AS category, t.entry_deadline
	), ev AS (
		INSERT INTO ticket_events (ticket_id, kind, actor, data)
		SELECT id, 'overdue', 'sweeper', jsonb_build_object('entry_deadline', entry_deadline) FROM upd
	)
	SELECT ref, owner, category, 0 FROM upd`

	// S14/S15: active tickets past due_at: breach and escalation level 1;
	// level 2 becomes due after the category's period ($2 categories, $3
	// seconds).
	breachQuery = `WITH due AS (
		SELECT id FROM tickets
		WHERE status IN ('open', 'in_progress', 'reopened') AND breached_at IS NULL
		  AND due_at IS NOT NULL AND due_at < now()
		ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
	), upd AS (
		UPDATE tickets t SET breached_at = now(), escalation_level = 1, escalated_at = now(),
			next_escalation_at = now() + make_interval(secs => coalesce(
				(SELECT p.secs FROM unnest($2::text[], $3::float8[]) AS p(cat, secs) WHERE p.cat = t.category),
				86400))
		FROM due WHERE t.id = due.id
		RETURNING t.id, t.ref, coalesce(t.owner_agent, '') AS owner, coalesce(t.category, '') AS category, t.due_at
	), ev AS (
		INSERT INTO ticket_events (ticket_id, kind, actor, data)
		SELECT id, k.kind, 'sweeper', jsonb_build_object('due_at', due_at, 'level', 1)
		FROM upd, (VALUES ('breach'), ('escalated')) AS k(kind)
	)
	SELECT ref, owner, category, 1 FROM upd`

	// S15: breached tickets still active when level 2 is due.
	escalationQuery = `WITH due AS (
		SELECT id FROM tickets
		WHERE escalation_level = 1 AND status IN ('open', 'in_progress', 'reopened')
		  AND next_escalation_at < now()
		ORDER BY next_escalation_at LIMIT $1 FOR UPDATE SKIP LOCKED
	), upd AS (
		UPDATE tickets t SET escalation_level = 2, escalated_at = now() FROM due WHERE t.id = due.id
		RETURNING t.id, t.ref, coalesce(t.owner_agent, '') AS owner, coalesce(t.category, '') AS category
	), ev AS (
		INSERT INTO ticket_events (ticket_id, kind, actor, data)
		SELECT id, 'escalated', 'sweeper', jsonb_build_object('level', 2) FROM upd
	)
	SELECT ref, owner, category, 2 FROM upd`
)

// Notifier tells people about sweeper alerts: the agent and the supervisor
// of an overdue entry (S12), a breach and its escalations (S14, S15). The
// panel implements it; Notify must not block for long.
type Notifier interface {
	Notify(ctx context.Context, a Alert)
}

// LogNotifier writes alerts to a slog logger.
type LogNotifier struct{ log *slog.Logger }

// NewLogNotifier returns a notifier logging at warning level on log.
func NewLogNotifier(log *slog.Logger) *LogNotifier { return &LogNotifier{log: log} }

// Notify logs a.
func (n *LogNotifier) Notify(ctx context.Context, a Alert) {
	n.log.WarnContext(ctx, "ticket alert", "kind", a.Kind, "ref", a.TicketRef, "agent", a.Agent,
		"category", a.Category, "level", a.Level)
}

// AlertBuffer keeps the most recent alerts in memory, at most its capacity,
// for a panel that polls (and for tests).
type AlertBuffer struct {
	mu     sync.Mutex
	max    int
	alerts []Alert
}

// NewAlertBuffer returns a buffer of at most n alerts (at least 1).
func NewAlertBuffer(n int) *AlertBuffer { return &AlertBuffer{max: max(n, 1)} }

// Notify keeps a, dropping the oldest alert when full.
func (b *AlertBuffer) Notify(_ context.Context, a Alert) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.alerts) == b.max {
		b.alerts = append(b.alerts[:0], b.alerts[1:]...)
	}
	b.alerts = append(b.alerts, a)
}

// Recent returns a copy of the kept alerts, oldest first.
func (b *AlertBuffer) Recent() []Alert {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Alert(nil), b.alerts...)
}

// Notifiers sends each alert to every notifier in turn.
type Notifiers []Notifier

// Notify passes a to each notifier.
func (ns Notifiers) Notify(ctx context.Context, a Alert) {
	for _, n := range ns {
		n.Notify(ctx, a)
	}
}
