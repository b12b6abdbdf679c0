package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets"
)

// extendDeadline moves a ticket's due time later with a reason, for
// supervisors only: POST /api/tickets/{ref}/extend (S14).
func (s *server) extendDeadline(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.supervisor() {
		s.fail(w, r, apiError(http.StatusForbidden, msgExtendForbidden))
		return
	}
	var in struct {
		DueAt  time.Time `json:"due_at"`
		Reason string    `json:"reason"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.DueAt.IsZero() {
		s.fail(w, r, tickets.FieldErrors{"due_at": msg(msgExtendDueRequired)})
		return
	}
	k, err := s.store.Extend(r.Context(), r.PathValue("ref"), in.DueAt, in.Reason, sess.AgentID)
	if errors.Is(err, tickets.ErrNotFound) {
		err = ticketNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// handOff gives a ticket to another enabled agent: POST
// /api/tickets/{ref}/handoff (S16).
func (s *server) handOff(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		ToAgent string `json:"to_agent"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	ref := r.PathValue("ref")
	before, err := s.visibleTicket(r.Context(), sess, ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to := strings.TrimSpace(in.ToAgent)
	if err := s.checkAgent(r, to); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.HandOff(r.Context(), ref, to, sess.AgentID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if before.OwnerAgent != to && s.panel != nil {
		// Both panels list it again at once: the new owner's gains it, and
		// the previous owner's (unless they handed it over themselves)
		// loses it.
		s.panel.TicketEvent(r.Context(), to, k.Ref, agents.TicketHandedOff)
		if before.OwnerAgent != "" && before.OwnerAgent != sess.AgentID {
			s.panel.TicketEvent(r.Context(), before.OwnerAgent, k.Ref, agents.TicketHandedOff)
		}
	}
	writeJSON(w, http.StatusOK, k)
}

// checkAgent refuses a hand-off to an agent that does not exist or is
// disabled: the ticket would have no one to work on it.
func (s *server) checkAgent(r *http.Request, id string) error {
	if id == "" {
		return tickets.FieldErrors{"to_agent": tickets.NewMessage(tickets.MsgToAgentRequired)}
	}
	a, err := s.auth.Get(r.Context(), id)
	if errors.Is(err, agents.ErrAgentNotFound) || (err == nil && !a.Enabled) {
		return tickets.FieldErrors{"to_agent": msg(msgAgentUnknown, "agent", id)}
	}
	return err
}
