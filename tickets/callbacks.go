package tickets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChannelCallback is the channel of the ticket a callback request becomes (S9).
const ChannelCallback = "callback"

// Statuses of a callback request (callback_requests.status).
const (
	CallbackPending   = "pending"
	CallbackConnected = "connected"
	CallbackFailed    = "failed"
)

// Results of one callback attempt (callback_requests.last_result, the
// reason a failed request was closed with, and the metrics' reason label).
const (
	ResultConnected = "connected"
	ResultBusy      = "busy"
	ResultNoAnswer  = "no_answer"
	ResultFailed    = "failed"
	// ResultForbidden: the stored number is not one the trunk may dial
	// (callbacks.allowed_prefixes); it is closed without dialling.
	ResultForbidden = "forbidden_number"
)

// CallbackResults lists every attempt result (a closed set for metric labels).
func CallbackResults() []string {
	return []string{ResultConnected, ResultBusy, ResultNoAnswer, ResultFailed, ResultForbidden}
}

// Callback ticket events (S9, S15: each attempt is an event of the ticket).
const (
	EventCallbackAttempt   = "callback_attempt"
	EventCallbackConnected = "callback_connected"
	EventCallbackFailed    = "callback_failed"
	EventCallbackClaimed   = "callback_claimed"
)

// ErrNoCallback: no callback request is due (LeaseCallback), or the one
// asked for is not pending or not this agent's to claim.
var ErrNoCallback = errors.New("no callback request")

// Callback is a callback request as the placers and the panel see it.
type Callback struct {
	ID          int64     `json:"id"`
	CallID      string    `json:"-"`
	Caller      string    `json:"caller"`
	Category    string    `json:"category"` // empty when the caller chose none
	RequestedAt time.Time `json:"requested_at"`
	Reason      string    `json:"reason"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	ClaimedBy   string    `json:"claimed_by"`
	Ticket      string    `json:"ticket"` // the ticket's reference
	TicketID    int64     `json:"-"`
	LastResult  string    `json:"-"`
}

const callbackColumns = `c.id, c.call_id, c.caller, coalesce(c.category, ''), c.requested_at, c.reason, c.status,
	c.attempts, coalesce(c.claimed_by, ''), coalesce(t.ref, ''), coalesce(c.ticket_id, 0), coalesce(c.last_result, '')`

func scanCallback(row pgx.Row) (Callback, error) {
	var c Callback
	err := row.Scan(&c.ID, &c.CallID, &c.Caller, &c.Category, &c.RequestedAt, &c.Reason, &c.Status,
		&c.Attempts, &c.ClaimedBy, &c.Ticket, &c.TicketID, &c.LastResult)
	return c, err
}

// TicketCallbacks turns up to limit requests that have no ticket yet into
// tickets of channel callback (S9), due as deadlines.yaml "callback" says
// after the request (S14), so the sweeper breaches and escalates them like
// any other. Every node may run it: rows are taken with SKIP LOCKED.
func (s *Store) TicketCallbacks(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, caller, coalesce(category, ''), reason, requested_at
			FROM callback_requests WHERE ticket_id IS NULL AND status = 'pending'
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		type req struct {
			id                       int64
			caller, category, reason string
			at                       time.Time
		}
		reqs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (req, error) {
			var q req
			return q, r.Scan(&q.id, &q.caller, &q.category, &q.reason, &q.at)
		})
		if err != nil {
			return err
		}
		for _, q := range reqs {
			if err := s.ticketCallback(ctx, tx, q.id, q.caller, q.category, q.reason, q.at); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ticket callback requests: %w", err)
	}
	return n, nil
}

func (s *Store) ticketCallback(ctx context.Context, tx pgx.Tx, id int64, caller, category, reason string, at time.Time) error {
	var due *time.Time
	if span := s.rules.Callback; span != nil {
		d := span.after(s.opts.Calendar, at)
		due = &d
	}
	var ticketID int64
	err := tx.QueryRow(ctx, `INSERT INTO tickets (channel, status, caller_number, callback_phone, category,
			description, first_contact_due, due_at)
		VALUES ('callback', 'open', $1, $1, $2, $3, $4, $4) RETURNING id`,
		caller, nullText(category), "callback requested ("+reason+")", due).Scan(&ticketID)
	if err != nil {
		return fmt.Errorf("ticket for callback %d: %w", id, err)
	}
	if err := addEvent(ctx, tx, ticketID, EventCreated, "system",
		map[string]any{"callback_id": id, "reason": reason, "requested_at": at}); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE callback_requests SET ticket_id = $2 WHERE id = $1`, id, ticketID)
	return err
}

