package tickets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
		return Ticket{}, FieldErrors{"score": "the survey score is 1, 2 or 3"}
	}
	var out Ticket
	recorded := false
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
		recorded = true
		out, err = getTicket(ctx, tx, k.Ref, false)
		return err
	})
	if recorded {
		s.metrics.surveys.WithLabelValues(strconv.Itoa(score)).Inc()
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

// FlagNuisance marks number as a nuisance caller (S21); audited in
// nuisance_events. The number is kept normalised (NormalizeNumber), so any
// written form of it matches. Flagging a flagged number again only adds the
// audit row.
func (s *Store) FlagNuisance(ctx context.Context, number, actor, reason string) error {
	number = NormalizeNumber(number)
	if err := nuisanceArgs(number, reason); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO nuisance_numbers (number, flagged_by, reason) VALUES ($1, $2, $3)
			ON CONFLICT (number) DO UPDATE SET flagged_by = $2, reason = $3, flagged_at = now(),
				cleared_at = NULL, cleared_by = NULL
			WHERE nuisance_numbers.cleared_at IS NOT NULL`, number, actor, reason)
		if err != nil {
			return fmt.Errorf("flag nuisance number: %w", err)
		}
		return nuisanceEvent(ctx, tx, number, "flagged", actor, reason)
	})
}

// ClearNuisance lifts the flag of number (S21: reversible, audited).
func (s *Store) ClearNuisance(ctx context.Context, number, actor, reason string) error {
	number = NormalizeNumber(number)
	if err := nuisanceArgs(number, reason); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE nuisance_numbers SET cleared_at = now(), cleared_by = $2
			WHERE number = $1 AND cleared_at IS NULL`, number, actor)
		if err != nil {
			return fmt.Errorf("clear nuisance number: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("nuisance flag of this number: %w", ErrNotFound)
		}
		return nuisanceEvent(ctx, tx, number, "cleared", actor, reason)
	})
}

// IsNuisance reports whether number, in any written form, is flagged now
// (S21): the IVR asks with the caller number as the carrier sent it.
func (s *Store) IsNuisance(ctx context.Context, number string) (bool, error) {
	number = NormalizeNumber(number)
	var flagged bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM nuisance_numbers
		WHERE number = $1 AND cleared_at IS NULL)`, number).Scan(&flagged)
	if err != nil {
		return false, fmt.Errorf("check nuisance number: %w", err)
	}
	return flagged, nil
}

// maxNuisanceReason bounds the audited reason of a flag or clear.
const maxNuisanceReason = 500

// nuisanceArgs checks a normalised number and the reason.
func nuisanceArgs(number, reason string) error {
	errs := FieldErrors{}
	switch {
	case number == "":
		errs["number"] = "give the caller's number"
	case !validPhone.MatchString(number):
		errs["number"] = "give a phone number: 3-20 digits, optionally with +, spaces or dashes (e.g. 138 0013 8000)"
	}
	switch {
	case strings.TrimSpace(reason) == "":
		errs["reason"] = "say why (S21 flags are audited)"
	case utf8.RuneCountInString(reason) > maxNuisanceReason:
		errs["reason"] = fmt.Sprintf("at most %d characters", maxNuisanceReason)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func nuisanceEvent(ctx context.Context, tx pgx.Tx, number, action, actor, reason string) error {
	_, err := tx.Exec(ctx, `INSERT INTO nuisance_events (number, action, actor, reason) VALUES ($1, $2, $3, $4)`,
		number, action, actor, reason)
	if err != nil {
		return fmt.Errorf("audit nuisance %s: %w", action, err)
	}
	return nil
}
