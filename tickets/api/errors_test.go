package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	c := f.login(t, "1001")
	path := "/api/tickets/" + k.Ref + "/notes"
	tests := []struct {
		name, body string
		want       int
		wantInMsg  string
	}{
		{"unknown field", `{"note":"x","colour":"red"}`, http.StatusBadRequest, `"colour"`},
		{"not JSON", `note=x`, http.StatusBadRequest, "not valid JSON"},
		{"wrong type", `{"note":42}`, http.StatusBadRequest, `"note"`},
		{"two objects", `{"note":"x"}{"note":"y"}`, http.StatusBadRequest, "single JSON object"},
		{"empty", ``, http.StatusBadRequest, "empty"},
		{"too large", `{"note":"` + strings.Repeat("a", maxBodyBytes) + `"}`, http.StatusBadRequest, "64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := c.do("POST", path, tc.body, nil)
			msg, _ := res.body["error"].(string)
			if res.status != tc.want || !strings.Contains(msg, tc.wantInMsg) {
				t.Fatalf("= %d %s, want %d mentioning %s", res.status, res.raw, tc.want, tc.wantInMsg)
			}
		})
	}
	t.Run("unknown route", func(t *testing.T) {
		res := c.do("GET", "/api/nothing", nil, nil)
		if res.status != http.StatusNotFound || res.body["error"] == nil {
			t.Fatalf("= %d %s, want a JSON 404", res.status, res.raw)
		}
	})
}

// TestInternalErrorShape breaks the database under the API: the client sees
// only "internal error", the log holds the real error with the request id.
func TestInternalErrorShape(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "2001")
	if _, err := f.pool.Exec(t.Context(), `ALTER TABLE tickets RENAME TO tickets_gone`); err != nil {
		t.Fatalf("break the table: %v", err)
	}
	res := c.do("GET", "/api/tickets?status=open", nil, nil)
	if res.status != http.StatusInternalServerError || strings.TrimSpace(res.raw) != `{"error":"internal error","code":"internal"}` {
		t.Fatalf("= %d %s, want 500 {\"error\":\"internal error\",\"code\":\"internal\"}", res.status, res.raw)
	}
	for _, leak := range []string{"SELECT", "tickets", "relation", "SQLSTATE", "goroutine"} {
		if strings.Contains(res.raw, leak) {
			t.Fatalf("response leaks %q: %s", leak, res.raw)
		}
	}
	id := res.header.Get("X-Request-Id")
	logs := f.logs.String()
	if id == "" || !strings.Contains(logs, "request_id="+id) || !strings.Contains(logs, "42P01") {
		t.Fatalf("request id %q and the database error not in the log:\n%s", id, logs)
	}
}

