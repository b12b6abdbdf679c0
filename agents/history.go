package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// History stores agent state transitions durably (every transition
// is a row in PostgreSQL).
type History interface {
	// RecordStates writes transitions in order, each stamped with its
	// Event.At (the time Redis made it; now when zero).
	RecordStates(ctx context.Context, events []Event) error
}

// Event types on <p>events.
const (
	EventState = "state" // an agent changed state
	EventMatch = "match" // an agent became free or a caller joined/was freed: try Match
)

// Event is one message on the <p>events channel.
type Event struct {
	Type   string `json:"type"`
	Agent  string `json:"agent,omitempty"`
	From   State  `json:"from,omitempty"`
	To     State  `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	CallID string `json:"call_id,omitempty"`
	// Node is the node that made the change (or enqueued the caller).
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"-"`
	// HeldMS is how long the agent was in From, in milliseconds.
	HeldMS int64 `json:"held_ms,omitempty"`
	// Pop is the screen pop of a "ringing" event (S1, S16).
	Pop *ScreenPop `json:"pop,omitempty"`
	// Ticket is the ref of a "ticket" event.
	Ticket string `json:"ticket,omitempty"`
}

// UnmarshalJSON decodes an event whose "at" is Unix milliseconds.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var w struct {
		plain
		AtMS int64 `json:"at"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = Event(w.plain)
	if w.AtMS > 0 {
		e.At = time.UnixMilli(w.AtMS)
	}
	return nil
}

// record hands transitions to the history writer without blocking: when the
// buffer is full the transition is dropped and counted.
func (a *ACD) record(tr []Event) {
	for _, e := range tr {
		a.metrics.acd.transitions.WithLabelValues(string(e.To)).Inc()
		if e.From == StateWrapUp && e.HeldMS >= 0 {
			a.metrics.acd.wrapUp.Observe(float64(e.HeldMS) / 1000)
		}
		if a.opts.History == nil {
			continue
		}
		select {
		case a.hist <- e:
		default:
			a.metrics.acd.historyDropped.Inc()
		}
	}
}

// historyTimeout bounds one history write, and the final drain at shutdown.
const historyTimeout = 5 * time.Second

// historyBatch bounds the transitions written in one statement.
const historyBatch = 256

// runHistory writes buffered transitions until ctx is done, then drains
// what is left within historyTimeout. Whatever has queued up while one
// batch was written goes in the next, in one statement and one commit: one
// commit per transition fell seconds behind at a hundred calls per second.
func (a *ACD) runHistory(ctx context.Context) {
	if a.opts.History == nil {
		return
	}
	batch := make([]Event, 0, historyBatch)
	// collect appends what is buffered now, up to historyBatch.
	collect := func() {
		for len(batch) < historyBatch {
			select {
			case e := <-a.hist:
				batch = append(batch, e)
			default:
				return
			}
		}
	}
	for {
		select {
		case e := <-a.hist:
			batch = append(batch[:0], e)
			collect()
			a.writeHistory(context.WithoutCancel(ctx), batch)
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyTimeout)
			defer cancel()
			for {
				batch = batch[:0]
				collect()
				if len(batch) == 0 {
					return
				}
				a.writeHistory(drain, batch)
			}
		}
	}
}

func (a *ACD) writeHistory(ctx context.Context, batch []Event) {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	if err := a.opts.History.RecordStates(ctx, batch); err != nil {
		lost := len(batch)
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			lost = len(j.Unwrap()) // written one by one: only these failed
		}
		a.metrics.acd.historyErrors.Add(float64(lost))
		a.log.Warn("record agent state history", "transitions", len(batch), "err", err)
	}
}

// PGHistory is a History in the agent_state_history table (migration 0002).
type PGHistory struct {
	pool *pgxpool.Pool
}

// NewPGHistory returns a History writing to pool.
func NewPGHistory(pool *pgxpool.Pool) *PGHistory {
	return &PGHistory{pool: pool}
}

// RecordStates inserts the transitions in one statement, in order, each at
// its own time. If the batch is refused (an agent deleted from the directory
// meanwhile), the rows are written one by one so that only the bad one is
// lost.
func (h *PGHistory) RecordStates(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	agents, states, reasons := make([]string, n), make([]string, n), make([]string, n)
	nodes, calls, ats := make([]string, n), make([]string, n), make([]time.Time, n)
	now := time.Now()
	for i, e := range events {
		agents[i], states[i], reasons[i], nodes[i], calls[i] = e.Agent, string(e.To), e.Reason, e.Node, e.CallID
		ats[i] = e.At
		if ats[i].IsZero() {
			ats[i] = now
		}
	}
	_, err := h.pool.Exec(ctx, `INSERT INTO agent_state_history (agent_id, state, reason, node, call_id, at)
		SELECT a, s, NULLIF(r, ''), NULLIF(nd, ''), NULLIF(c, ''), t
		  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
		       WITH ORDINALITY AS x(a, s, r, nd, c, t, i)
		 ORDER BY i`, agents, states, reasons, nodes, calls, ats)
	if err == nil || n == 1 || ctx.Err() != nil {
		if err != nil {
			return fmt.Errorf("insert %d agent state transitions: %w", n, err)
		}
		return nil
	}
	var errs []error
	for _, e := range events {
		if err := h.RecordStates(ctx, []Event{e}); err != nil {
			errs = append(errs, fmt.Errorf("state %s of agent %s: %w", e.To, e.Agent, err))
		}
	}
	return errors.Join(errs...)
}
