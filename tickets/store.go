package tickets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultEntryWindow is the S12 default: five minutes after the call ends.
const defaultEntryWindow = 5 * time.Minute

// StoreOptions configure a Store.
type StoreOptions struct {
	// EntryWindow is the time after call end within which the agent must
	// enter the ticket (S12; default 5m).
	EntryWindow time.Duration
	// Rules are the deadline rules (S14); default DefaultDeadlineRules().
	Rules *DeadlineRules
	// Calendar is required when a rule counts working time (S9, S14).
	Calendar *Calendar
	// IDs protects ID numbers (S4, S5; required).
	IDs IDProtector
	// Metrics may be nil (an unregistered set is used).
	Metrics *Metrics
	// Logger may be nil (logs are discarded).
	Logger *slog.Logger
}

// Store is the ticket store in PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	opts    StoreOptions
	rules   *DeadlineRules
	metrics *Metrics
	log     *slog.Logger
}

// NewStore checks the options and returns a store on pool.
func NewStore(pool *pgxpool.Pool, opts StoreOptions) (*Store, error) {
	if pool == nil {
		return nil, errors.New("ticket store: a database pool is required")
	}
	if opts.IDs == nil {
		return nil, errors.New("ticket store: an ID protector is required (S5: ID numbers are stored encrypted)")
	}
	if opts.EntryWindow < 0 {
		return nil, fmt.Errorf("ticket store: entry window %s must not be negative", opts.EntryWindow)
	}
	if opts.EntryWindow == 0 {
		opts.EntryWindow = defaultEntryWindow
	}
	if opts.Rules == nil {
		opts.Rules = DefaultDeadlineRules()
	}
	if err := opts.Rules.Validate(); err != nil {
		return nil, fmt.Errorf("ticket store: %w", err)
	}
	if opts.Rules.needsCalendar() && opts.Calendar == nil {
		return nil, errors.New("ticket store: a deadline rule counts working time, so a calendar is required (S9)")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, opts: opts, rules: opts.Rules, metrics: opts.Metrics,
		log: opts.Logger.With("component", "tickets.store")}
	s.metrics.backlog.attach(pool)
	if cal := opts.Calendar; cal != nil {
		s.metrics.observeCalendar(cal)
		if err := cal.CheckCoverage(time.Now()); err != nil {
			s.log.Warn("calendar running out", "covered_until", cal.CoveredUntil().Format(time.DateOnly), "err", err)
		}
	}
	return s, nil
}

// ticketColumns is the select list scanned by scanTicket.
const ticketColumns = `t.id, t.ref, coalesce(t.call_id, ''), t.channel, t.status, coalesce(t.owner_agent, ''),
	coalesce(t.caller_number, ''), coalesce(t.caller_name, ''), coalesce(t.relation, ''), coalesce(t.callback_phone, ''),
	coalesce(t.id_type, ''), coalesce(t.id_masked, ''), coalesce(t.description, ''), coalesce(t.category, ''),
	coalesce(t.result, ''), t.follow_up_due, t.call_ended_at, coalesce(t.wait_seconds, 0), coalesce(t.recording_path, ''),
	coalesce(t.agent_id, ''), t.entry_deadline, t.entered_at, t.late, t.overdue_flagged_at, t.first_contact_due,
	t.due_at, t.deadline_uncertain, t.breached_at, t.escalation_level, t.escalated_at, coalesce(t.survey_score, 0),
	t.created_at, t.updated_at, t.language`

func scanTicket(row pgx.Row) (Ticket, error) {
	var k Ticket
	var followUp, ended, entryDL, entered, overdue, firstDue, due, breached, escalated *time.Time
	err := row.Scan(&k.ID, &k.Ref, &k.CallID, &k.Channel, &k.Status, &k.OwnerAgent,
		&k.CallerNumber, &k.CallerName, &k.Relation, &k.CallbackPhone,
		&k.IDType, &k.IDMasked, &k.Description, &k.Category,
		&k.Result, &followUp, &ended, &k.WaitSeconds, &k.RecordingPath,
		&k.AgentID, &entryDL, &entered, &k.Late, &overdue, &firstDue,
		&due, &k.DeadlineUncertain, &breached, &k.EscalationLevel, &escalated, &k.SurveyScore, &k.CreatedAt, &k.UpdatedAt, &k.Language)
	if err != nil {
		return Ticket{}, err
	}
	for _, p := range []struct {
		src *time.Time
		dst *time.Time
	}{{followUp, &k.FollowUpDue}, {ended, &k.CallEndedAt}, {entryDL, &k.EntryDeadline}, {entered, &k.EnteredAt},
		{overdue, &k.OverdueFlaggedAt}, {firstDue, &k.FirstContactDue}, {due, &k.DueAt}, {breached, &k.BreachedAt},
		{escalated, &k.EscalatedAt}} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	return k, nil
}

// getTicket reads one ticket by ref; lock adds FOR UPDATE (inside a tx).
func getTicket(ctx context.Context, db pgx.Tx, ref string, lock bool) (Ticket, error) {
	q := `SELECT ` + ticketColumns + ` FROM tickets t WHERE t.ref = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	k, err := scanTicket(db.QueryRow(ctx, q, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Ticket{}, fmt.Errorf("ticket %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("read ticket %s: %w", ref, err)
	}
	return k, nil
}

// Get returns the ticket with reference ref (ErrNotFound when none).
func (s *Store) Get(ctx context.Context, ref string) (Ticket, error) {
	k, err := scanTicket(s.pool.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets t WHERE t.ref = $1`, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Ticket{}, fmt.Errorf("ticket %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("read ticket %s: %w", ref, err)
	}
	return k, nil
}

