package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotline-dev/hotline/tickets"
)

// noRecording answers a ticket whose call was not recorded.
var noRecording = apiError(http.StatusNotFound, msgRecordingNone)

// playRecording serves a ticket's call recording as audio/wav with range
// requests (206, Accept-Ranges, Content-Range), to the ticket's owner and
// supervisors only: GET /api/tickets/{ref}/recording (S19). The path comes
// from the database and must lie in the recordings folder. Every playback
// leaves an audit row, as an unmask does (S5); a refusal too.
func (s *server) playRecording(w http.ResponseWriter, r *http.Request, sess session) {
	ctx := r.Context()
	p, err := s.store.RecordingOf(ctx, r.PathValue("ref"))
	switch {
	case errors.Is(err, tickets.ErrNotFound):
		s.fail(w, r, ticketNotFound)
		return
	case err != nil && !errors.Is(err, tickets.ErrNoRecording):
		s.fail(w, r, err)
		return
	}
	audit := tickets.UnmaskRequest{Actor: sess.AgentID, Role: sess.Role, TicketID: p.TicketID,
		OwnerAgent: p.Owner, ClientIP: s.clientIP(r)}
	if !sess.supervisor() && p.Owner != sess.AgentID {
		if aerr := s.store.AuditPlayback(ctx, audit, true); aerr != nil {
			s.fail(w, r, aerr)
			return
		}
		s.fail(w, r, apiError(http.StatusForbidden, msgRecordingForbidden))
		return
	}
	if err != nil {
		s.fail(w, r, noRecording)
		return
	}
	f, err := s.openRecording(p.Path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		s.fail(w, r, fmt.Errorf("stat recording: %w", err))
		return
	}
	// A player fetches one playback in several range requests (the start,
	// then the chunks it seeks or buffers to); one row per chunk would
	// bury the log. A playback starts at byte 0 or without a Range header,
	// so only that request is audited; a request for a later range cannot
	// play the call from its start, and any request to this route still
	// has to pass the owner check above.
	if r.Method == http.MethodGet && playbackStart(r.Header.Get("Range")) {
		if err := s.store.AuditPlayback(ctx, audit, false); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.InfoContext(ctx, "recording played", "agent", sess.AgentID, "ref", r.PathValue("ref"),
			"request_id", requestID(ctx))
	}
	w.Header().Set("Content-Type", "audio/wav")
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// playbackStart reports whether a Range header starts a playback: none at
// all, or a first range from byte 0.
func playbackStart(h string) bool {
	h = strings.TrimSpace(h)
	if h == "" {
		return true
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return true // not a byte range: ServeContent sends the whole file
	}
	first, _, _ := strings.Cut(spec, ",")
	return strings.HasPrefix(strings.TrimSpace(first), "0-")
}

// openRecording opens a recording whose path, symbolic links resolved,
// lies in the recordings folder; anything else is refused and logged.
func (s *server) openRecording(path string) (*os.File, error) {
	if s.recDir == "" {
		return nil, apiError(http.StatusNotFound, msgRecordingOff)
	}
	root, err := absReal(s.recDir)
	if err != nil {
		return nil, fmt.Errorf("recordings folder: %w", err)
	}
	resolved, err := absReal(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, apiError(http.StatusNotFound, msgRecordingMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("recording path: %w", err)
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		s.log.Error("recording outside the recordings folder refused", "folder", root)
		return nil, apiError(http.StatusForbidden, msgRecordingOutside)
	}
	f, err := os.Open(resolved)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, apiError(http.StatusNotFound, msgRecordingMissing)
	}
	return f, nil
}

// absReal is path absolute with its symbolic links resolved.
func absReal(path string) (string, error) {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}
