package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OpenTicketForCaller returns the caller's latest ticket still in work
// (draft, open, in progress or reopened) created within window, so the call
// can be offered to its owner first (S16). A window of 0 means the rules'
// repeat_window. The bool is false when there is none.
func (s *Store) OpenTicketForCaller(ctx context.Context, number string, window time.Duration) (Ticket, bool, error) {
	if window <= 0 {
		window = time.Duration(s.rules.RepeatWindow)
	}
	k, err := scanTicket(s.pool.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets t
		WHERE t.caller_number = $1 AND t.created_at > now() - make_interval(secs => $2)
		  AND t.status IN ('draft', 'open', 'in_progress', 'reopened')
		ORDER BY t.created_at DESC LIMIT 1`, number, window.Seconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("open ticket of caller: %w", err)
	}
	return k, true, nil
}