// LeaseSkip says what LeaseCallback passes over in a placer's round: the
// requests already tried, and the unclaimed requests of categories that
// have no agent now (requests without a category count as Default).
type LeaseSkip struct {
	IDs        []int64
	Categories []string
	Default    string
}

// LeaseCallback takes the next pending request due for an attempt (a
// claimed one first, then the oldest) for node, for lease: no other node
// gets it until the lease ends or FinishCallback/ReleaseCallback.
// ErrNoCallback: none due.
func (s *Store) LeaseCallback(ctx context.Context, node string, lease time.Duration, skip LeaseSkip) (Callback, error) {
	if skip.IDs == nil {
		skip.IDs = []int64{}
	}
	if skip.Categories == nil {
		skip.Categories = []string{}
	}
	c, err := scanCallback(s.pool.QueryRow(ctx, `WITH next AS (
			SELECT id FROM callback_requests
			WHERE status = 'pending' AND ticket_id IS NOT NULL
			  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
			  AND (lease_until IS NULL OR lease_until < now())
			  AND NOT (id = ANY($3))
			  AND (claimed_by IS NOT NULL OR NOT (coalesce(category, $5) = ANY($4)))
			ORDER BY claimed_by IS NULL, requested_at, id
			LIMIT 1 FOR UPDATE SKIP LOCKED)
		UPDATE callback_requests c SET leased_by = $1, lease_until = now() + $2 * interval '1 millisecond'
		FROM next, tickets t
		WHERE c.id = next.id AND t.id = c.ticket_id
		RETURNING `+callbackColumns, node, lease.Milliseconds(), skip.IDs, skip.Categories, skip.Default))
	if errors.Is(err, pgx.ErrNoRows) {
		return Callback{}, ErrNoCallback
	}
	if err != nil {
		return Callback{}, fmt.Errorf("lease callback request: %w", err)
	}
	return c, nil
}

// ReleaseCallback gives a leased request back untried (no agent was free).
func (s *Store) ReleaseCallback(ctx context.Context, id int64, node string) error {
	_, err := s.pool.Exec(ctx, `UPDATE callback_requests SET leased_by = NULL, lease_until = NULL
		WHERE id = $1 AND leased_by = $2`, id, node)
	if err != nil {
		return fmt.Errorf("release callback request %d: %w", id, err)
	}
	return nil
}

// CallbackAttempt is the outcome of one attempt at a leased request.
type CallbackAttempt struct {
	Result string // Result* constants
	Agent  string // the agent who took it; empty when none did
	CallID string // our call id of the outbound call; empty when none was placed
	// MaxAttempts and RetryAfter (callbacks.max_attempts, retry_after):
	// busy, no answer and failed are tried again RetryAfter later until
	// MaxAttempts were made; then the request is closed with its reason.
	MaxAttempts int
	RetryAfter  time.Duration
}

