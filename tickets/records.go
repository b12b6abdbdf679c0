package tickets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5/pgconn"
)

// Outcomes of a call as stored in calls.outcome; the database
// CHECK constraint holds the same list.
var outcomes = []string{"abandoned_in_menu", "abandoned_in_queue", "after_hours", "callback", "failed", "answered", "nuisance"}

// hangUpParties are the values of calls.hung_up_by (S11).
var hangUpParties = []string{"caller", "system", "agent"}

// callbackReasons are the values of callback_requests.reason (S9).
var callbackReasons = []string{"after_hours", "max_wait", "no_agents", "agent_lost"}

// CallRecord is the record every call leaves at its end.
type CallRecord struct {
	ID, SIPCallID, Caller, Dialled, Category string // Category is empty when none was chosen
	Priority                                 bool   // S7
	Node                                     string
	StartedAt, AnsweredAt, QueuedAt, EndedAt time.Time // AnsweredAt and QueuedAt may be zero
	Outcome                                  string    // abandoned_in_menu|abandoned_in_queue|after_hours|callback|failed|answered
	HungUpBy                                 string    // caller|system|agent (S11)
	// The agent part: who took the call, when it was bridged, the
	// caller's total wait and whether it exceeded the service level (S1), and
	// the recording (S19). Empty or zero for calls that never reached an agent.
	AgentID       string
	ConnectedAt   time.Time
	WaitSeconds   float64
	WaitExceeded  bool
	RecordingPath string
	TransferredTo string // S10: "queue:complaint", comma-separated when several
	// EndReason says why the caller's leg ended: bye, cancelled,
	// media_timeout (the phone went silent), no_ack, shutdown, node_lost...
	EndReason string
	// Language is the prompt language the caller heard ("zh-CN", "en"),
	// empty when the call never reached the IVR.
	Language string
}

// languageTag is what calls.language and tickets.language accept: a short
// language tag such as "en" or "zh-CN", or empty.
var languageTag = regexp.MustCompile(`^([a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3})?$`)

// endReason is what calls.end_reason's CHECK accepts.
var endReason = regexp.MustCompile(`^[a-z_]{0,32}$`)

// EndReasonNodeLost marks the record another node wrote for a call whose node
// died in the middle of it (its heartbeat expired).
const EndReasonNodeLost = "node_lost"

// errInvalidRecord is wrapped by validation errors: the record can never be
// written, so retrying it is pointless.
var errInvalidRecord = errors.New("invalid record")

func (r CallRecord) validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: call record without id", errInvalidRecord)
	case r.SIPCallID == "":
		return fmt.Errorf("%w: call %s: empty sip call id", errInvalidRecord, r.ID)
	case r.StartedAt.IsZero() || r.EndedAt.IsZero():
		return fmt.Errorf("%w: call %s: start and end times are required", errInvalidRecord, r.ID)
	case !slices.Contains(outcomes, r.Outcome):
		return fmt.Errorf("%w: call %s: outcome %q is not one of %v", errInvalidRecord, r.ID, r.Outcome, outcomes)
	case !slices.Contains(hangUpParties, r.HungUpBy):
		return fmt.Errorf("%w: call %s: hung up by %q is not one of %v", errInvalidRecord, r.ID, r.HungUpBy, hangUpParties)
	case !endReason.MatchString(r.EndReason):
		return fmt.Errorf("%w: call %s: end reason %q is not a short lower-case word", errInvalidRecord, r.ID, r.EndReason)
	case !languageTag.MatchString(r.Language):
		return fmt.Errorf("%w: call %s: language %q is not a language tag such as en or zh-CN", errInvalidRecord, r.ID, r.Language)
	}
	return nil
}

func validateCallback(r configs.CallbackRequest) error {
	switch {
	case r.CallID == "":
		return fmt.Errorf("%w: callback request without call id", errInvalidRecord)
	case r.Caller == "":
		return fmt.Errorf("%w: callback for call %s: empty caller number", errInvalidRecord, r.CallID)
	case r.RequestedAt.IsZero():
		return fmt.Errorf("%w: callback for call %s: request time is required", errInvalidRecord, r.CallID)
	case !slices.Contains(callbackReasons, r.Reason):
		return fmt.Errorf("%w: callback for call %s: reason %q is not one of %v", errInvalidRecord, r.CallID, r.Reason, callbackReasons)
	}
	return nil
}

// execer is what an insert needs: a pool, a connection or a transaction, so
// the ticket store can write a call record inside its own transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertCall writes r once: a retry of the same call id changes nothing.
func insertCall(ctx context.Context, db execer, r CallRecord) error {
	if _, err := db.Exec(ctx, callSQL, callArgs(r)...); err != nil {
		return fmt.Errorf("insert call %s: %w", r.ID, err)
	}
	return nil
}

// callSQL inserts a call record once (callArgs): a retry of the same call id
// changes nothing.
const callSQL = `INSERT INTO calls
	(id, sip_call_id, caller, dialled, category, priority, node,
	 started_at, answered_at, queued_at, ended_at, outcome, hung_up_by,
	 agent_id, connected_at, wait_seconds, wait_exceeded, recording_path, transferred_to, end_reason, language)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
	ON CONFLICT (id) DO NOTHING`

func callArgs(r CallRecord) []any {
	return []any{r.ID, r.SIPCallID, r.Caller, r.Dialled, nullText(r.Category), r.Priority, r.Node,
		r.StartedAt, nullTime(r.AnsweredAt), nullTime(r.QueuedAt), r.EndedAt, r.Outcome, r.HungUpBy,
		nullText(r.AgentID), nullTime(r.ConnectedAt), nullWait(r), r.WaitExceeded, nullText(r.RecordingPath),
		nullText(r.TransferredTo), r.EndReason, r.Language}
}

// insertCallback writes r once per (call id, reason).
func insertCallback(ctx context.Context, db execer, r configs.CallbackRequest) error {
	_, err := db.Exec(ctx, callbackSQL, r.CallID, r.Caller, nullText(r.Category), r.Reason, r.RequestedAt)
	if err != nil {
		return fmt.Errorf("insert callback for call %s: %w", r.CallID, err)
	}
	return nil
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// nullWait stores the wait only for queued calls.
func nullWait(r CallRecord) any {
	if r.QueuedAt.IsZero() {
		return nil
	}
	return r.WaitSeconds
}
