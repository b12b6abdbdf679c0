package api

import (
	"net/http"
	"strings"
	"unicode"

	"github.com/hotline-dev/hotline/tickets"
)

// idempotencyHeader names the key that makes a retried submission change
// nothing (a double click or a retry after a timeout).
const idempotencyHeader = "Idempotency-Key"

// idempotencyKey returns the request's key scoped to the signed-in person,
// so one person's key can never replay another's response.
func idempotencyKey(r *http.Request, sess session) (string, error) {
	key := strings.TrimSpace(r.Header.Get(idempotencyHeader))
	switch {
	case key == "":
		return "", badRequest(msgIdempotencyMissing, "header", idempotencyHeader)
	case len(key) > 200 || strings.IndexFunc(key, unicode.IsControl) >= 0:
		return "", badRequest(msgIdempotencyInvalid, "header", idempotencyHeader)
	}
	return sess.AgentID + ":" + key, nil // agent ids never hold ":"
}

// submitTicket completes a draft with the form of S13 and opens it: POST
// /api/tickets/{ref}/submit. PostgreSQL stamps the entry time (S12).
func (s *server) submitTicket(w http.ResponseWriter, r *http.Request, sess session) {
	key, err := idempotencyKey(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in tickets.SubmitInput
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	if _, err := s.visibleTicket(r.Context(), sess, ref); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.Submit(r.Context(), ref, in, sess.AgentID, key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.submitted != nil {
		s.submitted(r.Context(), k)
	}
	writeJSON(w, http.StatusOK, k)
}

// createTicketRequest is the body of POST /api/tickets: the form with the
// channel of a contact that did not come by phone (S20).
type createTicketRequest struct {
	Channel string `json:"channel"` // web or letter
	tickets.SubmitInput
}

// createTicket opens a web or letter ticket owned by the signed-in person:
// POST /api/tickets (S20).
func (s *server) createTicket(w http.ResponseWriter, r *http.Request, sess session) {
	key, err := idempotencyKey(r, sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in createTicketRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.CreateWebTicket(r.Context(), in.SubmitInput, in.Channel, sess.AgentID, key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/tickets/"+k.Ref)
	writeJSON(w, http.StatusCreated, k)
}

// setStatus moves a ticket along its statuses: POST /api/tickets/{ref}/status.
func (s *server) setStatus(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Status == "" {
		s.fail(w, r, tickets.FieldErrors{"status": msg(msgStatusChoose)})
		return
	}
	ref := r.PathValue("ref")
	if _, err := s.visibleTicket(r.Context(), sess, ref); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.SetStatus(r.Context(), ref, in.Status, sess.AgentID, in.Note)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// addNote appends a note to a ticket: POST /api/tickets/{ref}/notes.
func (s *server) addNote(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		Note string `json:"note"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	if _, err := s.visibleTicket(r.Context(), sess, ref); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.AddNote(r.Context(), ref, sess.AgentID, in.Note); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
