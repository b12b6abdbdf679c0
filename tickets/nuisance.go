package tickets

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// FlagNuisance marks number as a nuisance caller (S21), a supervisor's
// act; audited in nuisance_events. The number is kept normalised
// (NormalizeNumber), so any written form of it matches. Flagging a flagged
// number again only adds the audit row. An open report of the number is
// decided "flagged".
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
		if _, err := tx.Exec(ctx, `UPDATE nuisance_reports SET decided_at = now(), decided_by = $2, decision = 'flagged'
			WHERE number = $1 AND decided_at IS NULL`, number, actor); err != nil {
			return fmt.Errorf("decide nuisance report: %w", err)
		}
		return nuisanceEvent(ctx, tx, number, "flagged", actor, reason)
	})
}

// NuisanceReport is an agent's report of a nuisance number, open until a
// supervisor flags the number or dismisses the report (S21).
type NuisanceReport struct {
	ID         int64
	Number     string
	ReportedBy string
	Reason     string
	ReportedAt time.Time
}

// Report outcomes of ReportNuisance.
const (
	NuisanceReported        = "reported"         // a new open report
	NuisanceAlreadyReported = "already_reported" // another agent's report is open: this one is audited only
	NuisanceAlreadyFlagged  = "already_flagged"  // the number is flagged: nothing to decide
)

// ReportNuisance records an agent's report of number as a nuisance caller
// (S21). It blocks nothing: a supervisor decides (FlagNuisance or
// DismissNuisanceReport), so that no single agent can keep a resident out of
// the queues. Every report is audited; a number has one open report.
func (s *Store) ReportNuisance(ctx context.Context, number, agent, reason string) (outcome string, err error) {
	number = NormalizeNumber(number)
	if err := nuisanceArgs(number, reason); err != nil {
		return "", err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var flagged bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM nuisance_numbers WHERE number = $1 AND cleared_at IS NULL)`,
			number).Scan(&flagged); err != nil {
			return fmt.Errorf("report nuisance number: %w", err)
		}
		outcome = NuisanceAlreadyFlagged
		if !flagged {
			tag, err := tx.Exec(ctx, `INSERT INTO nuisance_reports (number, reported_by, reason) VALUES ($1, $2, $3)
				ON CONFLICT (number) WHERE decided_at IS NULL DO NOTHING`, number, agent, reason)
			if err != nil {
				return fmt.Errorf("report nuisance number: %w", err)
			}
			outcome = NuisanceAlreadyReported
			if tag.RowsAffected() == 1 {
				outcome = NuisanceReported
			}
		}
		return nuisanceEvent(ctx, tx, number, "reported", agent, reason)
	})
	return outcome, err
}

// DismissNuisanceReport closes the open report id without flagging its
// number (a supervisor's act, audited with its reason). A report already
// decided, or none, is ErrNotFound.
func (s *Store) DismissNuisanceReport(ctx context.Context, id int64, actor, reason string) error {
	if errs := nuisanceReason(reason); errs != nil {
		return errs
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var number string
		err := tx.QueryRow(ctx, `UPDATE nuisance_reports SET decided_at = now(), decided_by = $2, decision = 'dismissed'
			WHERE id = $1 AND decided_at IS NULL RETURNING number`, id, actor).Scan(&number)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("open nuisance report %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("dismiss nuisance report: %w", err)
		}
		return nuisanceEvent(ctx, tx, number, "dismissed", actor, reason)
	})
}

// maxOpenNuisanceReports bounds the reports listed at once.
const maxOpenNuisanceReports = 100

// OpenNuisanceReports lists the reports no supervisor decided yet, oldest
// first (at most 100).
func (s *Store) OpenNuisanceReports(ctx context.Context) ([]NuisanceReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, number, reported_by, reason, reported_at FROM nuisance_reports
		WHERE decided_at IS NULL ORDER BY reported_at, id LIMIT $1`, maxOpenNuisanceReports)
	if err != nil {
		return nil, fmt.Errorf("open nuisance reports: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (NuisanceReport, error) {
		var n NuisanceReport
		return n, r.Scan(&n.ID, &n.Number, &n.ReportedBy, &n.Reason, &n.ReportedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("open nuisance reports: %w", err)
	}
	return out, nil
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
	maps.Copy(errs, nuisanceReason(reason))
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// nuisanceReason checks the audited reason of a flag, clear, report or
// dismissal: nil when it is fine.
func nuisanceReason(reason string) FieldErrors {
	switch {
	case strings.TrimSpace(reason) == "":
		return FieldErrors{"reason": msg(MsgNuisanceReasonRequired)}
	case utf8.RuneCountInString(reason) > maxNuisanceReason:
		return FieldErrors{"reason": msg(MsgTextTooLong, "max", strconv.Itoa(maxNuisanceReason))}
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
