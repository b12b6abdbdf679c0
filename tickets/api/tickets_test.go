package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets"
)

// refs returns the refs of a list response.
func refs(t *testing.T, res response) []string {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("list = %d %s", res.status, res.raw)
	}
	list, _ := res.body["tickets"].([]any)
	out := []string{}
	for _, k := range list {
		out = append(out, k.(map[string]any)["ref"].(string))
	}
	slices.Sort(out)
	return out
}

func TestVisibility(t *testing.T) {
	f := newFixture(t)
	mine, theirs := f.draft(t, "1001", time.Minute), f.draft(t, "1002", time.Minute)
	agent, sup := f.login(t, "1001"), f.login(t, "2001")
	both := []string{mine.Ref, theirs.Ref}
	slices.Sort(both)
	lists := []struct {
		name string
		c    *client
		path string
		want []string
	}{
		{"agent lists own only", agent, "/api/tickets", []string{mine.Ref}},
		{"agent cannot widen owner", agent, "/api/tickets?owner=1002", []string{mine.Ref}},
		{"supervisor lists all", sup, "/api/tickets", both},
		{"supervisor filters by owner", sup, "/api/tickets?owner=1002", []string{theirs.Ref}},
		{"filter by status", sup, "/api/tickets?status=open", []string{}},
		{"filter by caller", sup, "/api/tickets?caller=13800138000&limit=1", []string{theirs.Ref}},
	}
	for _, tc := range lists {
		t.Run(tc.name, func(t *testing.T) {
			if got := refs(t, tc.c.do("GET", tc.path, nil, nil)); !slices.Equal(got, tc.want) {
				t.Fatalf("refs = %v, want %v", got, tc.want)
			}
		})
	}
	gets := []struct {
		name string
		c    *client
		ref  string
		want int
	}{
		{"agent gets own", agent, mine.Ref, http.StatusOK},
		{"agent gets another's", agent, theirs.Ref, http.StatusNotFound},
		{"agent gets a missing one", agent, "T20000101-999999", http.StatusNotFound},
		{"supervisor gets any", sup, theirs.Ref, http.StatusOK},
	}
	bodies := map[int]string{}
	for _, tc := range gets {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.c.do("GET", "/api/tickets/"+tc.ref, nil, nil)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			if tc.want == http.StatusOK && res.body["ref"] != tc.ref {
				t.Fatalf("body = %s", res.raw)
			}
			if prev, ok := bodies[res.status]; ok && tc.want == http.StatusNotFound && prev != res.raw {
				t.Fatalf("another's ticket answers %s, a missing one %s: existence leaks", prev, res.raw)
			}
			bodies[res.status] = res.raw
		})
	}
	t.Run("agent cannot change another's", func(t *testing.T) {
		res := agent.do("POST", "/api/tickets/"+theirs.Ref+"/notes", map[string]string{"note": "peek"}, nil)
		if res.status != http.StatusNotFound {
			t.Fatalf("note on another's = %d, want 404", res.status)
		}
	})
}

