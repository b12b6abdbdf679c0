package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// A ticket's history, oldest first, for whoever may see the ticket; an
// agent asking for another's gets the same 404 as for a missing one.
func TestTicketEvents(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	other := f.draft(t, "1002", time.Minute)
	agent, sup := f.login(t, "1001"), f.login(t, "2001")
	base := "/api/tickets/" + k.Ref
	if res := agent.do("POST", base+"/submit", form(), map[string]string{idempotencyHeader: "s"}); res.status != http.StatusOK {
		t.Fatalf("submit = %d %s", res.status, res.raw)
	}
	if res := agent.do("POST", base+"/notes", map[string]string{"note": "called back"}, nil); res.status != http.StatusNoContent {
		t.Fatalf("note = %d %s", res.status, res.raw)
	}
	for _, c := range []*client{agent, sup} {
		res := c.do("GET", base+"/events", nil, nil)
		if res.status != http.StatusOK {
			t.Fatalf("events = %d %s", res.status, res.raw)
		}
		var out struct {
			Events []struct {
				Kind, Actor string
				Data        map[string]any
				At          time.Time
			}
		}
		if err := json.Unmarshal([]byte(res.raw), &out); err != nil {
			t.Fatal(err)
		}
		n := len(out.Events)
		if n < 2 || out.Events[n-2].Kind != "submitted" || out.Events[n-1].Kind != "note" ||
			out.Events[n-1].Actor != "1001" || out.Events[n-1].Data["note"] != "called back" || out.Events[n-1].At.IsZero() {
			t.Fatalf("events = %s", res.raw)
		}
	}
	hidden := agent.do("GET", "/api/tickets/"+other.Ref+"/events", nil, nil)
	missing := agent.do("GET", "/api/tickets/T20000101-999999/events", nil, nil)
	if hidden.status != http.StatusNotFound || missing.status != http.StatusNotFound || hidden.raw != missing.raw {
		t.Fatalf("another's: %d %s; missing: %d %s", hidden.status, hidden.raw, missing.status, missing.raw)
	}
	if res := sup.do("GET", "/api/tickets/"+other.Ref+"/events", nil, nil); res.status != http.StatusOK {
		t.Fatalf("supervisor reads another's: %d", res.status)
	}
}
