package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// History stores agent state transitions durably (issue 3: every transition
// is a row in PostgreSQL).
type History interface {
	RecordState(ctx context.Context, agentID, state, reason, node, callID string) error
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

// runHistory writes buffered transitions until ctx is done, then drains
// what is left within historyTimeout.
func (a *ACD) runHistory(ctx context.Context) {
	if a.opts.History == nil {
		return
	}
	for {
		select {
		case e := <-a.hist:
			a.writeHistory(context.WithoutCancel(ctx), e)
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyTimeout)
			defer cancel()
			for {
				select {
				case e := <-a.hist:
					a.writeHistory(drain, e)
				default:
					return
				}
			}
		}
	}
}

func (a *ACD) writeHistory(ctx context.Context, e Event) {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	if err := a.opts.History.RecordState(ctx, e.Agent, string(e.To), e.Reason, e.Node, e.CallID); err != nil {
		a.metrics.acd.historyErrors.Inc()
		a.log.Warn("record agent state history", "agent", e.Agent, "state", e.To, "err", err)
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

// RecordState inserts one transition; the database stamps its time.
func (h *PGHistory) RecordState(ctx context.Context, agentID, state, reason, node, callID string) error {
	_, err := h.pool.Exec(ctx,
		`INSERT INTO agent_state_history (agent_id, state, reason, node, call_id)
		 VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''))`,
		agentID, state, reason, node, callID)
	if err != nil {
		return fmt.Errorf("insert state %s of agent %s: %w", state, agentID, err)
	}
	return nil
}
