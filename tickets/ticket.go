package tickets

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Ticket channels (S20).
const (
	ChannelPhone  = "phone"
	ChannelWeb    = "web"
	ChannelLetter = "letter"
)

// Ticket statuses; the database CHECK holds the same list.
const (
	StatusDraft      = "draft"
	StatusOpen       = "open"
	StatusInProgress = "in_progress"
	StatusResolved   = "resolved"
	StatusClosed     = "closed"
	StatusReopened   = "reopened"
)

// Results of a contact (S13).
const (
	ResultAnswered    = "answered"
	ResultTransferred = "transferred"
	ResultAppointment = "appointment"
	ResultDispatched  = "dispatched"
	ResultFollowUp    = "follow_up"
)

// Kinds of ticket events.
const (
	EventCreated   = "created"
	EventSubmitted = "submitted"
	EventLateEntry = "late_entry"
	EventOverdue   = "overdue"
	EventStatus    = "status"
	EventNote      = "note"
	EventExtended  = "extended"
	EventHandoff   = "handoff"
	EventBreach    = "breach"
	EventEscalated = "escalated"
	EventSurvey    = "survey"
	EventReopened  = "reopened"
)

var (
	results = []string{ResultAnswered, ResultTransferred, ResultAppointment, ResultDispatched, ResultFollowUp}
	// activeStatuses are those whose deadline still runs (S14).
	activeStatuses = []string{StatusOpen, StatusInProgress, StatusReopened}
)

// transitions are the status changes SetStatus allows; draft → open happens
// only through Submit (S12).
var transitions = map[string][]string{
	StatusOpen:       {StatusInProgress},
	StatusInProgress: {StatusResolved},
	StatusResolved:   {StatusClosed, StatusReopened},
	StatusClosed:     {StatusReopened},
	StatusReopened:   {StatusInProgress},
}

// Errors of the ticket store; match them with errors.Is.
var (
	// ErrInvalidTransition means the ticket's status does not allow the change.
	ErrInvalidTransition = errors.New("status change not allowed")
	// ErrIdempotencyConflict means the key was already used for another operation.
	ErrIdempotencyConflict = errors.New("idempotency key already used for another request")
	// ErrAlreadyBreached means the deadline has passed and escalation runs: it
	// can no longer be extended.
	ErrAlreadyBreached = errors.New("deadline already breached")
)

