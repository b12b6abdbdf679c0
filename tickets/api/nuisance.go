package api

import (
	"net/http"
)

// nuisanceRequest is the body of POST /api/nuisance.
type nuisanceRequest struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
}

// supervisorsOnly refuses flagging and clearing by an agent: a flag turns a
// resident away before the emergency option, so it is a supervisor's act (S21).
var supervisorsOnly = apiError(http.StatusForbidden, msgNuisanceForbidden)

// flagNuisance marks a caller number as a nuisance: POST /api/nuisance
// (S21; the store normalises the number and audits it).
func (s *server) flagNuisance(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.supervisor() {
		s.fail(w, r, supervisorsOnly)
		return
	}
	var in nuisanceRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.FlagNuisance(r.Context(), in.Number, sess.AgentID, in.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clearNuisance lifts the flag of a number: DELETE /api/nuisance/{number}
// with {"reason"} in the body (S21: reversible, audited).
func (s *server) clearNuisance(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.supervisor() {
		s.fail(w, r, supervisorsOnly)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in, true); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.ClearNuisance(r.Context(), r.PathValue("number"), sess.AgentID, in.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
