package tickets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Actions written to audit_log by Unmask (S5).
const (
	AuditUnmask       = "unmask_id"     // an ID number was shown in clear
	AuditUnmaskDenied = "unmask_denied" // a request to show one was refused
)

// Roles that may ask to unmask an ID number.
const (
	roleAgent      = "agent"
	roleSupervisor = "supervisor"
)

// minReasonLen is the shortest reason, in characters, Unmask accepts (S5).
const minReasonLen = 5

var (
	// ErrForbidden is matched (errors.Is) by Unmask's error when the actor may
	// not see the ID number: only supervisors and the owning agent may (S5).
	ErrForbidden = errors.New("not allowed to see this ID number")
	// ErrReasonRequired is matched by Unmask's error when the request lacks a
	// reason of at least 5 characters; it belongs to the form field "reason".
	ErrReasonRequired = errors.New("reason: say why the ID number must be shown (at least 5 characters)")
)

// UnmaskReasonMessage is the "reason" field's message of ErrReasonRequired.
var UnmaskReasonMessage = msg(MsgUnmaskReasonRequired, "min", strconv.Itoa(minReasonLen))

// UnmaskRequest is a person's request to see a ticket's ID number in clear.
type UnmaskRequest struct {
	Actor      string // who asks: the agent id or supervisor user name
	Role       string // "agent" or "supervisor"
	TicketID   int64
	OwnerAgent string // the ticket's owner (S16)
	Reason     string // why the number must be shown
	ClientIP   string
}

// AuditDB is where Unmask writes its audit row: a *pgxpool.Pool (Unmask then
// commits its own transaction before it returns) or the caller's pgx.Tx in
// which the ticket was read (Unmask works in a savepoint of it; the caller
// must commit before showing the number, and commit after a refusal too, or
// the audit row of the refusal is rolled back with the transaction).
type AuditDB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Unmask returns the clear ID number of p for the person of req (S5). Only a
// supervisor or the ticket's owning agent may see it, and only with a reason.
// Every outcome leaves a row in audit_log: the clear text is returned only
// after the row of action 'unmask_id' is written, and a refusal (ErrForbidden
// or ErrReasonRequired) is written as 'unmask_denied'.
func Unmask(ctx context.Context, db AuditDB, req UnmaskRequest, p ProtectedID, kr *Keyring) (string, error) {
	if strings.TrimSpace(req.Actor) == "" {
		return "", errors.New("unmask: the request has no actor: authenticate the caller first")
	}
	if kr == nil {
		return "", errors.New("unmask: no keyring configured: set " + SecretKeyEnv)
	}
	if refusal := req.refusal(); refusal != nil {
		if err := writeAudit(ctx, db, req, AuditUnmaskDenied, refusal.Error()); err != nil {
			return "", fmt.Errorf("%w (the refusal could not be audited: %w)", refusal, err)
		}
		return "", refusal
	}
	clear, err := kr.Decrypt(p)
	if err != nil {
		return "", fmt.Errorf("unmask ticket %d: %w", req.TicketID, err)
	}
	if err := writeAudit(ctx, db, req, AuditUnmask, ""); err != nil {
		return "", fmt.Errorf("unmask ticket %d: %w", req.TicketID, err)
	}
	return clear, nil
}

// refusal says why req may not see the number, or nil when it may.
func (req UnmaskRequest) refusal() error {
	switch req.Role {
	case roleSupervisor:
	case roleAgent:
		if req.OwnerAgent == "" || req.Actor != req.OwnerAgent {
			return fmt.Errorf("%w: only a supervisor or the agent who owns the ticket may", ErrForbidden)
		}
	default:
		return fmt.Errorf("%w: role %q may not; only a supervisor or the owning agent may", ErrForbidden, req.Role)
	}
	if utf8.RuneCountInString(strings.TrimSpace(req.Reason)) < minReasonLen {
		return ErrReasonRequired
	}
	return nil
}

// writeAudit inserts one audit_log row in a transaction (or savepoint) of
// its own and commits it. The database stamps the time (S12) and refuses
// any later change of the row (0004_privacy.sql).
func writeAudit(ctx context.Context, db AuditDB, req UnmaskRequest, action, detail string) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit %s: begin: %w", action, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (actor, actor_role, action, ticket_id, reason, detail, client_ip)
		VALUES ($1, nullif($2, ''), $3, nullif($4::bigint, 0), $5, nullif($6, ''), nullif($7, ''))`,
		req.Actor, req.Role, action, req.TicketID, strings.TrimSpace(req.Reason), detail, req.ClientIP)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit %s: commit: %w", action, err)
	}
	return nil
}