// Ticket is one contact's record (S13) with its deadlines (S14, S15). Times
// are zero when not set. The encrypted ID number stays in the database; only
// its type and masked form are here (S5).
type Ticket struct {
	ID               int64     `json:"-"`
	Ref              string    `json:"ref"`
	CallID           string    `json:"call_id,omitempty"`
	Channel          string    `json:"channel"`
	Status           string    `json:"status"`
	OwnerAgent       string    `json:"owner_agent,omitempty"`
	CallerNumber     string    `json:"caller_number,omitempty"`
	CallerName       string    `json:"caller_name,omitempty"`
	Relation         string    `json:"relation,omitempty"`
	CallbackPhone    string    `json:"callback_phone,omitempty"`
	IDType           string    `json:"id_type,omitempty"`
	IDMasked         string    `json:"id_masked,omitempty"`
	Description      string    `json:"description,omitempty"`
	Category         string    `json:"category,omitempty"`
	Result           string    `json:"result,omitempty"`
	FollowUpDue      time.Time `json:"follow_up_due,omitzero"`
	CallEndedAt      time.Time `json:"call_ended_at,omitzero"`
	WaitSeconds      int       `json:"wait_seconds,omitempty"`
	RecordingPath    string    `json:"recording_path,omitempty"`
	AgentID          string    `json:"agent_id,omitempty"`
	EntryDeadline    time.Time `json:"entry_deadline,omitzero"`
	EnteredAt        time.Time `json:"entered_at,omitzero"`
	Late             bool      `json:"late"`
	OverdueFlaggedAt time.Time `json:"overdue_flagged_at,omitzero"`
	FirstContactDue  time.Time `json:"first_contact_due,omitzero"`
	DueAt            time.Time `json:"due_at,omitzero"`
	// DeadlineUncertain: DueAt or FirstContactDue was counted in working
	// days into a year whose holidays the calendar does not list (S9).
	DeadlineUncertain bool      `json:"deadline_uncertain"`
	BreachedAt        time.Time `json:"breached_at,omitzero"`
	EscalationLevel   int       `json:"escalation_level"`
	EscalatedAt       time.Time `json:"escalated_at,omitzero"`
	SurveyScore       int       `json:"survey_score,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Language is the prompt language the caller heard ("en", "zh-CN"):
	// the one to call them back in. Empty for tickets not from a call.
	Language string `json:"language,omitempty"`
}

// DraftFacts are the call facts a draft ticket starts with at call end (S12).
type DraftFacts struct {
	CallID        string    `json:"call_id"`
	CallerNumber  string    `json:"caller_number"`
	Category      string    `json:"category,omitempty"` // the IVR's; empty when none was chosen
	AgentID       string    `json:"agent_id"`           // the owner (S16)
	RecordingPath string    `json:"recording_path,omitempty"`
	CallEndedAt   time.Time `json:"call_ended_at"`
	WaitSeconds   int       `json:"wait_seconds"`
	// Ref, when set, is a reference reserved earlier with ReserveRef (the
	// caller heard it read out before hanging up, S17); empty: a new one.
	Ref string `json:"ref,omitempty"`
	// Language is the prompt language the caller heard (CallRecord.Language).
	Language string `json:"language,omitempty"`
}

func (d DraftFacts) validate() error {
	switch {
	case d.CallID == "":
		return fmt.Errorf("%w: draft ticket without call id", errInvalidRecord)
	case d.CallEndedAt.IsZero():
		return fmt.Errorf("%w: draft ticket for call %s: call end time is required", errInvalidRecord, d.CallID)
	case d.Category != "" && !slices.Contains(configs.TicketCategories(), d.Category):
		return fmt.Errorf("%w: draft ticket for call %s: category %q is not one of %v", errInvalidRecord, d.CallID, d.Category, configs.TicketCategories())
	case !languageTag.MatchString(d.Language):
		return fmt.Errorf("%w: draft ticket for call %s: language %q is not a language tag such as en or zh-CN", errInvalidRecord, d.CallID, d.Language)
	}
	return nil
}

// SubmitInput is the registration form of S13.
type SubmitInput struct {
	CallerName    string    `json:"caller_name"`
	OnBehalf      bool      `json:"on_behalf"` // calling for someone else: Relation is required
	Relation      string    `json:"relation"`
	CallbackPhone string    `json:"callback_phone"`
	IDType        string    `json:"id_type"` // resident|passport; with IDNumber
	IDNumber      string    `json:"id_number"`
	Description   string    `json:"description"`
	Category      string    `json:"category"`
	Result        string    `json:"result"`
	FollowUpDue   time.Time `json:"follow_up_due,omitzero"`
}

// FieldErrors maps a form field (the SubmitInput JSON name) to the message
// a person must act on (S13): one message per field, with its code.
type FieldErrors map[string]Message

// Error lists the fields in a stable order.
func (f FieldErrors) Error() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + f[k].Text
	}
	return "invalid ticket: " + strings.Join(parts, "; ")
}

// IDProtector turns an ID number into what the tickets table stores (S4,
// S5). Validation failures must match ErrInvalidID (errors.Is); their
// message becomes the id_number field error.
type IDProtector interface {
	Protect(idType, idNumber string) (ProtectedID, error)
}

// ProtectedID is an ID number as stored: encrypted, with its key version,
// blind index for look-ups and masked form for display (S5).
type ProtectedID struct {
	Type       string
	Ciphertext []byte
	KeyVersion int
	BlindIndex []byte
	Masked     string
}

// Filter selects tickets for List; zero fields do not filter.
type Filter struct {
	Status, Category, Owner string
	// Overdue selects drafts flagged overdue (S12) and breached tickets still
	// open (S14).
	Overdue      bool
	CallerNumber string
	IDBlindIndex []byte
	Limit        int // default 50, at most 500
	Offset       int
}

// Alert is what the sweeper tells the panel (S12 overdue entry, S14/S15
// breach and escalation).
type Alert struct {
	Kind      string // overdue|breach|escalation
	TicketRef string
	Agent     string // the owner; empty when none
	Category  string
	Level     int // escalation level: 0 overdue, 1 supervisor, 2 next level
}

// Alert kinds.
const (
	AlertOverdue    = "overdue"
	AlertBreach     = "breach"
	AlertEscalation = "escalation"
)
