package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/hotline-dev/hotline/tickets"
)

// ticketList is the body of GET /api/tickets.
type ticketList struct {
	Tickets []tickets.Ticket `json:"tickets"`
	Limit   int              `json:"limit"`
	Offset  int              `json:"offset"`
}

// listTickets searches tickets: GET /api/tickets?status=&category=&owner=
// &overdue=true&caller=&id_type=&id_number=&limit=&offset=. An agent's
// search is always limited to the tickets it owns.
func (s *server) listTickets(w http.ResponseWriter, r *http.Request, sess session) {
	f, err := s.filterOf(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !sess.supervisor() {
		f.Owner = sess.AgentID
	}
	list, err := s.store.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []tickets.Ticket{}
	}
	writeJSON(w, http.StatusOK, ticketList{Tickets: list, Limit: f.Limit, Offset: f.Offset})
}

// filterOf reads the search parameters; the ID number is looked up by its
// blind index, never in clear (S5).
func (s *server) filterOf(q url.Values) (tickets.Filter, error) {
	f := tickets.Filter{Status: q.Get("status"), Category: q.Get("category"), Owner: q.Get("owner"),
		CallerNumber: q.Get("caller")}
	var err error
	if f.Overdue, err = boolParam(q, "overdue"); err != nil {
		return f, err
	}
	if f.Limit, err = intParam(q, "limit", 50, 1, 500); err != nil {
		return f, err
	}
	if f.Offset, err = intParam(q, "offset", 0, 0, 1_000_000); err != nil {
		return f, err
	}
	if number := q.Get("id_number"); number != "" {
		idType := q.Get("id_type")
		if idType == "" {
			idType = tickets.IDTypeResident
		}
		f.IDBlindIndex, err = s.indexer.BlindIndex(idType, number)
		if errors.Is(err, tickets.ErrInvalidID) {
			return f, fieldsError(tickets.FieldErrors{"id_number": tickets.IDMessage(err)})
		}
		if err != nil {
			return f, fmt.Errorf("blind index of id number: %w", err)
		}
	}
	return f, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(msgQueryBool, "name", name)
	}
	return b, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(msgQueryInt, "name", name, "min", strconv.Itoa(lo), "max", strconv.Itoa(hi))
	}
	return n, nil
}

// showTicket returns one ticket: GET /api/tickets/{ref}.
func (s *server) showTicket(w http.ResponseWriter, r *http.Request, sess session) {
	k, err := s.visibleTicket(r.Context(), sess, r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// ticketNotFound is the answer for a ticket that does not exist and for one
// an agent does not own alike, so existence never leaks.
var ticketNotFound = apiError(http.StatusNotFound, msgTicketNotFound)

// visibleTicket reads ticket ref when sess may see it: a supervisor every
// ticket, an agent only those it owns (S16).
func (s *server) visibleTicket(ctx context.Context, sess session, ref string) (tickets.Ticket, error) {
	k, err := s.store.Get(ctx, ref)
	if errors.Is(err, tickets.ErrNotFound) {
		return tickets.Ticket{}, ticketNotFound
	}
	if err != nil {
		return tickets.Ticket{}, err
	}
	if !sess.supervisor() && k.OwnerAgent != sess.AgentID {
		return tickets.Ticket{}, ticketNotFound
	}
	return k, nil
}
