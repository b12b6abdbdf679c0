package api

import (
	"maps"

	"github.com/hotline-dev/hotline/tickets"
)

// Codes of the API's own messages: every error answer has one ("code"),
// and so has each field to correct ("field_codes"), beside the English
// text ("error", "fields"). The panel renders them from its catalogues.
const (
	msgFieldsInvalid      = "fields_invalid"
	msgInternal           = "internal"
	msgNotFound           = "not_found"
	msgTicketNotFound     = "ticket.not_found"
	msgTicketTransition   = "ticket.transition"
	msgTicketBreached     = "ticket.breached"
	msgIdempotencyUsed    = "idempotency.conflict"
	msgIdempotencyMissing = "idempotency.missing"
	msgIdempotencyInvalid = "idempotency.invalid"
	msgUnmaskForbidden    = "unmask.forbidden"
	msgNoIDNumber         = "id_number.none"

	msgBodyNotSingle    = "body.not_single"
	msgBodyEmpty        = "body.empty"
	msgBodyCut          = "body.cut"
	msgBodySyntax       = "body.syntax"
	msgBodyFieldType    = "body.field_type"
	msgBodyNotObject    = "body.not_object"
	msgBodyTooLarge     = "body.too_large"
	msgBodyUnknownField = "body.unknown_field"
	msgBodyTime         = "body.time"
	msgBodyUnreadable   = "body.unreadable"
	msgQueryBool        = "query.bool"
	msgQueryInt         = "query.int"
	msgRouteUnknown     = "route.unknown"

	msgLoginWrong         = "login.wrong"
	msgLoginNoPassword    = "login.no_password"
	msgLoginLimitedAgent  = "login.rate_limited_agent"
	msgLoginLimitedSource = "login.rate_limited_source"
	msgSessionNone        = "session.none"
	msgSessionEnded       = "session.ended"
	msgCSRF               = "csrf.wrong"
	msgCrossSite          = "origin.refused"

	msgSupervisorOnly     = "supervisor.only"
	msgExtendForbidden    = "extend.forbidden"
	msgNuisanceForbidden  = "nuisance.forbidden"
	msgNuisanceReportID   = "nuisance_report.bad_id"
	msgNuisanceReportGone = "nuisance_report.gone"
	msgPanelOff           = "panel.off"
	msgCallbacksOff       = "callbacks.off"
	msgCallbackID         = "callback.bad_id"
	msgCallbackTaken      = "callback.taken"
	msgWrapUpDraftOpen    = "wrap_up.draft_open"
	msgStateNotAllowed    = "state.not_allowed"
	msgAgentNotFound      = "agent.not_found"
	msgNotOnCall          = "call.none"
	msgCallUnreachable    = "call.unreachable"
	msgEscalationNone     = "escalation.none"
	msgRecordingNone      = "recording.none"
	msgRecordingForbidden = "recording.forbidden"
	msgRecordingOff       = "recording.off"
	msgRecordingMissing   = "recording.missing"
	msgRecordingOutside   = "recording.outside"
	msgStateChoose        = "state.choose"
	msgReasonTooLong      = "state.reason.too_long"
	msgPauseReasonChoose  = "pause.reason.choose"
	msgPauseReasonUnknown = "pause.reason.unknown"
	msgTransferKindChoose = "transfer.kind.choose"
	msgTransferTarget     = "transfer.target.required"
	msgTransferNotAllowed = "transfer.target.forbidden"
	msgAgentUnknown       = "agent.unknown"
	msgExtendDueRequired  = "extend.due_at.required"
	msgStatusChoose       = "status.choose"
)

