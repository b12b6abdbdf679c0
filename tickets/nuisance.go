package tickets

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

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
		errs["number"] = msg(MsgNuisanceNumberRequired)
	case !validPhone.MatchString(number):
		errs["number"] = msg(MsgNuisanceNumberInvalid)
	}
	switch {
	case strings.TrimSpace(reason) == "":
		errs["reason"] = msg(MsgNuisanceReasonRequired)
	case utf8.RuneCountInString(reason) > maxNuisanceReason:
		errs["reason"] = msg(MsgTextTooLong, "max", strconv.Itoa(maxNuisanceReason))
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
