package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets"
)

// reassignTicket gives a ticket to another agent with a reason, as a
// supervisor: POST /api/tickets/{ref}/reassign (S16). A retry that finds
// the ticket already with that agent changes nothing.
func (s *server) reassignTicket(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		Agent  string `json:"agent"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	to := strings.TrimSpace(in.Agent)
	if err := s.checkAgent(r, to); err != nil {
		var fields tickets.FieldErrors
		if errors.As(err, &fields) {
			err = tickets.FieldErrors{"agent": fields["to_agent"]}
		}
		s.fail(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	before, err := s.visibleTicket(r.Context(), sess, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.Reassign(r.Context(), ref, to, in.Reason, sess.AgentID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if before.OwnerAgent != to && s.panel != nil {
		s.panel.TicketEvent(r.Context(), to, k.Ref, agents.TicketReassigned)
	}
	writeJSON(w, http.StatusOK, k)
}

// acknowledgeEscalation records that a supervisor took up a ticket's
// escalation: POST /api/tickets/{ref}/acknowledge (S15). Acknowledging the
// same level again adds no event.
func (s *server) acknowledgeEscalation(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		Note string `json:"note"`
	}
	if err := decodeJSON(w, r, &in, true); err != nil {
		s.fail(w, r, err)
		return
	}
	k, fresh, err := s.store.Acknowledge(r.Context(), r.PathValue("ref"), in.Note, sess.AgentID)
	switch {
	case errors.Is(err, tickets.ErrNotFound):
		err = ticketNotFound
	case errors.Is(err, tickets.ErrNotEscalated):
		err = apiError(http.StatusConflict, msgEscalationNone)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if fresh && s.panel != nil {
		s.panel.TicketEvent(r.Context(), k.OwnerAgent, k.Ref, agents.TicketAcknowledged)
	}
	writeJSON(w, http.StatusOK, k)
}
