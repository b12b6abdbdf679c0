package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// addCallbacks stores callback requests (call id → category, "" for none)
// and turns them into tickets.
func (f *fixture) addCallbacks(t *testing.T, reqs map[string]string) {
	t.Helper()
	ctx := context.Background()
	for id, cat := range reqs {
		var c any
		if cat != "" {
			c = cat
		}
		if _, err := f.pool.Exec(ctx, `INSERT INTO callback_requests (call_id, caller, category, reason, requested_at)
			VALUES ($1, '13800138000', $2, 'after_hours', now() - interval '1 hour')`, id, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.TicketCallbacks(ctx, 100); err != nil {
		t.Fatal(err)
	}
}

// callbackList decodes GET /api/callbacks: the fields the panel reads.
func callbackList(t *testing.T, c *client) []map[string]any {
	t.Helper()
	res := c.do("GET", "/api/callbacks", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /api/callbacks = %d %s", res.status, res.raw)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(res.raw), &list); err != nil {
		t.Fatalf("decode %s: %v", res.raw, err)
	}
	return list
}

// S9: an agent lists the callbacks of its categories (requests without one
// count as the default category), with exactly the panel's fields; a
// supervisor lists all; a claim is CSRF-checked, limited to the agent's
// categories and to one agent, and starts the placer.
func TestCallbacksListAndClaim(t *testing.T) {
	f := newFixture(t)
	f.addCallbacks(t, map[string]string{"cb-inquiry": "inquiry", "cb-none": "", "cb-complaint": "complaint"})
	agent, other, sup := f.login(t, "1001"), f.login(t, "1002"), f.login(t, "2001")

	list := callbackList(t, agent)
	if len(list) != 2 {
		t.Fatalf("agent 1001 (inquiry) sees %d callbacks, want 2: %v", len(list), list)
	}
	var keys []string
	for k := range list[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"attempts", "caller", "category", "claimed_by", "id", "reason", "requested_at", "status", "ticket"}
	if !slices.Equal(keys, want) {
		t.Fatalf("callback fields %v, want %v", keys, want)
	}
	if list[0]["caller"] != "13800138000" || list[0]["status"] != "pending" || list[0]["ticket"] == "" {
		t.Fatalf("callback %v", list[0])
	}
	if n := len(callbackList(t, sup)); n != 3 {
		t.Fatalf("supervisor sees %d callbacks, want 3", n)
	}

	id := func(callID string) string {
		var id string
		if err := f.pool.QueryRow(context.Background(), `SELECT id::text FROM callback_requests WHERE call_id = $1`, callID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	noCSRF := *agent
	noCSRF.csrf = ""
	cases := []struct {
		name   string
		c      *client
		path   string
		status int
	}{
		{"without the CSRF token", &noCSRF, "/api/callbacks/" + id("cb-none") + "/claim", http.StatusForbidden},
		{"not a number", agent, "/api/callbacks/12abc/claim", http.StatusBadRequest},
		{"too long", agent, "/api/callbacks/99999999999999999999999/claim", http.StatusBadRequest},
		{"another category", agent, "/api/callbacks/" + id("cb-complaint") + "/claim", http.StatusConflict},
		{"unknown", agent, "/api/callbacks/999999/claim", http.StatusConflict},
		{"claimed", agent, "/api/callbacks/" + id("cb-none") + "/claim", http.StatusOK},
		{"claimed by another", other, "/api/callbacks/" + id("cb-none") + "/claim", http.StatusConflict},
		{"again by the claimer", agent, "/api/callbacks/" + id("cb-none") + "/claim", http.StatusOK},
	}
	for _, tc := range cases {
		if res := tc.c.do("POST", tc.path, nil, nil); res.status != tc.status {
			t.Fatalf("%s: POST %s = %d %s, want %d", tc.name, tc.path, res.status, res.raw, tc.status)
		}
	}
	if got := f.claimed.Load(); got != 2 {
		t.Fatalf("placer poked %d times, want 2 (one per successful claim)", got)
	}
	list = callbackList(t, agent)
	if list[0]["claimed_by"] != "1001" {
		t.Fatalf("claimed callback not first: %v", list)
	}
}
