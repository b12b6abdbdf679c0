package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// pgOutage is how long PostgreSQL stays down: the length of a database
// fail-over or restart that a hotline must ride out.
const pgOutage = 30 * time.Second

// PostgreSQL stops for pgOutage in the middle of calls. Meanwhile calls are
// still answered and queued; the records of the calls that end (one bridged
// call with its draft ticket, S12; callers who leave the menu or the queue)
// wait in the spool; /readyz says postgresql down and, once records have
// waited spool_degraded_after, record_spool degraded. When PostgreSQL is back
// every record and draft is written: none lost, none twice.
func TestE2EPostgreSQLOutage(t *testing.T) {
	if !siptest.HaveBaresip() {
		t.Fatal("baresip is not installed: run scripts/services.sh tools (make test does)")
	}
	pg := startPrivatePG(t)
	n := agentNode(t, func(c *Config) {
		c.DatabaseURL = pg.url("hotline")
		c.Tickets.SpoolDegradedAfter = configs.Duration(5 * time.Second)
		c.ACD.RingTimeout = configs.Duration(10 * time.Second)
		c.IVR.AnnounceInterval = configs.Duration(5 * time.Minute)
		c.IVR.MaxWait = configs.Duration(5 * time.Minute)
	})
	ctx, cancel := context.WithTimeout(context.Background(), pgOutage+90*time.Second)
	defer cancel()
	agent := startAgent(ctx, t, n, "1001")

	// Before the outage: caller 1 talks to the agent.
	bridged := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:13900000001@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, bridged, '1')
	if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent not rung: %v\n%s", err, agent.Log())
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)

	pg.stop()
	stopped := time.Now()
	t.Logf("postgresql stopped for %s", pgOutage)
	// The bridged call ends: its record and draft ticket go to the spool,
	// and the agent is in wrap-up (Redis), so the next callers wait.
	hangup(t, bridged)
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	// New callers are answered (they hear the greeting) and queued.
	welcome := prompt(t, "zh-CN", "welcome")
	var queued, inMenu []*siptest.Call
	for i := range 4 {
		c := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: fmt.Sprintf("sip:1390000001%d@127.0.0.1", i)})
		hears(t, c, time.Time{}, welcome[:8000], 10*time.Second)
		if i < 3 {
			if err := c.SendDTMF('2'); err != nil {
				t.Fatal(err)
			}
			queued = append(queued, c)
			continue
		}
		inMenu = append(inMenu, c)
	}
	n.waitQueueLen("complaint", len(queued))
	for _, c := range inMenu {
		hangup(t, c) // left in the menu: its record is spooled
	}
	// /readyz names the database down and, soon after, the spool degraded.
	var r readiness
	if !poll.Within(15*time.Second, func() bool {
		r = n.readiness(t)
		return r.PostgreSQL == stateDown && r.RecordSpool == stateDegraded
	}) {
		t.Fatalf("readyz during the outage: %+v; want postgresql down, record_spool degraded", r)
	}
	if r.Ready || r.Redis != stateOK {
		t.Fatalf("readyz during the outage: %+v", r)
	}
	if p := n.app.writer.Pending(); p < 2 {
		t.Fatalf("%d records in the spool during the outage, want at least 2", p)
	}
	// The queued callers are still connected at the end of the outage and
	// leave the queue (their records spooled too).
	time.Sleep(time.Until(stopped.Add(pgOutage)))
	n.waitQueueLen("complaint", len(queued))
	for _, c := range queued {
		select {
		case <-c.HungUp():
			t.Fatalf("queued caller %s hung up by the server during the outage", c.CallID())
		default:
		}
		hangup(t, c)
	}
	spooled := 1 + len(inMenu) + len(queued)
	if !poll.Within(10*time.Second, func() bool { return n.app.writer.Pending() >= spooled }) {
		t.Fatalf("%d records in the spool, want %d", n.app.writer.Pending(), spooled)
	}
	pending := n.app.writer.Pending()
	pg.start()
	t.Logf("postgresql started again after %s; %d records spooled", time.Since(stopped).Round(time.Second), pending)

	if !poll.Within(30*time.Second, func() bool {
		r = n.readiness(t)
		return n.app.writer.Pending() == 0 && r.PostgreSQL == stateOK && r.RecordSpool == stateOK
	}) {
		t.Fatalf("30 s after postgresql came back: %d records still spooled, readyz %+v", n.app.writer.Pending(), r)
	}
	// Every call has exactly one record; the bridged one its draft ticket.
	want := map[string]string{bridged.CallID(): "answered"}
	for _, c := range inMenu {
		want[c.CallID()] = "abandoned_in_menu"
	}
	for _, c := range queued {
		want[c.CallID()] = "abandoned_in_queue"
	}
	for sipID, outcome := range want {
		var rows int
		if err := n.pool.QueryRow(ctx, `SELECT count(*) FROM calls WHERE sip_call_id = $1`, sipID).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 1 {
			t.Fatalf("call %s: %d records, want 1", sipID, rows)
		}
		rec := n.record(sipID)
		if rec.Outcome != outcome || rec.HungUpBy != "caller" || rec.EndReason != "bye" {
			t.Fatalf("record of %s = %+v, want %s hung up by the caller (bye)", sipID, rec, outcome)
		}
	}
	rec := n.record(bridged.CallID())
	var drafts int
	if err := n.pool.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE call_id = $1 AND status = 'draft'`, rec.ID).Scan(&drafts); err != nil {
		t.Fatal(err)
	}
	if drafts != 1 || rec.AgentID != "1001" {
		t.Fatalf("bridged call %+v: %d draft tickets, want 1 for agent 1001", rec, drafts)
	}
	for _, kind := range []string{"answered", "call"} {
		if got := n.counter(`hotline_tickets_records_dead_lettered_total{kind="` + kind + `"}`); got != 0 {
			t.Fatalf("dead-lettered %s records: %v", kind, got)
		}
	}
}

// readiness reads the node's /readyz.
func (n *testNode) readiness(t *testing.T) readiness {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get("http://" + n.app.opsAddr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer res.Body.Close()
	var r readiness
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("readyz body: %v", err)
	}
	return r
}
