package tickets

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5"
)

// RecordSurvey puts the caller's one-key score (1 satisfied, 2 neutral, 3
// dissatisfied) on the ticket of call callID (S18). A dissatisfied complaint
// is reopened for review: at once when it is already entered, at its entry
// when it is still a draft (Submit then opens it as reopened). A call has
// one survey: a second, different score is refused.
func (s *Store) RecordSurvey(ctx context.Context, callID string, score int) (Ticket, error) {
	if score < 1 || score > 3 {
		return Ticket{}, FieldErrors{"score": msg(MsgSurveyScore)}
	}
	var out Ticket
	recorded := false
	var category string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets t WHERE t.call_id = $1 FOR UPDATE`, callID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("ticket of call %s: %w", callID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("read ticket of call %s: %w", callID, err)
		case k.SurveyScore == score:
			out = k
			return nil
		case k.SurveyScore != 0:
			return fmt.Errorf("ticket %s already has survey score %d: %w", k.Ref, k.SurveyScore, ErrInvalidTransition)
		}
		if err := s.applySurvey(ctx, tx, k, score); err != nil {
			return err
		}
		recorded, category = true, k.Category
		out, err = getTicket(ctx, tx, k.Ref, false)
		return err
	})
	if recorded {
		s.metrics.observeSurvey(category, score)
	}
	return out, err
}

func (s *Store) applySurvey(ctx context.Context, tx pgx.Tx, k Ticket, score int) error {
	reopen := score == 3 && k.Category == configs.CategoryComplaint && k.Status != StatusDraft && k.Status != StatusReopened
	status := k.Status
	if reopen {
		status = StatusReopened
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET survey_score = $2, status = $3 WHERE id = $1`, k.ID, score, status); err != nil {
		return fmt.Errorf("ticket %s: record survey: %w", k.Ref, err)
	}
	if err := addEvent(ctx, tx, k.ID, EventSurvey, "caller", map[string]any{"score": score}); err != nil {
		return err
	}
	if !reopen {
		return nil
	}
	return addEvent(ctx, tx, k.ID, EventReopened, "system",
		map[string]any{"from": k.Status, "reason": "dissatisfied survey on a complaint"})
}
