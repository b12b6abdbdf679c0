package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/hotline-dev/hotline/tickets"
)

// eventReader reads a ticket's history; *tickets.Store is one. It is asked
// of the Store at run time so the Store interface stays as it is.
type eventReader interface {
	Events(ctx context.Context, ref string) ([]tickets.TicketEvent, error)
}

// errNoEvents answers when the store cannot read histories (a wiring mistake).
var errNoEvents = errors.New("api: the ticket store cannot read ticket events")

// listTicketEvents returns a ticket's history, oldest first: GET
// /api/tickets/{ref}/events. Whoever may see the ticket may see its events.
func (s *server) listTicketEvents(w http.ResponseWriter, r *http.Request, sess session) {
	er, ok := s.store.(eventReader)
	if !ok {
		s.fail(w, r, errNoEvents)
		return
	}
	k, err := s.visibleTicket(r.Context(), sess, r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := er.Events(r.Context(), k.Ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if events == nil {
		events = []tickets.TicketEvent{}
	}
	writeJSON(w, http.StatusOK, struct {
		Events []tickets.TicketEvent `json:"events"`
	}{events})
}
