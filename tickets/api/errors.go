package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	Status  int
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string { return e.Message }

// errorBody is the JSON of every error response.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// known maps the store's errors to a status and a fixed public message.
// The wrapped text is never sent: a chain may hold a database error too
// (Unmask joins one to a refusal it could not audit).
var known = []struct {
	err     error
	status  int
	message string
}{
	{tickets.ErrNotFound, http.StatusNotFound, "not found"},
	{tickets.ErrInvalidTransition, http.StatusConflict, "the ticket's status does not allow this change"},
	{tickets.ErrAlreadyBreached, http.StatusConflict, "the deadline has already passed and escalation runs: it can no longer be extended (S14)"},
	{tickets.ErrIdempotencyConflict, http.StatusConflict, "this Idempotency-Key was already used for another request"},
	{tickets.ErrForbidden, http.StatusForbidden, "only a supervisor or the agent who owns the ticket may see its ID number (S5)"},
	{errNoIDNumber, http.StatusNotFound, "this ticket has no ID number"},
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
		return &Error{Status: http.StatusUnprocessableEntity, Message: "some fields need correcting", Fields: fields}, true
	}
	if errors.Is(err, tickets.ErrReasonRequired) {
		msg := strings.TrimPrefix(tickets.ErrReasonRequired.Error(), "reason: ")
		return &Error{Status: http.StatusUnprocessableEntity, Message: "some fields need correcting",
			Fields: map[string]string{"reason": msg}}, true
	}
	for _, k := range known {
		if errors.Is(err, k.err) {
			return &Error{Status: k.status, Message: k.message}, true
		}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error"}, false
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
	writeJSON(w, e.Status, errorBody{Error: e.Message, Fields: e.Fields})
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest is a 400 with a message.
func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
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
		return badRequest("the request body must hold a single JSON object")
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
		return badRequest("the request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the request body is cut short: send complete JSON")
	case errors.As(err, &syntax):
		return badRequest("the request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return badRequest("field %q has the wrong type: want %s", typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.As(err, &typ):
		return badRequest("the request body must be a JSON object")
	case errors.As(err, &tooBig):
		return badRequest("the request body is larger than %d KiB", maxBodyBytes>>10)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s in the request body", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &badTime):
		return badRequest("a time field is not in RFC 3339 form (e.g. 2026-11-23T17:00:00+08:00)")
	}
	return badRequest("the request body cannot be read as JSON")
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
