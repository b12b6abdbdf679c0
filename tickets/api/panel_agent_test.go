package api

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

func TestAgentStateRoutes(t *testing.T) {
	p := newPanelFixture(t)
	agent, sup := p.login(t, "1001"), p.login(t, "2001")

	res := agent.do("GET", "/api/agent/state", nil, nil)
	if res.status != http.StatusOK || res.body["state"] != "offline" || res.body["agent"] != "1001" ||
		res.body["name"] != "Li Na" || res.body["role"] != "agent" || res.body["wrap_up_until_submitted"] != true {
		t.Fatalf("state of an agent never logged in = %d %s", res.status, res.raw)
	}
	if got := res.body["pause_reasons"].([]any); len(got) != 4 || got[1] != "meal" {
		t.Fatalf("pause_reasons = %v", got)
	}
	if res := sup.do("GET", "/api/agent/state", nil, nil); res.body["role"] != "supervisor" {
		t.Fatalf("supervisor's own state = %s", res.raw)
	}

	steps := []struct {
		name       string
		body       any
		headers    map[string]string
		noCSRF     bool
		want       int
		wantState  string
		wantReason string
		wantField  string
	}{
		{"log in", map[string]string{"state": "available"}, nil, false, http.StatusOK, "available", "", ""},
		{"without the CSRF token", map[string]string{"state": "paused", "reason": "meal"}, nil, true, http.StatusForbidden, "", "", ""},
		{"unknown pause reason", map[string]string{"state": "paused", "reason": "nap"}, nil, false, http.StatusUnprocessableEntity, "", "", "reason"},
		{"pause without a reason", map[string]string{"state": "paused"}, nil, false, http.StatusUnprocessableEntity, "", "", "reason"},
		{"unknown state", map[string]string{"state": "on_call"}, nil, false, http.StatusUnprocessableEntity, "", "", "state"},
		{"unknown field", map[string]string{"state": "paused", "why": "x"}, nil, false, http.StatusBadRequest, "", "", ""},
		{"pause for a meal", map[string]string{"state": "paused", "reason": "meal"}, nil, false, http.StatusOK, "paused", "meal", ""},
		{"change the reason", map[string]string{"state": "paused", "reason": "training"}, nil, false, http.StatusOK, "paused", "training", ""},
		{"resume", map[string]string{"state": "available"}, nil, false, http.StatusOK, "available", "", ""},
		{"available again", map[string]string{"state": "available"}, nil, false, http.StatusConflict, "", "", ""},
		{"log out", map[string]string{"state": "offline"}, nil, false, http.StatusOK, "offline", "", ""},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			c := agent
			if tc.noCSRF {
				c = &client{t: t, base: agent.base, http: agent.http}
			}
			res := c.do("POST", "/api/agent/state", tc.body, tc.headers)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			if tc.wantField != "" && res.fields()[tc.wantField] == nil {
				t.Fatalf("422 without field %s: %s", tc.wantField, res.raw)
			}
			if tc.wantState != "" && (res.body["state"] != tc.wantState || res.body["reason"] != tc.wantReason ||
				res.body["since"] == "") {
				t.Fatalf("body = %s, want state %s reason %q", res.raw, tc.wantState, tc.wantReason)
			}
		})
	}
	// The pause reason reaches the state history (S12 audit of states).
	poll.Until(t, "the meal pause in agent_state_history", func() bool {
		return p.count(t, `SELECT count(*) FROM agent_state_history WHERE agent_id = '1001' AND state = 'paused' AND reason = 'meal'`) == 1
	})
	// The ACD is the truth: a change made elsewhere (a feature code) shows.
	if err := p.acd.Login(t.Context(), "1001", []string{"inquiry"}); err != nil {
		t.Fatal(err)
	}
	if res := agent.do("GET", "/api/agent/state", nil, nil); res.body["state"] != "available" ||
		!slices.Equal(res.body["categories"].([]any), []any{"inquiry"}) {
		t.Fatalf("state after a log-in elsewhere = %s", res.raw)
	}
	// 409 while on a call.
	id := p.ring(t, "1001", "13800000001", time.Second)
	if err := p.acd.Answered(t.Context(), id, "1001"); err != nil {
		t.Fatal(err)
	}
	for _, body := range []map[string]string{{"state": "available"}, {"state": "offline"}, {"state": "paused", "reason": "break"}} {
		if res := agent.do("POST", "/api/agent/state", body, nil); res.status != http.StatusConflict {
			t.Fatalf("%v while on a call = %d %s, want 409", body, res.status, res.raw)
		}
	}
	if res := agent.do("GET", "/api/agent/state", nil, nil); res.body["state"] != "on_call" || res.body["node"] != "node-a" {
		t.Fatalf("state on a call = %s", res.raw)
	}
}

