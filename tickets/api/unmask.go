package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNoIDNumber means the ticket holds no ID number to show.
var errNoIDNumber = errors.New("ticket has no ID number")

// unmaskResponse carries the clear ID number: the only response that does.
type unmaskResponse struct {
	IDNumber string `json:"id_number"`
}

// unmaskID shows a ticket's ID number in clear to its owning agent or a
// supervisor, with a reason: POST /api/tickets/{ref}/unmask (S5). Every
// request, granted or refused, leaves an audit row.
func (s *server) unmaskID(w http.ResponseWriter, r *http.Request, sess session) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	clear, err := s.unmasker.Unmask(r.Context(), r.PathValue("ref"), tickets.UnmaskRequest{
		Actor: sess.AgentID, Role: sess.Role, Reason: in.Reason, ClientIP: s.clientIP(r)})
	if errors.Is(err, tickets.ErrNotFound) {
		err = ticketNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "id number unmasked", "agent", sess.AgentID, "ref", r.PathValue("ref"))
	writeJSON(w, http.StatusOK, unmaskResponse{IDNumber: clear})
}

// PGUnmasker reads a ticket's encrypted ID number from PostgreSQL and
// shows it through tickets.Unmask, which decides and audits (S5).
type PGUnmasker struct {
	pool    *pgxpool.Pool
	keyring *tickets.Keyring
}

// NewPGUnmasker returns an Unmasker on pool with the keyring of
// HOTLINE_SECRET_KEY.
func NewPGUnmasker(pool *pgxpool.Pool, kr *tickets.Keyring) *PGUnmasker {
	return &PGUnmasker{pool: pool, keyring: kr}
}

// Unmask fills req with the ticket's id and owner and returns the clear ID
// number; errors match tickets.ErrNotFound, tickets.ErrForbidden,
// tickets.ErrReasonRequired, or errNoIDNumber for a ticket without one.
func (u *PGUnmasker) Unmask(ctx context.Context, ref string, req tickets.UnmaskRequest) (string, error) {
	var p tickets.ProtectedID
	err := u.pool.QueryRow(ctx, `SELECT id, coalesce(owner_agent, ''), coalesce(id_type, ''),
		id_ciphertext, coalesce(id_key_version, 0) FROM tickets WHERE ref = $1`, ref).
		Scan(&req.TicketID, &req.OwnerAgent, &p.Type, &p.Ciphertext, &p.KeyVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("ticket %s: %w", ref, tickets.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read id number of ticket %s: %w", ref, err)
	}
	// Without a number Unmask still judges (and audits a refusal) before it
	// fails to decrypt nothing; a permitted request learns there is none.
	clear, err := tickets.Unmask(ctx, u.pool, req, p, u.keyring)
	if len(p.Ciphertext) == 0 && errors.Is(err, tickets.ErrUnknownKeyVersion) {
		return "", fmt.Errorf("ticket %s: %w", ref, errNoIDNumber)
	}
	return clear, err
}