// List returns the tickets matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Ticket, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Status != "" {
		add("t.status = ?", f.Status)
	}
	if f.Category != "" {
		add("t.category = ?", f.Category)
	}
	if f.Owner != "" {
		add("t.owner_agent = ?", f.Owner)
	}
	if f.CallerNumber != "" {
		add("t.caller_number = ?", f.CallerNumber)
	}
	if len(f.IDBlindIndex) > 0 {
		add("t.id_blind_index = ?", f.IDBlindIndex)
	}
	if f.Overdue {
		where = append(where, `((t.status = 'draft' AND t.overdue_flagged_at IS NOT NULL)
			OR (t.breached_at IS NOT NULL AND t.status IN ('open', 'in_progress', 'reopened')))`)
	}
	q := `SELECT ` + ticketColumns + ` FROM tickets t`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	args = append(args, min(limit, 500), max(f.Offset, 0))
	q += fmt.Sprintf(` ORDER BY t.created_at DESC, t.id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	return out, nil
}

// addEvent appends one ticket event inside tx; the database stamps its time.
func addEvent(ctx context.Context, tx pgx.Tx, ticketID int64, kind, actor string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO ticket_events (ticket_id, kind, actor, data) VALUES ($1, $2, $3, $4)`,
		ticketID, kind, actor, data)
	if err != nil {
		return fmt.Errorf("append %s event: %w", kind, err)
	}
	return nil
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// SetStatus moves the ticket along the allowed transitions (draft → open
// only through Submit) and appends a status event with the note.
func (s *Store) SetStatus(ctx context.Context, ref, to, actor, note string) (Ticket, error) {
	var out Ticket
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := getTicket(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		if !slices.Contains(transitions[k.Status], to) {
			return fmt.Errorf("ticket %s: %s → %s: %w", ref, k.Status, to, ErrInvalidTransition)
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET status = $2 WHERE id = $1`, k.ID, to); err != nil {
			return fmt.Errorf("ticket %s: set status: %w", ref, err)
		}
		if err := addEvent(ctx, tx, k.ID, EventStatus, actor, map[string]any{"from": k.Status, "to": to, "note": note}); err != nil {
			return err
		}
		out, err = getTicket(ctx, tx, ref, false)
		return err
	})
	return out, err
}

// AddNote appends a note event.
func (s *Store) AddNote(ctx context.Context, ref, actor, note string) error {
	if strings.TrimSpace(note) == "" {
		return FieldErrors{"note": msg(MsgNoteRequired)}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := getTicket(ctx, tx, ref, false)
		if err != nil {
			return err
		}
		return addEvent(ctx, tx, k.ID, EventNote, actor, map[string]any{"note": note})
	})
}

// Extend moves the due time of an active ticket later, as an explicit event
// with its reason (S14). A ticket already breached cannot be extended: its
// escalation runs.
func (s *Store) Extend(ctx context.Context, ref string, newDue time.Time, reason, actor string) (Ticket, error) {
	if strings.TrimSpace(reason) == "" {
		return Ticket{}, FieldErrors{"reason": msg(MsgExtendReasonRequired)}
	}
	var out Ticket
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := getTicket(ctx, tx, ref, true)
		switch {
		case err != nil:
			return err
		case !slices.Contains(activeStatuses, k.Status):
			return fmt.Errorf("ticket %s is %s: %w", ref, k.Status, ErrInvalidTransition)
		case !k.BreachedAt.IsZero():
			return fmt.Errorf("ticket %s: %w", ref, ErrAlreadyBreached)
		case !k.DueAt.IsZero() && !newDue.After(k.DueAt):
			return FieldErrors{"due_at": msg(MsgExtendNotLater, "due", k.DueAt.Format(time.RFC3339))}
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET due_at = $2 WHERE id = $1`, k.ID, newDue); err != nil {
			return fmt.Errorf("ticket %s: extend: %w", ref, err)
		}
		data := map[string]any{"from": nullTime(k.DueAt), "to": newDue, "reason": reason}
		if err := addEvent(ctx, tx, k.ID, EventExtended, actor, data); err != nil {
			return err
		}
		out, err = getTicket(ctx, tx, ref, false)
		return err
	})
	return out, err
}

// HandOff gives the ticket to another agent: the only way its owner changes
// (S16, first contact responsible).
func (s *Store) HandOff(ctx context.Context, ref, toAgent, actor string) (Ticket, error) {
	if strings.TrimSpace(toAgent) == "" {
		return Ticket{}, FieldErrors{"to_agent": msg(MsgToAgentRequired)}
	}
	var out Ticket
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := getTicket(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		if k.Status == StatusClosed {
			return fmt.Errorf("ticket %s is closed: %w", ref, ErrInvalidTransition)
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET owner_agent = $2 WHERE id = $1`, k.ID, toAgent); err != nil {
			return fmt.Errorf("ticket %s: hand off: %w", ref, err)
		}
		if err := addEvent(ctx, tx, k.ID, EventHandoff, actor, map[string]any{"from": k.OwnerAgent, "to": toAgent}); err != nil {
			return err
		}
		out, err = getTicket(ctx, tx, ref, false)
		return err
	})
	return out, err
}

// ReserveRef takes the next ticket reference (T<date>-<n>) from the database
// sequence, so a complaint caller hears it (S17) before the draft exists; pass
// it in DraftFacts.Ref.
func (s *Store) ReserveRef(ctx context.Context) (string, error) {
	var ref string
	if err := s.pool.QueryRow(ctx, `SELECT ticket_ref()`).Scan(&ref); err != nil {
		return "", fmt.Errorf("reserve ticket reference: %w", err)
	}
	return ref, nil
}