// S12: in wrap-up, "available" from the panel is refused while the call's
// ticket is owed, like the *3 feature code; a supervisor may still end it.
func TestAgentStateWrapUpHeld(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	p.available(t, "1001")
	id := p.ring(t, "1001", "13800000002", time.Second)
	if err := p.acd.StartCall(ctx, "1001", agents.CurrentCall{CallID: id, Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := p.acd.Answered(ctx, id, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := p.acd.Hangup(ctx, "1001", time.Minute, "inquiry"); err != nil {
		t.Fatal(err)
	}
	if err := p.acd.CallEnded(ctx, "1001", id, true, time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	res := agent.do("POST", "/api/agent/state", map[string]string{"state": "available"}, nil)
	if res.status != http.StatusConflict {
		t.Fatalf("available in wrap-up with the ticket owed = %d %s, want 409", res.status, res.raw)
	}
	res = sup.do("POST", "/api/agents/1001/state", map[string]string{"state": "available", "reason": "ticket entered on paper"}, nil)
	if res.status != http.StatusOK || res.body["state"] != "available" {
		t.Fatalf("supervisor ends the wrap-up = %d %s", res.status, res.raw)
	}
}

func TestForceAgentState(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	p.available(t, "1002")
	// 1002 misses two offers in a row: not_responding (S1).
	for i := range 2 {
		id := p.ring(t, "1002", "1380000001"+string(rune('0'+i)), time.Second)
		if err := p.acd.Missed(ctx, id, "1002", agents.MissNoAnswer); err != nil {
			t.Fatal(err)
		}
		if err := p.queue.Remove(ctx, "inquiry", id); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := p.acd.State(ctx, "1002"); st.State != agents.StateNotResponding {
		t.Fatalf("1002 = %+v, want not_responding", st)
	}
	tests := []struct {
		name      string
		c         *client
		agent     string
		body      any
		want      int
		wantField string
		wantAudit bool
	}{
		{"an agent may not", agent, "1002", map[string]string{"state": "available", "reason": "back from lunch"}, http.StatusForbidden, "", false},
		{"a reason is required", sup, "1002", map[string]string{"state": "available"}, http.StatusUnprocessableEntity, "reason", false},
		{"unknown state", sup, "1002", map[string]string{"state": "ringing", "reason": "test"}, http.StatusUnprocessableEntity, "state", false},
		{"unknown agent", sup, "9999", map[string]string{"state": "available", "reason": "test"}, http.StatusNotFound, "", false},
		{"out of not_responding", sup, "1002", map[string]string{"state": "available", "reason": "phone fixed"}, http.StatusOK, "", true},
		{"the same again changes nothing", sup, "1002", map[string]string{"state": "available", "reason": "phone fixed"}, http.StatusOK, "", false},
		{"pause", sup, "1002", map[string]string{"state": "paused", "reason": "coaching session"}, http.StatusOK, "", true},
		{"log out", sup, "1002", map[string]string{"state": "offline", "reason": "end of shift"}, http.StatusOK, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'force_agent_state'`)
			res := tc.c.do("POST", "/api/agents/"+tc.agent+"/state", tc.body, nil)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			if tc.wantField != "" && res.fields()[tc.wantField] == nil {
				t.Fatalf("422 without field %s: %s", tc.wantField, res.raw)
			}
			after := p.count(t, `SELECT count(*) FROM audit_log WHERE action = 'force_agent_state'`)
			if got := after - before; (got == 1) != tc.wantAudit || got > 1 {
				t.Fatalf("audit rows written: %d, want %v", got, tc.wantAudit)
			}
			if tc.want == http.StatusOK {
				st, err := p.acd.State(ctx, tc.agent)
				if err != nil || string(st.State) != tc.body.(map[string]string)["state"] || res.body["state"] != string(st.State) {
					t.Fatalf("ACD state %+v (%v), body %s", st, err, res.raw)
				}
			}
		})
	}
	var actor, reason, detail string
	err := p.pool.QueryRow(ctx, `SELECT actor, reason, detail FROM audit_log WHERE action = 'force_agent_state'
		ORDER BY id LIMIT 1`).Scan(&actor, &reason, &detail)
	if err != nil || actor != "2001" || reason != "phone fixed" || detail != "agent 1002: not_responding → available" {
		t.Fatalf("audit row: %s %q %q (%v)", actor, reason, detail, err)
	}
	if st, _ := p.acd.State(ctx, "1002"); st.State != agents.StateOffline {
		t.Fatalf("1002 = %+v", st)
	}
	// Without the CSRF token: refused before anything changes.
	bare := &client{t: t, base: sup.base, http: sup.http}
	if res := bare.do("POST", "/api/agents/1002/state", map[string]string{"state": "available", "reason": "x"}, nil); res.status != http.StatusForbidden {
		t.Fatalf("without CSRF = %d", res.status)
	}
}

// The panel's forms get a code per field and the 409s a code, which the
// panel renders in the user's language: pause reason, transfer (S10),
// a supervisor's forced state.
func TestPanelErrorCodes(t *testing.T) {
	p := newPanelFixture(t)
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	p.available(t, "1001")
	res := agent.do("POST", "/api/agent/state", map[string]string{"state": "paused", "reason": "nap"}, nil)
	fc, _ := res.body["field_codes"].(map[string]any)
	reason, _ := fc["reason"].(map[string]any)
	if res.fieldCode("reason") != "pause.reason.choose" || reason["args"].(map[string]any)["choices"] != "break, meal, training, meeting" {
		t.Errorf("unknown pause reason: %s", res.raw)
	}
	for _, tc := range []struct {
		body        map[string]string
		field, code string
	}{
		{map[string]string{"kind": "queue", "target": "complaint"}, "kind", "transfer.kind.choose"},
		{map[string]string{"kind": "agent"}, "target", "transfer.target.required"},
		{map[string]string{"kind": "specialist", "target": "gas"}, "target", "transfer.target.forbidden"},
		{map[string]string{"kind": "category", "target": "complaint"}, "", "call.none"},
	} {
		res := agent.do("POST", "/api/agent/transfer", tc.body, nil)
		if tc.field != "" && res.fieldCode(tc.field) != tc.code || tc.field == "" && res.body["code"] != tc.code {
			t.Errorf("transfer %v: %s, want %s %s", tc.body, res.raw, tc.field, tc.code)
		}
	}
	if res := sup.do("POST", "/api/agents/1001/state", map[string]string{"state": "paused"}, nil); res.fieldCode("reason") != "force.reason.required" {
		t.Errorf("forced without a reason: %s", res.raw)
	}
	if res := agent.do("POST", "/api/agents/1002/state", map[string]string{"state": "paused", "reason": "x"}, nil); res.body["code"] != "supervisor.only" {
		t.Errorf("an agent forcing a state: %s", res.raw)
	}
}
