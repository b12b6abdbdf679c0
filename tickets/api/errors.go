package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// Error is an error whose message a person may read: the status and the
// message are sent as they are. Handlers build it for bad requests; errors
// of the store are mapped by errorOf.
type Error struct {
	Status int
	Msg    tickets.Message
	Fields tickets.FieldErrors
}

func (e *Error) Error() string { return e.Msg.Text }

// errorBody is the JSON of every error response: the English text and its
// code (with the code's arguments), and for a form the text and the code
// of each field to correct.
type errorBody struct {
	Error      string                     `json:"error"`
	Code       string                     `json:"code"`
	Args       map[string]string          `json:"args,omitempty"`
	Fields     map[string]string          `json:"fields,omitempty"`
	FieldCodes map[string]tickets.Message `json:"field_codes,omitempty"`
}

// known maps the store's errors to a status and a fixed public message.
// The wrapped text is never sent: a chain may hold a database error too
// (Unmask joins one to a refusal it could not audit).
var known = []struct {
	err    error
	status int
	code   string
}{
	{tickets.ErrNotFound, http.StatusNotFound, msgNotFound},
	{tickets.ErrInvalidTransition, http.StatusConflict, msgTicketTransition},
	{tickets.ErrAlreadyBreached, http.StatusConflict, msgTicketBreached},
	{tickets.ErrIdempotencyConflict, http.StatusConflict, msgIdempotencyUsed},
	{tickets.ErrForbidden, http.StatusForbidden, msgUnmaskForbidden},
	{errNoIDNumber, http.StatusNotFound, msgNoIDNumber},
}

// errorOf turns err into what the client sees; ok is false for an internal
// error, which the client sees only as "internal error".
func errorOf(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var fields tickets.FieldErrors
	if errors.As(err, &fields) {
		return fieldsError(fields), true
	}
	if errors.Is(err, tickets.ErrReasonRequired) {
		return fieldsError(tickets.FieldErrors{"reason": tickets.UnmaskReasonMessage}), true
	}
	for _, k := range known {
		if errors.Is(err, k.err) {
			return apiError(k.status, k.code), true
		}
	}
	return apiError(http.StatusInternalServerError, msgInternal), false
}

// fieldsError is the 422 of a form with fields to correct.
func fieldsError(fields tickets.FieldErrors) *Error {
	e := apiError(http.StatusUnprocessableEntity, msgFieldsInvalid)
	e.Fields = fields
	return e
}

// fail writes err as JSON. Internal errors are logged with the request id
// and shown only as "internal error".
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, public := errorOf(err)
	if !public {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()),
			"method", r.Method, "route", r.Pattern, "err", err)
	} else if e.Status == http.StatusForbidden {
		// Refusals are worth watching (S5); the full chain is only logged.
		s.log.WarnContext(r.Context(), "request refused", "request_id", requestID(r.Context()),
			"route", r.Pattern, "err", err)
	}
	body := errorBody{Error: e.Msg.Text, Code: e.Msg.Code, Args: e.Msg.Args}
	if len(e.Fields) > 0 {
		body.Fields = make(map[string]string, len(e.Fields))
		body.FieldCodes = make(map[string]tickets.Message, len(e.Fields))
		for name, m := range e.Fields {
			body.Fields[name], body.FieldCodes[name] = m.Text, m
		}
	}
	writeJSON(w, e.Status, body)
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest is a 400 with the message of code.
func badRequest(code string, args ...string) *Error {
	return apiError(http.StatusBadRequest, code, args...)
}

// decodeJSON reads the body into dst: one JSON object, no unknown fields, at
// most 64 KiB. An empty body is accepted only when emptyOK.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, emptyOK bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) && emptyOK {
		return nil
	}
	if err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return badRequest(msgBodyNotSingle)
	}
	return nil
}

// decodeError says what is wrong with a body, without Go type names.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	var badTime *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest(msgBodyEmpty)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(msgBodyCut)
	case errors.As(err, &syntax):
		return badRequest(msgBodySyntax, "offset", strconv.FormatInt(syntax.Offset, 10))
	case errors.As(err, &typ) && typ.Field != "":
		return badRequest(msgBodyFieldType, "field", strconv.Quote(typ.Field), "want", jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &typ):
		return badRequest(msgBodyNotObject)
	case errors.As(err, &tooBig):
		return badRequest(msgBodyTooLarge, "max", strconv.Itoa(maxBodyBytes>>10))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest(msgBodyUnknownField, "field", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &badTime):
		return badRequest(msgBodyTime)
	}
	return badRequest(msgBodyUnreadable)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a number"
}