// FinishCallback records an attempt of node's leased request as an event of
// its ticket: connected closes the request and resolves the ticket; a
// forbidden number, or a failure at the last attempt, closes the request
// failed with its reason and leaves the ticket open, so its deadline still
// breaches and escalates (S14, S15); another failure sets the next attempt.
func (s *Store) FinishCallback(ctx context.Context, id int64, node string, a CallbackAttempt) (Callback, error) {
	if !slices.Contains(CallbackResults(), a.Result) {
		return Callback{}, fmt.Errorf("finish callback %d: result %q is not one of %v", id, a.Result, CallbackResults())
	}
	var c Callback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRow(ctx, `SELECT `+callbackColumns+`
			FROM callback_requests c LEFT JOIN tickets t ON t.id = c.ticket_id
			WHERE c.id = $1 AND c.leased_by = $2 AND c.status = 'pending' FOR UPDATE OF c`, id, node))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %d is not leased by %s", ErrNoCallback, id, node)
		}
		if err != nil {
			return err
		}
		dialled := a.Result != ResultForbidden
		if dialled {
			c.Attempts++
		}
		c.LastResult = a.Result
		kind, status := EventCallbackAttempt, CallbackPending
		switch {
		case a.Result == ResultConnected:
			kind, status = EventCallbackConnected, CallbackConnected
		case a.Result == ResultForbidden || c.Attempts >= a.MaxAttempts:
			kind, status = EventCallbackFailed, CallbackFailed
		}
		c.Status = status
		_, err = tx.Exec(ctx, `UPDATE callback_requests SET attempts = $2, last_result = $3, status = $4,
				leased_by = NULL, lease_until = NULL,
				next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + $5 * interval '1 millisecond' END,
				connected_at = CASE WHEN $4 = 'connected' THEN now() END,
				closed_at = CASE WHEN $4 <> 'pending' THEN now() END
			WHERE id = $1`, id, c.Attempts, a.Result, status, a.RetryAfter.Milliseconds())
		if err != nil {
			return err
		}
		data := map[string]any{"callback_id": id, "attempt": c.Attempts, "result": a.Result}
		if a.Agent != "" {
			data["agent"] = a.Agent
		}
		if a.CallID != "" {
			data["call_id"] = a.CallID
		}
		if err := addEvent(ctx, tx, c.TicketID, kind, "system", data); err != nil {
			return err
		}
		if status == CallbackConnected {
			_, err = tx.Exec(ctx, `UPDATE tickets SET status = 'resolved', result = 'answered',
					agent_id = $2, owner_agent = coalesce(owner_agent, $2)
				WHERE id = $1 AND status IN ('open', 'in_progress', 'reopened')`, c.TicketID, nullText(a.Agent))
		}
		return err
	})
	if err != nil {
		return Callback{}, fmt.Errorf("finish callback %d (%s): %w", id, a.Result, err)
	}
	return c, nil
}

// maxCallbackList bounds the panel's list.
const maxCallbackList = 200

// ListCallbacks returns the pending requests of categories (requests
// without a category count as defaultCategory), claimed and oldest first,
// at most 200.
func (s *Store) ListCallbacks(ctx context.Context, categories []string, defaultCategory string) ([]Callback, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+callbackColumns+`
		FROM callback_requests c LEFT JOIN tickets t ON t.id = c.ticket_id
		WHERE c.status = 'pending' AND coalesce(c.category, $2) = ANY($1)
		ORDER BY c.claimed_by IS NULL, c.requested_at, c.id LIMIT $3`, categories, defaultCategory, maxCallbackList)
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Callback, error) { return scanCallback(r) })
	if err != nil {
		return nil, fmt.Errorf("list callbacks: %w", err)
	}
	return out, nil
}

// ClaimCallback makes agent the one the next attempt at request id rings
// (the panel's "call back" button). Only a pending request of the agent's
// categories, not claimed by someone else, can be claimed; else
// ErrNoCallback. The claim is an event of the request's ticket.
func (s *Store) ClaimCallback(ctx context.Context, id int64, agent string, categories []string, defaultCategory string) (Callback, error) {
	var c Callback
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = scanCallback(tx.QueryRow(ctx, `UPDATE callback_requests c SET claimed_by = $2, next_attempt_at = NULL
			FROM tickets t
			WHERE c.id = $1 AND t.id = c.ticket_id AND c.status = 'pending'
			  AND coalesce(c.claimed_by, $2) = $2 AND coalesce(c.category, $4) = ANY($3)
			RETURNING `+callbackColumns, id, agent, categories, defaultCategory))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %d is not a pending callback of your categories", ErrNoCallback, id)
		}
		if err != nil {
			return err
		}
		return addEvent(ctx, tx, c.TicketID, EventCallbackClaimed, agent, map[string]any{"callback_id": id})
	})
	if err != nil {
		return Callback{}, fmt.Errorf("claim callback: %w", err)
	}
	return c, nil
}

// PendingCallbacks counts the requests still to be returned.
func (s *Store) PendingCallbacks(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM callback_requests WHERE status = 'pending'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending callbacks: %w", err)
	}
	return n, nil
}
