// Package ivr runs the hotline's interactive voice response: the greeting, the
// office-hours check (S9), the category menu (S3, S6, S7), the queue wait with
// position and wait announcements (S8) and the callback offers. The flow's keys
// and timings are data (Config); Flow.Run is the small engine that follows them.
//
// The package speaks to the rest of the system only through the small interfaces
// declared here (Call, Hours, Queue, Records, Clock); it imports nothing of ours.
// Prompts are named (see the Prompt* constants) and embedded as 8 kHz WAV files
// for each language; Prompts decodes them for the media engine. A call speaks
// Config.Language until the caller's number or a key offered in the greeting
// chooses one of Config.OtherLanguages; its prompts are then played under
// PromptID names ("en/menu").
package ivr

import (
	"context"
	"errors"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Call is one caller's leg as the IVR sees it. Digits arrive on one stream,
// whether they came as RFC 4733 events or SIP INFO.
type Call interface {
	// ID is our call id (also the queue member id).
	ID() string
	// Caller is the caller's number as received (used for S7 priority numbers).
	Caller() string
	// Play plays named prompts in order. With interruptible, the first digit stops
	// playback (barge-in) and is returned. It returns (0, nil) when all prompts were
	// played and ctx.Err() when ctx is done.
	Play(ctx context.Context, prompts []string, interruptible bool) (rune, error)
	// PlayLoop loops the prompts until ctx is done (it then returns ctx.Err()) or,
	// when interruptible, a digit arrives.
	PlayLoop(ctx context.Context, prompts []string, interruptible bool) (rune, error)
	// ReadDigit waits up to timeout for a digit; it returns (0, nil) on timeout.
	ReadDigit(ctx context.Context, timeout time.Duration) (rune, error)
	// PlayKeys plays prompts; the first digit in keys stops playback and is
	// returned, any other digit is given to dropped and playback goes on.
	// It returns (0, nil) when all prompts were played.
	PlayKeys(ctx context.Context, prompts []string, keys string, dropped func(rune)) (rune, error)
	// FlushDigits drops digits pressed but not yet read and returns how many.
	FlushDigits() int
	// SetMediaTimeout sets how long the call may go without RTP before it
	// is hung up; 0 restores the call's default. The flow sets
	// queue_media_timeout while the caller waits in a queue.
	SetMediaTimeout(d time.Duration)
}

// Hours tells whether the centre is open (S9); tickets.Calendar implements it.
type Hours interface {
	IsOpen(t time.Time) bool
}

// Queue is the per-category waiting queue shared by all nodes (agents.Queue).
type Queue interface {
	// Enqueue is idempotent per call id: a caller already queued keeps their
	// original enqueue time.
	Enqueue(ctx context.Context, e configs.QueueEntry) error
	// Position is 1-based and counts the emergencies ahead (S6); a call not
	// in the queue gives an error wrapping ErrNotQueued.
	Position(ctx context.Context, category, callID string) (int, error)
	EstimatedWait(ctx context.Context, category string, position int) (time.Duration, error)
	Remove(ctx context.Context, category, callID string) error
}

// ErrNotQueued: the queue does not hold the call (see Queue.Position).
var ErrNotQueued = errors.New("call not queued")

// Records stores callback requests (tickets.Writer through cmd).
type Records interface {
	RequestCallback(ctx context.Context, r configs.CallbackRequest) error
}

// Clock is the flow's source of time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// Result is what the IVR did with a call, for the call record.
type Result struct {
	// Language is the prompt language the caller heard last: Config.Language
	// unless their number or a key chose another.
	Language string
	Category string
	Priority bool
	Outcome  string    // one of the Outcome* constants
	QueuedAt time.Time // zero if never queued
	// AgentID and ConnectedAt are set when an agent answered (OutcomeAnswered);
	// AgentHungUp tells who hung up first then (S11).
	AgentID     string
	ConnectedAt time.Time
	AgentHungUp bool
	// TicketRef is the reference read out to a complaint caller (S17), to be
	// given to the call's draft ticket; SurveyScore is 1–3, 0 for none (S18).
	TicketRef   string
	SurveyScore int
	// Transfers lists the agent's transfers in order ("queue:complaint", S10).
	Transfers []string
	// Err is an unexpected error (queue, records or media), nil for a normal end,
	// including a caller hanging up.
	Err error
}

// Outcomes of Flow.Run, as stored on the call record.
const (
	// OutcomeAbandonedInMenu: the caller hung up before being queued (open hours).
	OutcomeAbandonedInMenu = "abandoned_in_menu"
	// OutcomeAbandonedInQueue: the caller hung up while queued.
	OutcomeAbandonedInQueue = "abandoned_in_queue"
	// OutcomeAfterHours: a call outside office hours that asked for nothing, or
	// hung up before choosing (S9).
	OutcomeAfterHours = "after_hours"
	// OutcomeCallback: a callback request was stored.
	OutcomeCallback = "callback"
	// OutcomeFailed: an error, or a caller who made no valid choice in
	// max_retries attempts (told goodbye; Result.Err is nil then).
	OutcomeFailed = "failed"
)

// Callback reasons (configs.CallbackRequest.Reason).
const (
	ReasonAfterHours = "after_hours"
	ReasonMaxWait    = "max_wait"
	ReasonAgentLost  = "agent_lost" // the agent's phone vanished mid-call
)

// Outcomes lists every outcome Flow.Run can return.
func Outcomes() []string {
	return []string{OutcomeAbandonedInMenu, OutcomeAbandonedInQueue, OutcomeAfterHours,
		OutcomeCallback, OutcomeFailed, OutcomeAnswered, OutcomeNuisance}
}