// TestNuisance covers S21 through the API: an agent's flag is a report that
// blocks nothing; a supervisor flags (deciding the report), clears and
// dismisses; the number is normalised; every step is audited.
func TestNuisance(t *testing.T) {
	f := newFixture(t)
	sup, agent := f.login(t, "2001"), f.login(t, "1001")
	steps := []struct {
		name, method, path string
		c                  *client
		body               any
		want               int
		field              string
	}{
		{"an agent's flag is a report", "POST", "/api/nuisance", agent, map[string]string{"number": "13900000000", "reason": "abusive calls"}, http.StatusAccepted, ""},
		{"a report without reason", "POST", "/api/nuisance", agent, map[string]string{"number": "13900000009"}, http.StatusUnprocessableEntity, "reason"},
		{"an agent may not list reports", "GET", "/api/nuisance/reports", agent, nil, http.StatusForbidden, ""},
		{"flag without reason", "POST", "/api/nuisance", sup, map[string]string{"number": "13900000000"}, http.StatusUnprocessableEntity, "reason"},
		{"flag a non-number", "POST", "/api/nuisance", sup, map[string]string{"number": "anonymous", "reason": "x"}, http.StatusUnprocessableEntity, "number"},
		{"flag", "POST", "/api/nuisance", sup, map[string]string{"number": "+86 139-0000-0000", "reason": "abusive calls"}, http.StatusNoContent, ""},
		{"agent may not clear", "DELETE", "/api/nuisance/13900000000", agent, map[string]string{"reason": "apologised"}, http.StatusForbidden, ""},
		{"clear without reason", "DELETE", "/api/nuisance/13900000000", sup, nil, http.StatusUnprocessableEntity, "reason"},
		{"clear", "DELETE", "/api/nuisance/008613900000000", sup, map[string]string{"reason": "apologised"}, http.StatusNoContent, ""},
		{"clear again", "DELETE", "/api/nuisance/13900000000", sup, map[string]string{"reason": "again"}, http.StatusNotFound, ""},
	}
	run := func(st struct {
		name, method, path string
		c                  *client
		body               any
		want               int
		field              string
	}) response {
		t.Helper()
		res := st.c.do(st.method, st.path, st.body, nil)
		if res.status != st.want {
			t.Fatalf("%s: status %d, want %d: %s", st.name, res.status, st.want, res.raw)
		}
		if st.want == http.StatusForbidden && !strings.Contains(res.raw, "for supervisors") {
			t.Fatalf("%s: refusal %s does not say who may", st.name, res.raw)
		}
		if st.field != "" && res.fields()[st.field] == nil {
			t.Fatalf("%s: no message for field %s: %s", st.name, st.field, res.raw)
		}
		return res
	}
	for i, st := range steps {
		res := run(st)
		if i == 0 {
			if res.body["status"] != "reported" {
				t.Fatalf("agent's report = %s, want status reported", res.raw)
			}
			if blocked, err := f.store.IsNuisance(t.Context(), "13900000000"); err != nil || blocked {
				t.Fatalf("an agent's report blocked the number (%v, %v)", blocked, err)
			}
			list := sup.do("GET", "/api/nuisance/reports", nil, nil)
			var reports []map[string]any
			if err := json.Unmarshal([]byte(list.raw), &reports); err != nil || list.status != http.StatusOK || len(reports) != 1 ||
				reports[0]["number"] != "13900000000" || reports[0]["reported_by"] != "1001" {
				t.Fatalf("open reports = %d %s (%v)", list.status, list.raw, err)
			}
		}
	}
	if got := f.count(t, `SELECT count(*) FROM nuisance_reports WHERE decision = 'flagged' AND decided_by = '2001'`); got != 1 {
		t.Fatalf("reports the supervisor's flag decided = %d, want 1", got)
	}
	// A report the supervisor dismisses: bad id, no reason, dismissed, gone.
	run(steps[0])
	var id int64
	if err := f.pool.QueryRow(t.Context(), `SELECT id FROM nuisance_reports WHERE decided_at IS NULL`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/nuisance/reports/%d/dismiss", id)
	for _, st := range []struct {
		name, method, path string
		c                  *client
		body               any
		want               int
		field              string
	}{
		{"an agent may not dismiss", "POST", path, agent, map[string]string{"reason": "mine"}, http.StatusForbidden, ""},
		{"a bad report id", "POST", "/api/nuisance/reports/x1/dismiss", sup, map[string]string{"reason": "r"}, http.StatusBadRequest, ""},
		{"dismiss without reason", "POST", path, sup, map[string]string{"reason": ""}, http.StatusUnprocessableEntity, "reason"},
		{"dismiss", "POST", path, sup, map[string]string{"reason": "a wrong number"}, http.StatusNoContent, ""},
		{"dismiss again", "POST", path, sup, map[string]string{"reason": "again"}, http.StatusConflict, ""},
	} {
		run(st)
	}
	if blocked, _ := f.store.IsNuisance(t.Context(), "13900000000"); blocked {
		t.Fatal("a dismissed report blocked the number")
	}
	if got := f.count(t, `SELECT count(*) FROM nuisance_events WHERE number = '13900000000' AND actor = '2001'`); got != 3 {
		t.Fatalf("supervisor's audit rows = %d, want 3 (flagged, cleared, dismissed)", got)
	}
	if got := f.count(t, `SELECT count(*) FROM nuisance_events WHERE actor = '1001' AND action = 'reported'`); got != 2 {
		t.Fatalf("agent's audit rows = %d, want 2 reports", got)
	}
	if flagged, err := f.store.IsNuisance(t.Context(), "13900000000"); err != nil || flagged {
		t.Fatalf("still flagged = %v (%v)", flagged, err)
	}
}

// TestErrorCodes: an error answer carries a stable code beside its English
// text, and a form's answer the code of each field to correct (S13), with
// the code's arguments: the panel renders them in the user's language.
func TestErrorCodes(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	c := f.login(t, "1001")
	res := c.do("POST", "/api/tickets/"+k.Ref+"/submit", map[string]any{"on_behalf": true, "callback_phone": "12"},
		map[string]string{idempotencyHeader: "codes-1"})
	if res.status != http.StatusUnprocessableEntity || res.body["code"] != "fields_invalid" {
		t.Fatalf("empty form = %d %s", res.status, res.raw)
	}
	for field, code := range map[string]string{
		"caller_name": "form.caller_name.required", "relation": "form.relation.required",
		"callback_phone": "form.callback_phone.invalid", "description": "form.description.required",
		"category": "form.category.choose", "result": "form.result.choose",
	} {
		if got := res.fieldCode(field); got != code {
			t.Errorf("field %s: code %q, want %q: %s", field, got, code, res.raw)
		}
	}
	fc := res.body["field_codes"].(map[string]any)
	args, _ := fc["callback_phone"].(map[string]any)["args"].(map[string]any)
	if args["min"] != "5" || args["max"] != "20" || res.fields()["callback_phone"] != "enter a callback phone number of 5 to 20 digits" {
		t.Errorf("callback_phone: args %v, text %q", args, res.fields()["callback_phone"])
	}
	in := map[string]any{"caller_name": "Wang Fang", "callback_phone": "13800138000", "description": "x",
		"category": "business", "result": "answered", "id_type": "resident", "id_number": "110105194912310021"}
	if res := c.do("POST", "/api/tickets/"+k.Ref+"/submit", in, map[string]string{idempotencyHeader: "codes-2"}); res.fieldCode("id_number") != "id.check_char" {
		t.Errorf("bad check character: %s", res.raw)
	}
	in["channel"] = "phone"
	if res := c.do("POST", "/api/tickets", in, map[string]string{idempotencyHeader: "codes-3"}); res.fieldCode("channel") != "form.channel.choose" {
		t.Errorf("web ticket by phone: %s", res.raw)
	}
	if res := c.do("POST", "/api/tickets/"+k.Ref+"/unmask", map[string]string{"reason": "x"}, nil); res.fieldCode("reason") != "unmask.reason.required" {
		t.Errorf("unmask without reason: %s", res.raw)
	}
	if res := c.do("POST", "/api/tickets/"+k.Ref+"/submit", in, map[string]string{idempotencyHeader: "codes-4"}); res.status != http.StatusBadRequest || res.body["code"] != "body.unknown_field" {
		t.Errorf("unknown field: %s", res.raw)
	}
	if res := c.do("POST", "/api/tickets/"+k.Ref+"/notes", map[string]string{"note": " "}, nil); res.fieldCode("note") != "note.required" {
		t.Errorf("empty note: %s", res.raw)
	}
	sup := f.login(t, "2001")
	if res := sup.do("POST", "/api/tickets/"+k.Ref+"/extend", map[string]string{"due_at": "2030-01-01T00:00:00Z"}, nil); res.fieldCode("reason") != "extend.reason.required" {
		t.Errorf("extend without reason: %s", res.raw)
	}
	if res := sup.do("POST", "/api/nuisance", map[string]string{"number": "anonymous"}, nil); res.fieldCode("number") != "nuisance.number.invalid" ||
		res.fieldCode("reason") != "nuisance.reason.required" {
		t.Errorf("nuisance: %s", res.raw)
	}
	if res := c.do("DELETE", "/api/nuisance/13900000000", map[string]string{"reason": "x"}, nil); res.body["code"] != "nuisance.forbidden" {
		t.Errorf("nuisance cleared by an agent: %s", res.raw)
	}
	if res := sup.do("POST", "/api/nuisance/reports/0/dismiss", map[string]string{"reason": "x"}, nil); res.body["code"] != "nuisance_report.bad_id" {
		t.Errorf("nuisance report id 0: %s", res.raw)
	}
	if res := sup.do("POST", "/api/nuisance/reports/99999/dismiss", map[string]string{"reason": "x"}, nil); res.status != http.StatusConflict ||
		res.body["code"] != "nuisance_report.gone" {
		t.Errorf("no such open nuisance report: %s", res.raw)
	}
	if res := f.newClient(t).do("POST", "/api/login", map[string]string{"agent_id": "1001", "password": "wrong"}, nil); res.status != http.StatusUnauthorized ||
		res.body["code"] != "login.wrong" || res.body["error"] != "wrong agent id or password" {
		t.Errorf("wrong password: %d %s", res.status, res.raw)
	}
	if res := c.do("GET", "/api/nothing", nil, nil); res.body["code"] != "route.unknown" || res.body["args"].(map[string]any)["path"] != "/api/nothing" {
		t.Errorf("unknown route: %s", res.raw)
	}
}
