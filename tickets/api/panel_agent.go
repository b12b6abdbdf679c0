package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/tickets"
)

// agentStateBody is the body of GET and POST /api/agent/state and of a
// supervisor's POST /api/agents/{id}/state.
type agentStateBody struct {
	Agent                string   `json:"agent"`
	Name                 string   `json:"name"`
	Role                 string   `json:"role"`
	State                string   `json:"state"`
	Reason               string   `json:"reason"`
	Since                string   `json:"since"` // RFC 3339, empty for an agent who never logged in
	Categories           []string `json:"categories"`
	Node                 string   `json:"node"` // the node holding the agent's call, empty when none
	PauseReasons         []string `json:"pause_reasons"`
	WrapUpUntilSubmitted bool     `json:"wrap_up_until_submitted"`
}

// stateRequest is the body of POST /api/agent/state and /api/agents/{id}/state.
type stateRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// panelStates are the states a person may ask for.
var panelStates = []agents.State{agents.StateAvailable, agents.StatePaused, agents.StateOffline}

// maxReasonBytes bounds a reason typed in the panel.
const maxReasonBytes = 2000

// errNoPanel answers the panel's routes on a server built without one.
var errNoPanel = apiError(http.StatusServiceUnavailable, msgPanelOff)

// withPanel answers 503 when the server has no Panel.
func (s *server) withPanel(next authedFunc) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		if s.panel == nil {
			s.fail(w, r, errNoPanel)
			return
		}
		next(w, r, sess)
	}
}

// supervisorOnly refuses anyone but a supervisor (403), checked on the server.
func (s *server) supervisorOnly(next authedFunc) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		if !sess.supervisor() {
			s.fail(w, r, apiError(http.StatusForbidden, msgSupervisorOnly))
			return
		}
		next(w, r, sess)
	}
}

