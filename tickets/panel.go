package tickets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of ticket events written from the panel.
const (
	EventReassigned   = "reassigned"   // a supervisor gave the ticket to another agent (S16)
	EventAcknowledged = "acknowledged" // a supervisor acknowledged its escalation (S15)
)

// Audit actions of the panel, besides the unmask ones (S5).
const (
	AuditPlayRecording       = "play_recording"        // a call recording was played
	AuditPlayRecordingDenied = "play_recording_denied" // a request to play one was refused
	AuditForceAgentState     = "force_agent_state"     // a supervisor set an agent's state
)

var (
	// ErrNoRecording means the ticket's call was not recorded (S19).
	ErrNoRecording = errors.New("ticket has no recording")
	// ErrNotEscalated means the ticket has no escalation to acknowledge.
	ErrNotEscalated = errors.New("ticket is not escalated")
)

// maxPanelText bounds reasons and notes typed in the panel, in bytes.
const maxPanelText = 2000

// checkText is a FieldErrors for a reason or note that is empty or too long.
func checkText(field, text, emptyCode string) error {
	switch t := strings.TrimSpace(text); {
	case t == "":
		return FieldErrors{field: msg(emptyCode)}
	case len(t) > maxPanelText:
		return FieldErrors{field: msg(MsgTextTooLong, "max", strconv.Itoa(maxPanelText))}
	}
	return nil
}

// Reassign gives the ticket to another agent with a reason, a supervisor's
// hand-off (S16: the owner changes only by such an explicit event). A
// ticket already with toAgent is returned unchanged, without an event.
func (s *Store) Reassign(ctx context.Context, ref, toAgent, reason, actor string) (Ticket, error) {
	if err := checkText("reason", reason, MsgReassignReasonRequired); err != nil {
		return Ticket{}, err
	}
	var out Ticket
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		k, err := getTicket(ctx, tx, ref, true)
		switch {
		case err != nil:
			return err
		case k.Status == StatusClosed:
			return fmt.Errorf("ticket %s is closed: %w", ref, ErrInvalidTransition)
		case k.OwnerAgent == toAgent:
			out = k // a retried request: nothing to change
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE tickets SET owner_agent = $2 WHERE id = $1`, k.ID, toAgent); err != nil {
			return fmt.Errorf("ticket %s: reassign: %w", ref, err)
		}
		data := map[string]any{"from": k.OwnerAgent, "to": toAgent, "reason": strings.TrimSpace(reason)}
		if err := addEvent(ctx, tx, k.ID, EventReassigned, actor, data); err != nil {
			return err
		}
		out, err = getTicket(ctx, tx, ref, false)
		return err
	})
	return out, err
}

// Acknowledge records that a supervisor took up the ticket's escalation
// (S15) as an event. Acknowledging the same level again adds nothing:
// fresh is false then.
func (s *Store) Acknowledge(ctx context.Context, ref, note, actor string) (k Ticket, fresh bool, err error) {
	if len(note) > maxPanelText {
		return Ticket{}, false, FieldErrors{"note": msg(MsgTextTooLong, "max", strconv.Itoa(maxPanelText))}
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if k, err = getTicket(ctx, tx, ref, true); err != nil {
			return err
		}
		if k.EscalationLevel == 0 {
			return fmt.Errorf("ticket %s: %w", ref, ErrNotEscalated)
		}
		var done bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM ticket_events WHERE ticket_id = $1 AND kind = $2
			AND (data->>'level')::int = $3)`, k.ID, EventAcknowledged, k.EscalationLevel).Scan(&done)
		if err != nil || done {
			return err
		}
		fresh = true
		data := map[string]any{"level": k.EscalationLevel, "note": strings.TrimSpace(note)}
		return addEvent(ctx, tx, k.ID, EventAcknowledged, actor, data)
	})
	return k, fresh, err
}

// Playback is what serving a ticket's recording needs: the path comes from
// the database, never from the request.
type Playback struct {
	TicketID int64
	Owner    string
	Path     string
}

// RecordingOf returns the recording of ticket ref (S19): the ticket's own
// path, else its call's. Errors match ErrNotFound or ErrNoRecording.
func (s *Store) RecordingOf(ctx context.Context, ref string) (Playback, error) {
	var p Playback
	err := s.pool.QueryRow(ctx, `SELECT t.id, coalesce(t.owner_agent, ''),
		coalesce(nullif(t.recording_path, ''), c.recording_path, '')
		FROM tickets t LEFT JOIN calls c ON c.id = t.call_id WHERE t.ref = $1`, ref).Scan(&p.TicketID, &p.Owner, &p.Path)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("ticket %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("recording of ticket %s: %w", ref, err)
	}
	if p.Path == "" {
		return p, fmt.Errorf("ticket %s: %w", ref, ErrNoRecording)
	}
	return p, nil
}

// AuditPlayback writes the audit row of one playback of a ticket's
// recording, like an unmask (S5); denied writes the refusal.
func (s *Store) AuditPlayback(ctx context.Context, req UnmaskRequest, denied bool) error {
	action, detail := AuditPlayRecording, ""
	if denied {
		action, detail = AuditPlayRecordingDenied, "only a supervisor or the agent who owns the ticket may"
	}
	if req.Reason == "" {
		req.Reason = "listen to the call"
	}
	return writeAudit(ctx, s.pool, req, action, detail)
}

// AuditAgentState writes the audit row of a supervisor setting agent's
// state, with the reason given; detail names the agent and the change.
func (s *Store) AuditAgentState(ctx context.Context, actor, role, agent, from, to, reason, clientIP string) error {
	if err := checkText("reason", reason, MsgForceReasonRequired); err != nil {
		return err
	}
	req := UnmaskRequest{Actor: actor, Role: role, Reason: reason, ClientIP: clientIP}
	return writeAudit(ctx, s.pool, req, AuditForceAgentState, fmt.Sprintf("agent %s: %s → %s", agent, from, to))
}

// OpenTicketsForCaller returns the caller's tickets still in work created
// within window (0: the rules' repeat_window), newest first, at most limit:
// the agent sees them before answering (S16).
func (s *Store) OpenTicketsForCaller(ctx context.Context, number string, window time.Duration, limit int) ([]Ticket, error) {
	if window <= 0 {
		window = time.Duration(s.rules.RepeatWindow)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+ticketColumns+` FROM tickets t
		WHERE t.caller_number = $1 AND t.created_at > now() - make_interval(secs => $2)
		  AND t.status IN ('draft', 'open', 'in_progress', 'reopened')
		ORDER BY t.created_at DESC LIMIT $3`, number, window.Seconds(), max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("open tickets of caller: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ticket, error) { return scanTicket(r) })
	if err != nil {
		return nil, fmt.Errorf("open tickets of caller: %w", err)
	}
	return out, nil
}
