package tickets

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// querier is what look-ups need: a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const callColumns = `id, sip_call_id, caller, dialled, coalesce(category, ''), priority, node,
	started_at, answered_at, queued_at, ended_at, outcome, hung_up_by,
	coalesce(agent_id, ''), connected_at, coalesce(wait_seconds, 0), wait_exceeded, coalesce(recording_path, ''),
	coalesce(transferred_to, ''), end_reason, language`

// RecentCalls returns the n most recently ended call records, newest first.
func RecentCalls(ctx context.Context, db querier, n int) ([]CallRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+callColumns+` FROM calls ORDER BY ended_at DESC, created_at DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("query recent calls: %w", err)
	}
	return collectCalls(rows)
}

// CallBySIPCallID returns the call record of the given SIP Call-ID.
func CallBySIPCallID(ctx context.Context, db querier, sipCallID string) (CallRecord, error) {
	rows, err := db.Query(ctx, `SELECT `+callColumns+` FROM calls WHERE sip_call_id = $1`, sipCallID)
	if err != nil {
		return CallRecord{}, fmt.Errorf("query call %s: %w", sipCallID, err)
	}
	recs, err := collectCalls(rows)
	if err != nil {
		return CallRecord{}, err
	}
	if len(recs) == 0 {
		return CallRecord{}, fmt.Errorf("call with sip call-id %s: %w", sipCallID, ErrNotFound)
	}
	return recs[0], nil
}

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = fmt.Errorf("not found")

func collectCalls(rows pgx.Rows) ([]CallRecord, error) {
	defer rows.Close()
	var out []CallRecord
	for rows.Next() {
		var r CallRecord
		var answered, queued, connected *time.Time
		if err := rows.Scan(&r.ID, &r.SIPCallID, &r.Caller, &r.Dialled, &r.Category, &r.Priority, &r.Node,
			&r.StartedAt, &answered, &queued, &r.EndedAt, &r.Outcome, &r.HungUpBy,
			&r.AgentID, &connected, &r.WaitSeconds, &r.WaitExceeded, &r.RecordingPath, &r.TransferredTo, &r.EndReason, &r.Language); err != nil {
			return nil, fmt.Errorf("scan call: %w", err)
		}
		if answered != nil {
			r.AnsweredAt = *answered
		}
		if queued != nil {
			r.QueuedAt = *queued
		}
		if connected != nil {
			r.ConnectedAt = *connected
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read calls: %w", err)
	}
	return out, nil
}
