package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// endedCall writes a queued call record ended now, as the writer does.
func (p *panelFixture) endedCall(t *testing.T, category, outcome string, waited time.Duration, connected bool) {
	t.Helper()
	now := time.Now()
	id := fmt.Sprintf("call-%d", callSeq.Add(1))
	var conn *time.Time
	if connected {
		conn = &now
	}
	_, err := p.pool.Exec(t.Context(), `INSERT INTO calls (id, sip_call_id, caller, dialled, category, node,
		started_at, answered_at, queued_at, ended_at, outcome, hung_up_by, connected_at, wait_seconds, wait_exceeded)
		VALUES ($1, $1, '13800138000', '12345', $2, 'node-a', $3, $3, $3, $4, $5, 'caller', $6, $7, $8)`,
		id, category, now.Add(-waited), now, outcome, conn, waited.Seconds(), waited > 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
}

// The wall: queues from Redis (as the queue metrics read them), the day's
// service level and abandon rate, agents by state, drafts, breaches and
// escalations; supervisors only.
func TestWall(t *testing.T) {
	p := newPanelFixture(t)
	ctx := context.Background()
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	if res := agent.do("GET", "/api/wall", nil, nil); res.status != http.StatusForbidden {
		t.Fatalf("agent's wall = %d", res.status)
	}
	for i, waited := range []time.Duration{41 * time.Second, 5 * time.Second} {
		if err := p.queue.Enqueue(ctx, configs.QueueEntry{CallID: fmt.Sprintf("w%d", i), Caller: "1380000000" + fmt.Sprint(i),
			Category: "complaint", EnqueuedAt: time.Now().Add(-waited)}); err != nil {
			t.Fatal(err)
		}
	}
	p.available(t, "1002")
	if err := p.acd.Pause(ctx, "1002", "meal"); err != nil {
		t.Fatal(err)
	}
	// Today: 3 answered inquiries, 1 after the threshold; 1 abandoned of 4 queued.
	p.endedCall(t, "inquiry", "answered", 5*time.Second, true)
	p.endedCall(t, "inquiry", "answered", 10*time.Second, true)
	p.endedCall(t, "inquiry", "answered", 30*time.Second, true)
	p.endedCall(t, "inquiry", "abandoned_in_queue", 50*time.Second, false)
	p.draft(t, "1001", time.Minute)               // pending, in time
	late := p.draft(t, "1001", 10*time.Minute)    // pending, past its 5-minute window (S12)
	breached := p.draft(t, "1002", 2*time.Minute) // entered, then breached and escalated
	if _, err := p.pool.Exec(ctx, `UPDATE tickets SET status = 'open', breached_at = now(), escalation_level = 1,
		escalated_at = now() WHERE ref = $1`, breached.Ref); err != nil {
		t.Fatal(err)
	}
	res := sup.do("GET", "/api/wall", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("wall = %d %s", res.status, res.raw)
	}
	cats := map[string]map[string]any{}
	for _, c := range res.body["categories"].([]any) {
		m := c.(map[string]any)
		cats[m["category"].(string)] = m
	}
	if c := cats["complaint"]; c["waiting"] != float64(2) || c["oldest_wait_s"].(float64) < 41 || c["oldest_wait_s"].(float64) > 43 ||
		c["service_level_today"] != nil || c["abandon_rate_today"] != nil {
		t.Fatalf("complaint queue = %v", c)
	}
	if c := cats["inquiry"]; c["waiting"] != float64(0) || c["service_level_today"] != 2.0/3 || c["abandon_rate_today"] != 0.25 {
		t.Fatalf("inquiry queue = %v", c)
	}
	if len(cats) != len(configs.QueueCategories()) {
		t.Fatalf("categories = %v", cats)
	}
	var paused map[string]any
	for _, a := range res.body["agents"].([]any) {
		if m := a.(map[string]any); m["id"] == "1002" {
			paused = m
		}
	}
	if paused == nil || paused["state"] != "paused" || paused["reason"] != "meal" || paused["name"] != "Zhao Lei" || paused["since"] == "" {
		t.Fatalf("agents = %v", res.body["agents"])
	}
	if res.body["drafts_pending"] != float64(2) || res.body["drafts_late_today"] != float64(1) || res.body["open_breaches"] != float64(1) {
		t.Fatalf("drafts and breaches = %s (late draft %s)", res.raw, late.Ref)
	}
	esc := res.body["escalations"].([]any)
	if len(esc) != 1 || esc[0].(map[string]any)["ref"] != breached.Ref || esc[0].(map[string]any)["level"] != float64(1) ||
		esc[0].(map[string]any)["acknowledged"] != false || esc[0].(map[string]any)["owner"] != "1002" {
		t.Fatalf("escalations = %v", esc)
	}
	// Acknowledged, it shows so once the short cache has passed.
	if res := sup.do("POST", "/api/tickets/"+breached.Ref+"/acknowledge", map[string]string{"note": "calling the caller back"}, nil); res.status != http.StatusOK {
		t.Fatalf("acknowledge = %d %s", res.status, res.raw)
	}
	time.Sleep(wallMaxAge)
	// The first request after the short cache is answered from the old
	// reading, marked stale; a new reading shows the acknowledgement.
	if !poll.Within(3*time.Second, func() bool {
		res = sup.do("GET", "/api/wall", nil, nil)
		esc := res.body["escalations"].([]any)
		return res.body["stale"] == nil && esc[0].(map[string]any)["acknowledged"] == true
	}) {
		t.Fatalf("wall after the acknowledgement = %s", res.raw)
	}
}

// A supervisor's request never waits for the day's figures to be read
// while a reading a little old exists: it is answered at once, marked
// stale, and a new reading is made in the background (one, however many
// ask). The calls table is locked so that the reading blocks.
func TestWallNeverWaitsForAReading(t *testing.T) {
	p := newPanelFixture(t)
	sup := p.login(t, "2001")
	ctx := t.Context()
	if res := sup.do("GET", "/api/wall", nil, nil); res.status != http.StatusOK || res.body["stale"] != nil {
		t.Fatalf("first wall = %d %s", res.status, res.raw)
	}
	p.endedCall(t, "inquiry", "abandoned_in_queue", 50*time.Second, false)
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE calls IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(wallMaxAge)
	get := func(i int) {
		t.Helper()
		start := time.Now()
		res := sup.do("GET", "/api/wall", nil, nil)
		if took := time.Since(start); res.status != http.StatusOK || res.body["stale"] != true || took > 200*time.Millisecond {
			t.Fatalf("wall %d while the reading is blocked = %d in %v: %s", i, res.status, took, res.raw)
		}
	}
	waiting := func() int {
		var n int
		if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	get(0) // starts the reading, which blocks on the lock
	if !poll.Within(3*time.Second, func() bool { return waiting() == 1 }) {
		t.Fatalf("readings waiting on the lock = %d, want 1", waiting())
	}
	for i := range 5 {
		get(i + 1)
	}
	if n := waiting(); n != 1 {
		t.Fatalf("readings waiting on the lock after 6 requests = %d, want 1", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var res response
	if !poll.Within(3*time.Second, func() bool {
		res = sup.do("GET", "/api/wall", nil, nil)
		for _, c := range res.body["categories"].([]any) {
			if m := c.(map[string]any); m["category"] == "inquiry" {
				return res.body["stale"] == nil && m["abandon_rate_today"] == 1.0
			}
		}
		return false
	}) {
		t.Fatalf("wall after the reading = %s", res.raw)
	}
}

// A queue change on any node makes a "wall" event, coalesced: a burst of
// changes is at most a few events.
func TestWallHints(t *testing.T) {
	p := newPanelFixture(t)
	drain := func() int {
		n := 0
		deadline := time.After(700 * time.Millisecond)
		for {
			select {
			case e := <-p.events:
				if e.Type == agents.EventWall {
					n++
				}
			case <-deadline:
				return n
			}
		}
	}
	drain()
	for range 50 {
		p.acd.WallChanged()
	}
	if n := drain(); n < 1 || n > 2 {
		t.Fatalf("50 changes made %d wall events, want 1 or 2", n)
	}
	if n := drain(); n != 0 {
		t.Fatalf("%d wall events without a change", n)
	}
}

func TestReassignTicket(t *testing.T) {
	p := newPanelFixture(t)
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	k := p.draft(t, "1001", time.Minute)
	tests := []struct {
		name      string
		c         *client
		ref       string
		body      any
		want      int
		wantField string
		wantEvent bool
	}{
		{"an agent may not", agent, k.Ref, map[string]string{"agent": "1002", "reason": "I am off tomorrow"}, http.StatusForbidden, "", false},
		{"a reason is required", sup, k.Ref, map[string]string{"agent": "1002"}, http.StatusUnprocessableEntity, "reason", false},
		{"an unknown agent", sup, k.Ref, map[string]string{"agent": "9999", "reason": "coverage"}, http.StatusUnprocessableEntity, "agent", false},
		{"no agent", sup, k.Ref, map[string]string{"reason": "coverage"}, http.StatusUnprocessableEntity, "agent", false},
		{"no such ticket", sup, "T20000101-999999", map[string]string{"agent": "1002", "reason": "coverage"}, http.StatusNotFound, "", false},
		{"reassigned", sup, k.Ref, map[string]string{"agent": "1002", "reason": "1001 is on leave"}, http.StatusOK, "", true},
		{"a retry changes nothing", sup, k.Ref, map[string]string{"agent": "1002", "reason": "1001 is on leave"}, http.StatusOK, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := p.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'reassigned'`)
			res := tc.c.do("POST", "/api/tickets/"+tc.ref+"/reassign", tc.body, nil)
			if res.status != tc.want || (tc.wantField != "" && res.fields()[tc.wantField] == nil) {
				t.Fatalf("status %d, want %d with field %q: %s", res.status, tc.want, tc.wantField, res.raw)
			}
			after := p.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'reassigned'`)
			if (after == before+1) != tc.wantEvent || after > before+1 {
				t.Fatalf("reassigned events %d → %d", before, after)
			}
			if tc.want == http.StatusOK && res.body["owner_agent"] != "1002" {
				t.Fatalf("owner = %v", res.body["owner_agent"])
			}
		})
	}
	if e := p.event(t, agents.EventTicket, "1002"); e.Ticket != k.Ref || e.Reason != agents.TicketReassigned {
		t.Fatalf("ticket event = %+v", e)
	}
	var data map[string]any
	if err := p.pool.QueryRow(t.Context(), `SELECT data FROM ticket_events WHERE kind = 'reassigned'`).Scan(&data); err != nil ||
		data["from"] != "1001" || data["to"] != "1002" || data["reason"] != "1001 is on leave" {
		t.Fatalf("event data = %v (%v)", data, err)
	}
}

// A hand-off tells both panels (S16): the new owner's lists the ticket
// and, when a supervisor handed it over, the previous owner's drops it.
func TestHandOffTellsBothPanels(t *testing.T) {
	p := newPanelFixture(t)
	sup := p.login(t, "2001")
	k := p.draft(t, "1001", time.Minute)
	if res := sup.do("POST", "/api/tickets/"+k.Ref+"/handoff", map[string]string{"to_agent": "1002"}, nil); res.status != http.StatusOK {
		t.Fatalf("hand-off = %d %s", res.status, res.raw)
	}
	for _, who := range []string{"1002", "1001"} {
		if e := p.event(t, agents.EventTicket, who); e.Ticket != k.Ref || e.Reason != agents.TicketHandedOff {
			t.Fatalf("ticket event for %s = %+v", who, e)
		}
	}
}

func TestAcknowledgeEscalation(t *testing.T) {
	p := newPanelFixture(t)
	agent, sup := p.login(t, "1001"), p.login(t, "2001")
	k := p.draft(t, "1001", time.Minute)
	res := sup.do("POST", "/api/tickets/"+k.Ref+"/acknowledge", map[string]string{"note": "seen"}, nil)
	if res.status != http.StatusConflict {
		t.Fatalf("not escalated = %d %s", res.status, res.raw)
	}
	if _, err := p.pool.Exec(t.Context(), `UPDATE tickets SET status = 'open', breached_at = now(), escalation_level = 1,
		escalated_at = now() WHERE ref = $1`, k.Ref); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		c         *client
		body      any
		want      int
		wantEvent bool
	}{
		{"an agent may not", agent, map[string]string{"note": "seen"}, http.StatusForbidden, false},
		{"a note too long", sup, map[string]string{"note": string(make([]byte, 3000))}, http.StatusUnprocessableEntity, false},
		{"acknowledged", sup, map[string]string{"note": "calling the caller back"}, http.StatusOK, true},
		{"again at the same level", sup, nil, http.StatusOK, false},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			before := p.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'acknowledged'`)
			res := tc.c.do("POST", "/api/tickets/"+k.Ref+"/acknowledge", tc.body, nil)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			after := p.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'acknowledged'`)
			if (after == before+1) != tc.wantEvent || after > before+1 {
				t.Fatalf("acknowledged events %d → %d", before, after)
			}
		})
	}
	if e := p.event(t, agents.EventTicket, "1001"); e.Ticket != k.Ref || e.Reason != agents.TicketAcknowledged {
		t.Fatalf("ticket event = %+v", e)
	}
	// Level 2 is a new escalation: acknowledged anew.
	if _, err := p.pool.Exec(t.Context(), `UPDATE tickets SET escalation_level = 2 WHERE ref = $1`, k.Ref); err != nil {
		t.Fatal(err)
	}
	if res := sup.do("POST", "/api/tickets/"+k.Ref+"/acknowledge", nil, nil); res.status != http.StatusOK ||
		p.count(t, `SELECT count(*) FROM ticket_events WHERE kind = 'acknowledged'`) != 2 {
		t.Fatalf("level 2 = %d %s", res.status, res.raw)
	}
}
