package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TicketEvent is one entry of a ticket's append-only history: created,
// submitted, status changes, notes, extensions, hand-offs, breaches,
// escalations, surveys. Data holds the kind's facts (never an ID number).
type TicketEvent struct {
	Kind  string          `json:"kind"`
	Actor string          `json:"actor"`
	Data  json.RawMessage `json:"data"`
	At    time.Time       `json:"at"`
}

// maxEvents bounds the history read at once; the oldest come first.
const maxEvents = 500

// Events returns ticket ref's history, oldest first, at most 500 entries.
func (s *Store) Events(ctx context.Context, ref string) ([]TicketEvent, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM tickets WHERE ref = $1`, ref).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("ticket %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket %s: %w", ref, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, actor, data, at FROM ticket_events
		WHERE ticket_id = $1 ORDER BY id LIMIT $2`, id, maxEvents)
	if err != nil {
		return nil, fmt.Errorf("read events of ticket %s: %w", ref, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TicketEvent, error) {
		var e TicketEvent
		err := r.Scan(&e.Kind, &e.Actor, &e.Data, &e.At)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read events of ticket %s: %w", ref, err)
	}
	return out, nil
}