// showAgentState returns the signed-in person's live state: GET /api/agent/state.
func (s *server) showAgentState(w http.ResponseWriter, r *http.Request, sess session) {
	body, err := s.agentState(r.Context(), sess.AgentID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// agentState reads an agent's live state from the ACD and its name and
// role from the directory.
func (s *server) agentState(ctx context.Context, id string) (agentStateBody, error) {
	a, err := s.auth.Get(ctx, id)
	if err != nil {
		return agentStateBody{}, err
	}
	b := agentStateBody{Agent: id, Name: a.DisplayName, Role: a.Role, State: string(agents.StateOffline),
		Categories: a.Categories, PauseReasons: s.panel.PauseReasons(), WrapUpUntilSubmitted: s.panel.WrapUpUntilSubmitted()}
	st, err := s.panel.AgentState(ctx, id)
	if errors.Is(err, agents.ErrUnknownAgent) {
		return b, nil
	}
	if err != nil {
		return agentStateBody{}, err
	}
	b.State, b.Reason, b.Node = string(st.State), st.Reason, st.Node
	if !st.Since.IsZero() {
		b.Since = st.Since.UTC().Format(time.RFC3339)
	}
	if len(st.Categories) > 0 {
		b.Categories = st.Categories
	}
	if b.Categories == nil {
		b.Categories = []string{}
	}
	return b, nil
}

// readStateRequest decodes and checks a state request; the reason is
// required (for the audit) when reasonRequired, else only for a pause,
// where it must be one of the configured pause reasons.
func (s *server) readStateRequest(w http.ResponseWriter, r *http.Request, reasonRequired bool) (agents.State, string, error) {
	var in stateRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		return "", "", err
	}
	to, reason := agents.State(in.State), strings.TrimSpace(in.Reason)
	fields := tickets.FieldErrors{}
	if !slices.Contains(panelStates, to) {
		fields["state"] = msg(msgStateChoose)
	}
	switch {
	case len(reason) > maxReasonBytes || !utf8.ValidString(reason):
		fields["reason"] = msg(msgReasonTooLong, "max", strconv.Itoa(maxReasonBytes))
	case reasonRequired && reason == "":
		fields["reason"] = tickets.NewMessage(tickets.MsgForceReasonRequired)
	case !reasonRequired && to == agents.StatePaused && !slices.Contains(s.panel.PauseReasons(), reason):
		fields["reason"] = msg(msgPauseReasonChoose, "choices", strings.Join(s.panel.PauseReasons(), ", "))
	}
	if len(fields) > 0 {
		return "", "", fields
	}
	return to, reason, nil
}

// stateConflict is the 409 of a state change the state machine refuses.
func stateConflict(err error) error {
	switch {
	case errors.Is(err, dispatch.ErrDraftOpen):
		return apiError(http.StatusConflict, msgWrapUpDraftOpen)
	case errors.Is(err, agents.ErrBadTransition):
		return apiError(http.StatusConflict, msgStateNotAllowed)
	case errors.Is(err, dispatch.ErrUnknownPauseReason):
		return tickets.FieldErrors{"reason": msg(msgPauseReasonUnknown)}
	}
	return err
}

// setAgentState changes the signed-in person's own state: POST
// /api/agent/state with {"state", "reason"}; a pause needs one of
// agents.pause_reasons, recorded in the state history.
func (s *server) setAgentState(w http.ResponseWriter, r *http.Request, sess session) {
	to, reason, err := s.readStateRequest(w, r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.panel.SetState(r.Context(), sess.AgentID, to, reason); err != nil {
		s.fail(w, r, stateConflict(err))
		return
	}
	s.showAgentState(w, r, sess)
}

// forceAgentState is a supervisor's change of an agent's state with a
// reason, written to the audit log: POST /api/agents/{id}/state. Asking
// for the state the agent is already in changes nothing and writes no row.
func (s *server) forceAgentState(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PathValue("id")
	if _, err := s.auth.Get(r.Context(), id); errors.Is(err, agents.ErrAgentNotFound) {
		s.fail(w, r, apiError(http.StatusNotFound, msgAgentNotFound))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	to, reason, err := s.readStateRequest(w, r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if st, err := s.panel.AgentState(ctx, id); err == nil && st.State == to {
		s.writeAgentState(w, r, id)
		return
	}
	from, err := s.panel.ForceState(ctx, id, to)
	if err != nil {
		s.fail(w, r, stateConflict(err))
		return
	}
	if err := s.store.AuditAgentState(ctx, sess.AgentID, sess.Role, id, string(from), string(to), reason, s.clientIP(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "agent state set by a supervisor", "supervisor", sess.AgentID, "agent", id,
		"from", from, "to", to, "request_id", requestID(ctx))
	s.writeAgentState(w, r, id)
}

func (s *server) writeAgentState(w http.ResponseWriter, r *http.Request, id string) {
	body, err := s.agentState(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// showCurrentCall returns the signed-in agent's call, for a panel that
// (re)connects: GET /api/agent/call; 204 when there is none.
func (s *server) showCurrentCall(w http.ResponseWriter, r *http.Request, sess session) {
	c, err := s.panel.CurrentCall(r.Context(), sess.AgentID)
	if errors.Is(err, agents.ErrNoCall) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// transferRequest is the body of POST /api/agent/transfer.
type transferRequest struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
}

// maxTargetBytes bounds a transfer target, as a REFER's.
const maxTargetBytes = 64

// transferCall transfers the agent's current caller (S10): POST
// /api/agent/transfer with {"kind": "category|agent|specialist",
// "target"}. 202: the node holding the call carries it out.
func (s *server) transferCall(w http.ResponseWriter, r *http.Request, sess session) {
	var in transferRequest
	if err := decodeJSON(w, r, &in, false); err != nil {
		s.fail(w, r, err)
		return
	}
	in.Target = strings.TrimSpace(in.Target)
	fields := tickets.FieldErrors{}
	switch in.Kind {
	case dispatch.PanelTransferCategory, dispatch.PanelTransferAgent, dispatch.PanelTransferSpecialist:
	default:
		fields["kind"] = msg(msgTransferKindChoose)
	}
	if in.Target == "" || len(in.Target) > maxTargetBytes {
		fields["target"] = msg(msgTransferTarget, "max", strconv.Itoa(maxTargetBytes))
	}
	if len(fields) > 0 {
		s.fail(w, r, fields)
		return
	}
	err := s.panel.Transfer(r.Context(), sess.AgentID, in.Kind, in.Target)
	switch {
	case errors.Is(err, dispatch.ErrTransferForbidden):
		err = tickets.FieldErrors{"target": msg(msgTransferNotAllowed, "kind", in.Kind)}
	case errors.Is(err, agents.ErrNoCall):
		err = apiError(http.StatusConflict, msgNotOnCall)
	case errors.Is(err, dispatch.ErrCallUnreachable):
		err = apiError(http.StatusConflict, msgCallUnreachable)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, in)
}
