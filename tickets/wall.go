package tickets

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CategoryToday is one queue category's figures since midnight (the
// centre's time zone, hotline.timezone as for ticket references).
type CategoryToday struct {
	// ServiceLevel is the share of callers answered by an agent within
	// service_level_threshold (S1), nil when no caller was answered yet.
	ServiceLevel *float64
	// AbandonRate is the share of queued callers who hung up while waiting,
	// nil when no caller left a queue yet.
	AbandonRate *float64
}

// Escalation is a ticket whose deadline was breached and that is still in
// work (S14, S15).
type Escalation struct {
	Ref          string
	Category     string
	Owner        string
	Level        int
	Since        time.Time
	Acknowledged bool // a supervisor acknowledged this level
}

// WallTickets are the supervisors' wall figures PostgreSQL holds.
type WallTickets struct {
	Categories      map[string]CategoryToday
	DraftsPending   int // drafts not yet entered (S12)
	DraftsLateToday int // entries due today that were late or are overdue (S12)
	OpenBreaches    int // unresolved tickets past their deadline (S14)
	Escalations     []Escalation
	// NuisanceReports are the agents' reports a supervisor has to decide (S21).
	NuisanceReports []NuisanceReport
}

// maxWallEscalations bounds the escalations listed on the wall.
const maxWallEscalations = 200

// todayStart is midnight in the centre's time zone, as ticket_ref() counts days.
const todayStart = `(date_trunc('day', now() AT TIME ZONE coalesce(nullif(current_setting('hotline.timezone', true), ''), 'Asia/Shanghai'))
	AT TIME ZONE coalesce(nullif(current_setting('hotline.timezone', true), ''), 'Asia/Shanghai'))`

// The wall's statements. The queue figures mirror the Prometheus rules
// (service level: answered within the threshold of those answered; abandon
// rate: abandoned of those who left a queue), over today instead of an hour,
// from the call records (calls_ended_at_idx).
const (
	wallCallsQuery = `SELECT category,
		count(*) FILTER (WHERE connected_at IS NOT NULL),
		count(*) FILTER (WHERE connected_at IS NOT NULL AND NOT wait_exceeded),
		count(*) FILTER (WHERE outcome = 'abandoned_in_queue'),
		count(*)
	FROM calls WHERE ended_at >= ` + todayStart + ` AND queued_at IS NOT NULL AND category IS NOT NULL
	GROUP BY category`

	wallLateQuery = `SELECT count(*) FROM tickets
	WHERE entry_deadline >= ` + todayStart + ` AND entry_deadline < now()
	  AND (late OR status = 'draft')`

	wallEscalationsQuery = `SELECT t.ref, coalesce(t.category, ''), coalesce(t.owner_agent, ''), t.escalation_level,
		coalesce(t.escalated_at, t.breached_at),
		EXISTS (SELECT FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'acknowledged'
			AND (e.data->>'level')::int = t.escalation_level)
	FROM tickets t
	WHERE t.status IN ('open', 'in_progress', 'reopened') AND t.breached_at IS NOT NULL
	ORDER BY t.escalation_level DESC, t.escalated_at LIMIT $1`
)

// WallFigures reads the wall's ticket and call figures. The drafts and
// breaches are the supervisors' backlog metric's own query (backlog.go).
func (s *Store) WallFigures(ctx context.Context) (WallTickets, error) {
	w := WallTickets{Categories: map[string]CategoryToday{}, Escalations: []Escalation{}}
	b, err := readBacklog(ctx, s.pool)
	if err != nil {
		return w, err
	}
	for _, v := range b {
		w.DraftsPending += int(v[0])
		w.OpenBreaches += int(v[3] + v[4])
	}
	if err := s.pool.QueryRow(ctx, wallLateQuery).Scan(&w.DraftsLateToday); err != nil {
		return w, fmt.Errorf("late entries today: %w", err)
	}
	if err := s.wallCalls(ctx, &w); err != nil {
		return w, err
	}
	rows, err := s.pool.Query(ctx, wallEscalationsQuery, maxWallEscalations)
	if err != nil {
		return w, fmt.Errorf("escalations: %w", err)
	}
	esc, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Escalation, error) {
		var e Escalation
		return e, r.Scan(&e.Ref, &e.Category, &e.Owner, &e.Level, &e.Since, &e.Acknowledged)
	})
	if err != nil {
		return w, fmt.Errorf("escalations: %w", err)
	}
	w.Escalations = append(w.Escalations, esc...)
	if w.NuisanceReports, err = s.OpenNuisanceReports(ctx); err != nil {
		return w, err
	}
	return w, nil
}

func (s *Store) wallCalls(ctx context.Context, w *WallTickets) error {
	rows, err := s.pool.Query(ctx, wallCallsQuery)
	if err != nil {
		return fmt.Errorf("calls today: %w", err)
	}
	defer rows.Close()
	ratio := func(n, of int64) *float64 {
		if of == 0 {
			return nil
		}
		r := float64(n) / float64(of)
		return &r
	}
	for rows.Next() {
		var cat string
		var answered, within, abandoned, queued int64
		if err := rows.Scan(&cat, &answered, &within, &abandoned, &queued); err != nil {
			return fmt.Errorf("calls today: %w", err)
		}
		w.Categories[cat] = CategoryToday{ServiceLevel: ratio(within, answered), AbandonRate: ratio(abandoned, queued)}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("calls today: %w", err)
	}
	return nil
}
