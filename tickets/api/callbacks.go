package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets"
)

// Callbacks is the ticket store's part for the callback list (S9);
// *tickets.Store satisfies it.
type Callbacks interface {
	ListCallbacks(ctx context.Context, categories []string, defaultCategory string) ([]tickets.Callback, error)
	ClaimCallback(ctx context.Context, id int64, agent string, categories []string, defaultCategory string) (tickets.Callback, error)
}

// callbacksOff answers the callback routes of an API built without them.
var callbacksOff = apiError(http.StatusNotFound, msgCallbacksOff)

// categoriesOf are the queues whose callbacks the session's person sees:
// an agent its own, a supervisor every one.
func (s *server) categoriesOf(ctx context.Context, sess session) ([]string, error) {
	if sess.supervisor() {
		return configs.QueueCategories(), nil
	}
	a, err := s.auth.Get(ctx, sess.AgentID)
	if err != nil {
		return nil, err
	}
	return a.Categories, nil
}

// listCallbacks shows the pending callback requests of the agent's
// categories, claimed and oldest first: GET /api/callbacks. The agent sees
// the number it will call.
func (s *server) listCallbacks(w http.ResponseWriter, r *http.Request, sess session) {
	if s.callbacks == nil {
		s.fail(w, r, callbacksOff)
		return
	}
	cats, err := s.categoriesOf(r.Context(), sess)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.callbacks.ListCallbacks(r.Context(), cats, s.callbackCategory)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []tickets.Callback{}
	}
	writeJSON(w, http.StatusOK, list)
}

// pathID reads raw, a path's {id}, as a positive number; otherwise it is a
// 400 with code (the id quoted, truncated: it is the client's input).
func pathID(raw, code string) (int64, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if len(raw) > 19 || err != nil || id <= 0 {
		return 0, badRequest(code, "id", strconv.Quote(truncate(raw, 24)))
	}
	return id, nil
}

// claimCallback makes the agent the one the next attempt at the request
// rings: POST /api/callbacks/{id}/claim. The placer takes claimed requests
// first and rings the claiming agent as soon as it is available.
func (s *server) claimCallback(w http.ResponseWriter, r *http.Request, sess session) {
	if s.callbacks == nil {
		s.fail(w, r, callbacksOff)
		return
	}
	raw := r.PathValue("id")
	id, err := pathID(raw, msgCallbackID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.auth.Get(r.Context(), sess.AgentID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.callbacks.ClaimCallback(r.Context(), id, sess.AgentID, a.Categories, s.callbackCategory)
	if errors.Is(err, tickets.ErrNoCallback) {
		s.fail(w, r, apiError(http.StatusConflict, msgCallbackTaken, "id", raw))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.claimed != nil {
		s.claimed()
	}
	writeJSON(w, http.StatusOK, c)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