func TestSubmit(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	c := f.login(t, "1001")
	path := "/api/tickets/" + k.Ref + "/submit"
	key := map[string]string{idempotencyHeader: "submit-1"}

	if res := c.do("POST", path, form(), nil); res.status != http.StatusBadRequest ||
		!strings.Contains(res.body["error"].(string), idempotencyHeader) {
		t.Fatalf("without key = %d %s, want 400 naming the header", res.status, res.raw)
	}
	res := c.do("POST", path, tickets.SubmitInput{OnBehalf: true, Category: "weather", IDNumber: "123"},
		map[string]string{idempotencyHeader: "bad-form"})
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("empty form = %d %s, want 422", res.status, res.raw)
	}
	for _, field := range []string{"caller_name", "relation", "callback_phone", "description", "category", "result", "id_type"} {
		if msg, _ := res.fields()[field].(string); msg == "" {
			t.Errorf("no message for field %s in %s", field, res.raw)
		}
	}

	first := c.do("POST", path, form(), key)
	if first.status != http.StatusOK || first.body["status"] != "open" || first.body["late"] != false {
		t.Fatalf("submit = %d %s, want 200 open not late", first.status, first.raw)
	}
	if strings.Contains(first.raw, validResidentID) || first.body["id_masked"] != "**************002X" {
		t.Fatalf("ticket JSON shows the ID number in clear or not masked: %s", first.raw)
	}
	again := c.do("POST", path, form(), key)
	if again.status != http.StatusOK || again.raw != first.raw {
		t.Fatalf("retry = %d %s, want the first response %s", again.status, again.raw, first.raw)
	}
	if n := f.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'submitted' AND ticket_id = $1`, k.ID); n != 1 {
		t.Fatalf("submitted events = %d, want 1", n)
	}
	if res := c.do("POST", path, form(), map[string]string{idempotencyHeader: "submit-2"}); res.status != http.StatusConflict {
		t.Fatalf("second submission with a new key = %d %s, want 409", res.status, res.raw)
	}
}

func TestCreateWebTicket(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "1002")
	in := createTicketRequest{Channel: tickets.ChannelWeb, SubmitInput: form()}
	key := map[string]string{idempotencyHeader: "web-1"}
	res := c.do("POST", "/api/tickets", in, key)
	if res.status != http.StatusCreated || res.body["channel"] != "web" || res.body["owner_agent"] != "1002" {
		t.Fatalf("create = %d %s", res.status, res.raw)
	}
	if loc := res.header.Get("Location"); loc != "/api/tickets/"+res.body["ref"].(string) {
		t.Fatalf("Location = %q", loc)
	}
	if again := c.do("POST", "/api/tickets", in, key); again.raw != res.raw {
		t.Fatalf("retry created another ticket: %s", again.raw)
	}
	in.Channel = "phone"
	if res := c.do("POST", "/api/tickets", in, map[string]string{idempotencyHeader: "web-2"}); res.status != http.StatusUnprocessableEntity || res.fields()["channel"] == nil {
		t.Fatalf("phone channel = %d %s, want 422 on channel", res.status, res.raw)
	}
	found := refs(t, c.do("GET", "/api/tickets?id_number="+strings.ToLower(validResidentID), nil, nil))
	if len(found) != 1 {
		t.Fatalf("search by ID number = %v, want the web ticket", found)
	}
	if res := c.do("GET", "/api/tickets?id_number=123", nil, nil); res.status != http.StatusUnprocessableEntity || res.fields()["id_number"] == nil {
		t.Fatalf("bad ID number search = %d %s, want 422", res.status, res.raw)
	}
}

func TestWorkflow(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	agent, sup := f.login(t, "1001"), f.login(t, "2001")
	base := "/api/tickets/" + k.Ref
	in := form()
	in.Category, in.Result = configs.CategoryReport, tickets.ResultDispatched
	if res := agent.do("POST", base+"/submit", in, map[string]string{idempotencyHeader: "s"}); res.status != http.StatusOK {
		t.Fatalf("submit = %d %s", res.status, res.raw)
	}
	due, _ := time.Parse(time.RFC3339, f.get(t, sup, k.Ref)["due_at"].(string))
	steps := []struct {
		name string
		c    *client
		path string
		body any
		want int
		// field, when set, is the form field the 422 names.
		field string
	}{
		{"status without a value", agent, "/status", map[string]string{"note": "x"}, http.StatusUnprocessableEntity, "status"},
		{"status skipping a step", agent, "/status", map[string]string{"status": "closed"}, http.StatusConflict, ""},
		{"status in progress", agent, "/status", map[string]string{"status": "in_progress", "note": "on it"}, http.StatusOK, ""},
		{"empty note", agent, "/notes", map[string]string{"note": " "}, http.StatusUnprocessableEntity, "note"},
		{"note", agent, "/notes", map[string]string{"note": "called the caller back"}, http.StatusNoContent, ""},
		{"extend by an agent", agent, "/extend", map[string]any{"due_at": due.Add(time.Hour), "reason": "waiting for parts"}, http.StatusForbidden, ""},
		{"extend without reason", sup, "/extend", map[string]any{"due_at": due.Add(time.Hour)}, http.StatusUnprocessableEntity, "reason"},
		{"extend with a bad time", sup, "/extend", map[string]any{"due_at": "tomorrow", "reason": "x"}, http.StatusBadRequest, ""},
		{"extend", sup, "/extend", map[string]any{"due_at": due.Add(time.Hour), "reason": "waiting for parts"}, http.StatusOK, ""},
		{"hand off to nobody", agent, "/handoff", map[string]string{"to_agent": "7777"}, http.StatusUnprocessableEntity, "to_agent"},
		{"hand off", agent, "/handoff", map[string]string{"to_agent": "1002"}, http.StatusOK, ""},
		{"former owner loses it", agent, "/notes", map[string]string{"note": "x"}, http.StatusNotFound, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := st.c.do("POST", base+st.path, st.body, nil)
			if res.status != st.want {
				t.Fatalf("status %d, want %d: %s", res.status, st.want, res.raw)
			}
			if st.field != "" && res.fields()[st.field] == nil {
				t.Fatalf("no message for field %s: %s", st.field, res.raw)
			}
		})
	}
	got := f.get(t, sup, k.Ref)
	if got["owner_agent"] != "1002" || got["status"] != "in_progress" || !strings.HasPrefix(got["due_at"].(string), due.Add(time.Hour).Format("2006-01-02T15")) {
		t.Fatalf("ticket after the workflow = %v", got)
	}
}

// get reads a ticket as c.
func (f *fixture) get(t *testing.T, c *client, ref string) map[string]any {
	t.Helper()
	res := c.do("GET", "/api/tickets/"+ref, nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("get %s = %d %s", ref, res.status, res.raw)
	}
	return res.body
}