// messages are the English texts of the API's codes.
var messages = tickets.MessageTexts{
	msgFieldsInvalid:      "some fields need correcting",
	msgInternal:           "internal error",
	msgNotFound:           "not found",
	msgTicketNotFound:     "ticket not found",
	msgTicketTransition:   "the ticket's status does not allow this change",
	msgTicketBreached:     "the deadline has already passed and escalation runs: it can no longer be extended (S14)",
	msgIdempotencyUsed:    "this Idempotency-Key was already used for another request",
	msgIdempotencyMissing: "the {header} header is required: send a new random value per submission and the same one on a retry",
	msgIdempotencyInvalid: "the {header} header must be at most 200 printable characters",
	msgUnmaskForbidden:    "only a supervisor or the agent who owns the ticket may see its ID number (S5)",
	msgNoIDNumber:         "this ticket has no ID number",

	msgBodyNotSingle:    "the request body must hold a single JSON object",
	msgBodyEmpty:        "the request body is empty: send a JSON object",
	msgBodyCut:          "the request body is cut short: send complete JSON",
	msgBodySyntax:       "the request body is not valid JSON (at byte {offset})",
	msgBodyFieldType:    "field {field} has the wrong type: want {want}",
	msgBodyNotObject:    "the request body must be a JSON object",
	msgBodyTooLarge:     "the request body is larger than {max} KiB",
	msgBodyUnknownField: "unknown field {field} in the request body",
	msgBodyTime:         "a time field is not in RFC 3339 form (e.g. 2026-11-23T17:00:00+08:00)",
	msgBodyUnreadable:   "the request body cannot be read as JSON",
	msgQueryBool:        "query parameter {name} must be true or false",
	msgQueryInt:         "query parameter {name} must be a whole number from {min} to {max}",
	msgRouteUnknown:     "no such API route: {method} {path}",

	msgLoginWrong:         "wrong agent id or password",
	msgLoginNoPassword:    "agent {agent} has no panel password yet: a supervisor sets one with `hotline agent password -id {agent}`",
	msgLoginLimitedAgent:  "too many failed sign-ins for this agent id: wait and try again",
	msgLoginLimitedSource: "too many failed sign-ins from this address: wait and try again",
	msgSessionNone:        "sign in first: no valid session",
	msgSessionEnded:       "your session has ended: the account was disabled or its password or role changed; sign in again",
	msgCSRF:               "missing or wrong {header} header: send the csrf_token given at sign-in",
	msgCrossSite:          "cross-site request refused: Origin or Referer is not this host",

	msgSupervisorOnly:     "only a supervisor may do this",
	msgExtendForbidden:    "only a supervisor may extend a deadline (S14)",
	msgNuisanceForbidden:  "clearing nuisance numbers and deciding reports is for supervisors (S21)",
	msgNuisanceReportID:   "nuisance report id {id}: want a positive number",
	msgNuisanceReportGone: "nuisance report {id} is not open: a supervisor already decided it",
	msgPanelOff:           "the agents' panel is not served by this server",
	msgCallbacksOff:       "callbacks are not served by this node",
	msgCallbackID:         "callback id {id}: want a positive number",
	msgCallbackTaken:      "callback {id} is not a pending request of your categories, or another agent claimed it",
	msgWrapUpDraftOpen:    "submit the call's ticket first: wrap-up lasts until it is entered (S12)",
	msgStateNotAllowed:    "the agent's current state does not allow this change",
	msgAgentNotFound:      "no such agent",
	msgNotOnCall:          "you are not on a call",
	msgCallUnreachable:    "the call could not be reached: it may have just ended",
	msgEscalationNone:     "the ticket has no escalation to acknowledge (S15)",
	msgRecordingNone:      "this ticket has no recording",
	msgRecordingForbidden: "only a supervisor or the agent who owns the ticket may play its recording",
	msgRecordingOff:       "recordings are not served by this server",
	msgRecordingMissing:   "the recording file is missing",
	msgRecordingOutside:   "the recording lies outside the recordings folder: refused",
	msgStateChoose:        "choose available, paused or offline",
	msgReasonTooLong:      "the reason is at most {max} bytes of text",
	msgPauseReasonChoose:  "choose one of the pause reasons: {choices}",
	msgPauseReasonUnknown: "not one of the pause reasons",
	msgTransferKindChoose: "choose category, agent or specialist",
	msgTransferTarget:     "name the category, agent or specialist (at most {max} characters)",
	msgTransferNotAllowed: "not an allowed {kind} to transfer to (S10)",
	msgAgentUnknown:       "there is no enabled agent {agent}",
	msgExtendDueRequired:  "set the new deadline (RFC 3339, e.g. 2026-11-30T17:00:00+08:00)",
	msgStatusChoose:       "choose the new status",
}

// msg is a message of the API's codes.
func msg(code string, args ...string) tickets.Message { return messages.Msg(code, args...) }

// apiError is an error answer with status and the message of code.
func apiError(status int, code string, args ...string) *Error {
	return &Error{Status: status, Msg: msg(code, args...)}
}

// Messages returns every code of the API's own messages with its English
// text; the fields' codes of the ticket store are tickets.Messages. The
// panel's catalogues must hold both.
func Messages() tickets.MessageTexts { return maps.Clone(messages) }
