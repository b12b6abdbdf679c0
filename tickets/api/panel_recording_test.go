package api

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// get sends a GET with headers and returns status, headers and raw body.
func (c *client) get(path string, headers map[string]string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}

// S19 and S5: a ticket's recording is served with range requests to its
// owner and supervisors only, from the path the database holds inside the
// recordings folder; each playback (not each chunk) leaves an audit row.
func TestRecordingPlayback(t *testing.T) {
	p := newPanelFixture(t)
	owner, other, sup := p.login(t, "1001"), p.login(t, "1002"), p.login(t, "2001")
	wav := bytes.Repeat([]byte("RIFF-wav-"), 100) // 900 bytes
	path := filepath.Join(p.recDir, "20261207", "call.wav")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.wav")
	if err := os.WriteFile(outside, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(p.recDir, "link.wav") // inside by name, outside in fact
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	k := p.draft(t, "1001", time.Minute)
	setPath := func(ref, path string) {
		t.Helper()
		if _, err := p.pool.Exec(t.Context(), `UPDATE tickets SET recording_path = $2 WHERE ref = $1`, ref, path); err != nil {
			t.Fatal(err)
		}
	}
	setPath(k.Ref, path)
	bare := p.draft(t, "1001", time.Minute) // not recorded
	escaped := p.draft(t, "1001", time.Minute)
	setPath(escaped.Ref, outside)
	linked := p.draft(t, "1001", time.Minute)
	setPath(linked.Ref, link)
	gone := p.draft(t, "1001", time.Minute)
	setPath(gone.Ref, filepath.Join(p.recDir, "gone.wav"))

	tests := []struct {
		name       string
		c          *client
		ref        string
		rangeHdr   string
		want       int
		wantBody   []byte
		wantAction string // audit row written, "" for none
	}{
		{"owner plays it all", owner, k.Ref, "", http.StatusOK, wav, "play_recording"},
		{"the player's first range", owner, k.Ref, "bytes=0-99", http.StatusPartialContent, wav[:100], "play_recording"},
		{"a later chunk is not a new playback", owner, k.Ref, "bytes=100-199", http.StatusPartialContent, wav[100:200], ""},
		{"an open-ended later chunk", owner, k.Ref, "bytes=800-", http.StatusPartialContent, wav[800:], ""},
		{"supervisor", sup, k.Ref, "bytes=0-", http.StatusPartialContent, wav, "play_recording"},
		{"another agent", other, k.Ref, "", http.StatusForbidden, nil, "play_recording_denied"},
		{"another agent asking a chunk", other, k.Ref, "bytes=100-199", http.StatusForbidden, nil, "play_recording_denied"},
		{"no recording", owner, bare.Ref, "", http.StatusNotFound, nil, ""},
		{"no such ticket", owner, "T20000101-999999", "", http.StatusNotFound, nil, ""},
		{"a path outside the folder", owner, escaped.Ref, "", http.StatusForbidden, nil, ""},
		{"a link out of the folder", owner, linked.Ref, "", http.StatusForbidden, nil, ""},
		{"a missing file", owner, gone.Ref, "", http.StatusNotFound, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.count(t, `SELECT count(*) FROM audit_log`)
			h := map[string]string{}
			if tc.rangeHdr != "" {
				h["Range"] = tc.rangeHdr
			}
			status, hdr, body := tc.c.get("/api/tickets/"+tc.ref+"/recording", h)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if tc.wantBody != nil {
				if !bytes.Equal(body, tc.wantBody) || hdr.Get("Content-Type") != "audio/wav" || hdr.Get("Accept-Ranges") != "bytes" {
					t.Fatalf("body %d bytes (%s), headers %v", len(body), hdr.Get("Content-Type"), hdr)
				}
				if status == http.StatusPartialContent && hdr.Get("Content-Range") == "" {
					t.Fatalf("206 without Content-Range: %v", hdr)
				}
			}
			after := p.count(t, `SELECT count(*) FROM audit_log`)
			if tc.wantAction == "" {
				if after != before {
					t.Fatalf("audit rows %d → %d, want none", before, after)
				}
				return
			}
			var action, actor string
			if err := p.pool.QueryRow(t.Context(), `SELECT action, actor FROM audit_log ORDER BY id DESC LIMIT 1`).
				Scan(&action, &actor); err != nil || after != before+1 || action != tc.wantAction {
				t.Fatalf("audit rows %d → %d, last %s by %s (%v), want one %s", before, after, action, actor, err, tc.wantAction)
			}
		})
	}
	if s := p.logs.String(); bytes.Contains([]byte(s), []byte(outside)) || bytes.Contains([]byte(s), []byte("13800138000")) {
		t.Fatalf("the logs name a path or a caller number:\n%s", s)
	}
}

func TestPlaybackStart(t *testing.T) {
	for h, want := range map[string]bool{
		"": true, "bytes=0-": true, "bytes=0-99": true, " bytes=0-1,5-9": true, "items=3-4": true,
		"bytes=1-": false, "bytes=100-199": false, "bytes=-500": false, "bytes=5-9,0-1": false,
	} {
		if got := playbackStart(h); got != want {
			t.Errorf("playbackStart(%q) = %v, want %v", h, got, want)
		}
	}
}
