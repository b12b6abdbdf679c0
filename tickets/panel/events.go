package panel

import (
	"errors"
	"net/http"
	"time"
)

// Timings of the event stream.
const (
	// heartbeat is sent as an SSE comment so proxies keep the stream open.
	heartbeat = 15 * time.Second
	// recheck is how often the session is checked again: a sign-out, an
	// expiry or a disabled account ends the stream.
	recheck = 30 * time.Second
	// writeWait bounds one write to the browser.
	writeWait = 10 * time.Second
)

// streamEvents is the live updates of a panel by Server-Sent Events: GET
// /panel/events. An agent receives their own agent's events, a supervisor
// every event and the wall hints. On (re)connect the page reloads the
// current state by the JSON API, so the stream carries changes only.
func (h *Handler) streamEvents(w http.ResponseWriter, r *http.Request) {
	who, ok, answered := h.principal(w, r)
	if answered {
		return
	}
	if !ok {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	c, err := h.hub.join(who)
	if errors.Is(err, ErrTooManyPanels) {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many open panels", http.StatusServiceUnavailable)
		return
	}
	defer h.hub.leave(c)
	rc := http.NewResponseController(w)
	// The server's read timeout would end a stream that outlives it (the
	// connection's background read fails and cancels the request).
	_ = rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if !h.write(rc, w, []byte("retry: 2000\n: hello\n\n")) {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	check := time.NewTicker(recheck)
	defer check.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.gone:
			return // too slow: the browser reconnects and reloads its state
		case m := <-c.ch:
			if !h.write(rc, w, m.frame) {
				return
			}
			if m.at > 0 {
				h.hub.metrics.delay.Observe(time.Since(time.UnixMilli(m.at)).Seconds())
			}
		case <-beat.C:
			if !h.write(rc, w, []byte(": hb\n\n")) {
				return
			}
		case <-check.C:
			if now, ok, err := h.auth.Authenticate(r); err == nil && (!ok || now != who) {
				return
			}
		}
	}
}

// write sends b and flushes it within writeWait; false ends the stream.
func (h *Handler) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}
