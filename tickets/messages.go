package tickets

import (
	"maps"
	"strings"
)

// Message is what a person must act on: a stable code, which the panel
// renders from its catalogue in the user's language ("msg.<code>"), the
// values of the code's {placeholders}, and the English text for API users
// and logs. A code never changes meaning: a new wording keeps it, a new
// meaning is a new code.
type Message struct {
	Code string            `json:"code"`
	Args map[string]string `json:"args,omitempty"`
	Text string            `json:"-"`
}

// MessageTexts maps each code to its English text, {name} marking where
// an argument goes.
type MessageTexts map[string]string

// Msg returns the message of code with args given as name, value pairs.
// A code missing from t keeps the code as its text (the tests walk every
// code, so none is).
func (t MessageTexts) Msg(code string, args ...string) Message {
	m := Message{Code: code, Text: code}
	if s, ok := t[code]; ok {
		m.Text = s
	}
	if len(args) > 1 {
		m.Args = make(map[string]string, len(args)/2)
		pairs := make([]string, 0, len(args))
		for i := 0; i+1 < len(args); i += 2 {
			m.Args[args[i]] = args[i+1]
			pairs = append(pairs, "{"+args[i]+"}", args[i+1])
		}
		m.Text = strings.NewReplacer(pairs...).Replace(m.Text)
	}
	return m
}

// Codes of the ticket store's messages: the registration form (S13), the
// ID number (S4), the nuisance flags (S21) and the panel's acts.
const (
	MsgCallerNameRequired  = "form.caller_name.required"
	MsgRelationRequired    = "form.relation.required"
	MsgCallbackPhone       = "form.callback_phone.invalid"
	MsgDescriptionRequired = "form.description.required"
	MsgCategoryChoose      = "form.category.choose"
	MsgResultChoose        = "form.result.choose"
	MsgFollowUpRequired    = "form.follow_up_due.required"
	MsgFollowUpPast        = "form.follow_up_due.past"
	MsgIDNumberRequired    = "form.id_number.required"
	MsgIDTypeChoose        = "form.id_type.choose"
	MsgChannelChoose       = "form.channel.choose"

	MsgResidentLength      = "id.resident.length"
	MsgResidentChars       = "id.resident.chars"
	MsgResidentRegion      = "id.resident.region"
	MsgResidentBirthDate   = "id.resident.birth_date"
	MsgResidentBirthYear   = "id.resident.birth_year"
	MsgResidentBirthFuture = "id.resident.birth_future"
	MsgIDCheckChar         = "id.check_char"
	MsgPassportLength      = "id.passport.length"
	MsgPassportChars       = "id.passport.chars"
	MsgIDTypeUnknown       = "id.type.unknown"

	MsgNuisanceNumberRequired = "nuisance.number.required"
	MsgNuisanceNumberInvalid  = "nuisance.number.invalid"
	MsgNuisanceReasonRequired = "nuisance.reason.required"
	MsgTextTooLong            = "text.too_long"
	MsgNoteRequired           = "note.required"
	MsgExtendReasonRequired   = "extend.reason.required"
	MsgExtendNotLater         = "extend.due_at.not_later"
	MsgToAgentRequired        = "handoff.to_agent.required"
	MsgReassignReasonRequired = "reassign.reason.required"
	MsgForceReasonRequired    = "force.reason.required"
	MsgSurveyScore            = "survey.score.range"
	MsgUnmaskReasonRequired   = "unmask.reason.required"
)

// messages are the English texts of the store's codes.
var messages = MessageTexts{
	MsgCallerNameRequired:  "enter the caller's name as on their ID",
	MsgRelationRequired:    "enter how the caller relates to the person they call for",
	MsgCallbackPhone:       "enter a callback phone number of {min} to {max} digits",
	MsgDescriptionRequired: "describe the caller's problem or request",
	MsgCategoryChoose:      "choose a category: {choices}",
	MsgResultChoose:        "choose a result: {choices}",
	MsgFollowUpRequired:    "set the follow-up deadline: this result or category needs one",
	MsgFollowUpPast:        "the follow-up deadline must be in the future",
	MsgIDNumberRequired:    "this category needs the caller's ID number (S4)",
	MsgIDTypeChoose:        `choose the ID type: "resident" or "passport"`,
	MsgChannelChoose:       `choose "web" or "letter" (phone tickets come from calls)`,

	MsgResidentLength:      "resident ID number must be {want} characters, not {got}",
	MsgResidentChars:       "resident ID number must be 17 digits followed by a digit or X",
	MsgResidentRegion:      "resident ID number has an invalid region code (its first digit cannot be 0)",
	MsgResidentBirthDate:   "resident ID number has an invalid birth date (characters 7–14 are not a real date)",
	MsgResidentBirthYear:   "resident ID number has a birth year before 1900",
	MsgResidentBirthFuture: "resident ID number has a birth date in the future",
	MsgIDCheckChar:         "ID number check character is wrong",
	MsgPassportLength:      "passport number must be {min} to {max} characters, not {got}",
	MsgPassportChars:       "passport number may contain only letters and digits",
	MsgIDTypeUnknown:       `ID type "{type}" is not known: use "resident" or "passport"`,

	MsgNuisanceNumberRequired: "give the caller's number",
	MsgNuisanceNumberInvalid:  "give a phone number: 3-20 digits, optionally with +, spaces or dashes (e.g. 138 0013 8000)",
	MsgNuisanceReasonRequired: "say why (S21 flags are audited)",
	MsgTextTooLong:            "at most {max} characters",
	MsgNoteRequired:           "write the note",
	MsgExtendReasonRequired:   "say why the deadline is extended",
	MsgExtendNotLater:         "the new deadline must be later than the current one ({due})",
	MsgToAgentRequired:        "name the agent who takes the ticket over",
	MsgReassignReasonRequired: "say why the ticket changes hands",
	MsgForceReasonRequired:    "say why the agent's state is changed",
	MsgSurveyScore:            "the survey score is 1, 2 or 3",
	MsgUnmaskReasonRequired:   "say why the ID number must be shown (at least {min} characters)",
}

// msg is a message of the store's codes.
func msg(code string, args ...string) Message { return messages.Msg(code, args...) }

// NewMessage is the message of one of the store's codes (Msg…), for a
// caller that checks the same field the store does.
func NewMessage(code string, args ...string) Message { return msg(code, args...) }

// Messages returns every code the ticket store's messages can have, with
// its English text: the panel's catalogues must hold each.
func Messages() MessageTexts { return maps.Clone(messages) }
