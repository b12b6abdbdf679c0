package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// nuisanceRequest is the body of POST /api/nuisance.
type nuisanceRequest struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
}

// supervisorsOnly refuses clearing a flag or deciding a report by an agent:
// a flag turns a resident away before the emergency option, so it is a
// supervisor's act (S21).
var supervisorsOnly = apiError(http.StatusForbidden, msgNuisanceForbidden)

// flagNuisance marks a caller number as a nuisance: POST /api/nuisance
// (S21; the store normalises the number and audits it). A supervisor's
// flag blocks the number at once (204); an agent's is a report for a
// supervisor to decide (202 {"status": "reported" | "already_reported" |
// "already_flagged"}), so that no single agent keeps a resident out.
func (s *server) flagNuisance(w http.ResponseWriter, r *http.Request, sess session) {
	var in nuisanceRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if !sess.supervisor() {
		outcome, err := s.store.ReportNuisance(r.Context(), in.Number, sess.AgentID, in.Reason)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if outcome == tickets.NuisanceReported {
			s.wallChanged()
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": outcome})
		return
	}
	if err := s.store.FlagNuisance(r.Context(), in.Number, sess.AgentID, in.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	s.wallChanged()
	w.WriteHeader(http.StatusNoContent)
}

// nuisanceReport is one open report in GET /api/nuisance/reports.
type nuisanceReport struct {
	ID         int64     `json:"id"`
	Number     string    `json:"number"`
	ReportedBy string    `json:"reported_by"`
	Reason     string    `json:"reason"`
	ReportedAt time.Time `json:"reported_at"`
}

func nuisanceReportOf(n tickets.NuisanceReport) nuisanceReport {
	return nuisanceReport{ID: n.ID, Number: n.Number, ReportedBy: n.ReportedBy, Reason: n.Reason, ReportedAt: n.ReportedAt.UTC()}
}

// nuisanceReports lists the agents' open reports, oldest first:
// GET /api/nuisance/reports (supervisors; S21).
func (s *server) nuisanceReports(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.supervisor() {
		s.fail(w, r, supervisorsOnly)
		return
	}
	list, err := s.store.OpenNuisanceReports(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]nuisanceReport, 0, len(list))
	for _, n := range list {
		out = append(out, nuisanceReportOf(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// dismissNuisanceReport closes an agent's report without flagging the
// number: POST /api/nuisance/reports/{id}/dismiss with {"reason"}
// (supervisors; audited, S21). Flagging is POST /api/nuisance.
func (s *server) dismissNuisanceReport(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.supervisor() {
		s.fail(w, r, supervisorsOnly)
		return
	}
	raw := r.PathValue("id")
	id, err := pathID(raw, msgNuisanceReportID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	err = s.store.DismissNuisanceReport(r.Context(), id, sess.AgentID, in.Reason)
	if errors.Is(err, tickets.ErrNotFound) {
		s.fail(w, r, apiError(http.StatusConflict, msgNuisanceReportGone, "id", raw))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.wallChanged()
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

// wallChanged tells the walls to read again, when the server has a panel.
func (s *server) wallChanged() {
	if s.panel != nil {
		s.panel.WallChanged()
	}
}
