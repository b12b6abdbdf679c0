package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// faultNodeTTL is the node_ttl of the fault tests' nodes: short, so that a
// dead node is reaped within seconds, and long enough that a live node
// under -race on a loaded machine never misses three heartbeats.
const faultNodeTTL = 5 * time.Second

// procNodeYAML is the config of a subprocess node next to agentNode nodes:
// MD5 digest for baresip, test-sized IVR timings.
func procNodeYAML(ringTimeout time.Duration) string {
	return fmt.Sprintf(`registrar:
  algorithms: [MD5]
acd:
  node_ttl: %s
  ring_timeout: %s
ivr:
  menu_timeout: 2s
  max_retries: 2
  announce_interval: 5m
  max_wait: 5m
`, faultNodeTTL, ringTimeout)
}

// Node B, a real hotline process, is killed with SIGKILL while its callers
// talk to an agent, ring another and wait in the queue. Node A, sharing
// Redis and PostgreSQL, reaps within node_ttl: the queue is empty, the
// ringing agent is available again and the talking one in wrap-up (S12), and
// A closes the lost calls' records: hung up by the system, end reason
// node_lost, the bridged call answered with its draft ticket.
func TestE2ENodeKilled(t *testing.T) {
	if !siptest.HaveBaresip() {
		t.Fatal("baresip is not installed: run scripts/services.sh tools (make test does)")
	}
	a := agentNode(t, func(c *Config) {
		c.ACD.NodeTTL = configs.Duration(faultNodeTTL)
		c.ACD.RingTimeout = configs.Duration(30 * time.Second)
	})
	b := startProcNode(t, procSetup{Node: "b-" + randHex(3), DatabaseURL: a.cfg.DatabaseURL, RedisURL: a.cfg.RedisURL,
		KeyPrefix: a.cfg.Queue.KeyPrefix, RTPPorts: "40000-44998", YAML: procNodeYAML(30 * time.Second)})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	// Caller 1 on node B talks to agent 1001; caller 2 rings agent 1002,
	// who does not answer; caller 3 waits; caller 4 is in the menu.
	talker := startAgent(ctx, t, a, "1001")
	c1 := dial(t, newCaller(t), siptest.DialOptions{Target: b.target, From: "sip:13900000001@127.0.0.1"})
	pressInMenu(t, c1, '1')
	if _, err := talker.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("agent 1001 not rung for a caller on node B: %v", err)
	}
	waitAgentState(t, a, "1001", agents.StateOnCall)
	ringer := startAgentPhone(ctx, t, a, "1002", false)
	c2 := dial(t, newCaller(t), siptest.DialOptions{Target: b.target, From: "sip:13900000002@127.0.0.1"})
	pressInMenu(t, c2, '1')
	if _, err := ringer.WaitEvent(ctx, siptest.EventCallIncoming); err != nil {
		t.Fatalf("agent 1002 not rung: %v", err)
	}
	waitAgentState(t, a, "1002", agents.StateRinging)
	c3 := dial(t, newCaller(t), siptest.DialOptions{Target: b.target, From: "sip:13900000003@127.0.0.1"})
	pressInMenu(t, c3, '1')
	a.waitQueueLen("inquiry", 2) // caller 2 keeps its place while offered
	c4 := dial(t, newCaller(t), siptest.DialOptions{Target: b.target, From: "sip:13900000004@127.0.0.1"})
	hears(t, c4, time.Time{}, prompt(t, "zh-CN", "welcome")[:8000], 10*time.Second)

	b.signal(syscall.SIGKILL)
	killed := time.Now()
	if exited, _ := b.wait(5 * time.Second); !exited {
		t.Fatal("node B still runs 5 s after SIGKILL")
	}
	// Reaped within node_ttl of B's last heartbeat (before the kill); a
	// second of slack for a loaded machine.
	reaped := poll.Within(faultNodeTTL+time.Second, func() bool {
		s1, err1 := a.app.acd.State(ctx, "1001")
		s2, err2 := a.app.acd.State(ctx, "1002")
		return err1 == nil && err2 == nil && a.queueLen("inquiry") == 0 &&
			s1.State == agents.StateWrapUp && s2.State == agents.StateAvailable
	})
	s1, _ := a.app.acd.State(ctx, "1001")
	s2, _ := a.app.acd.State(ctx, "1002")
	if !reaped {
		t.Fatalf("%s after SIGKILL: queue %d, agent 1001 %+v, agent 1002 %+v; want reaped within node_ttl %s",
			time.Since(killed).Round(time.Millisecond), a.queueLen("inquiry"), s1, s2, faultNodeTTL)
	}
	t.Logf("node B's queue entries and reservations reaped %s after SIGKILL", time.Since(killed).Round(time.Millisecond))
	if s1.Reason != "node_lost" || s2.Reason != "node_lost" {
		t.Fatalf("agents after the reap: %+v, %+v; want reason node_lost", s1, s2)
	}

	type want struct {
		outcome, agent, category string
		queued                   bool
	}
	for call, w := range map[*siptest.Call]want{
		c1: {"answered", "1001", "inquiry", true},
		c2: {"failed", "", "inquiry", true},
		c3: {"failed", "", "inquiry", true},
		c4: {"failed", "", "", false},
	} {
		rec := a.record(call.CallID())
		if rec.Outcome != w.outcome || rec.AgentID != w.agent || rec.Category != w.category || rec.QueuedAt.IsZero() == w.queued ||
			rec.HungUpBy != "system" || rec.EndReason != tickets.EndReasonNodeLost || rec.Node != b.node || rec.AnsweredAt.IsZero() {
			t.Fatalf("record of a call lost with node B = %+v, want %+v, hung up by the system, node_lost", rec, w)
		}
	}
	rec := a.record(c1.CallID())
	if rec.ConnectedAt.IsZero() || !rec.ConnectedAt.Before(killed) {
		t.Fatalf("bridged call's record %+v: connected_at is not when the agent took it", rec)
	}
	var drafts int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE call_id = $1 AND agent_id = '1001' AND status = 'draft'`,
		rec.ID).Scan(&drafts); err != nil || drafts != 1 {
		t.Fatalf("draft tickets of the lost bridged call: %d (%v), want 1 (S12)", drafts, err)
	}
	if got := a.counter(`hotline_agents_reaped_total{kind="node"}`); got != 1 {
		t.Fatalf("reaped nodes = %v, want 1", got)
	}
}

// SIGTERM to a real hotline process with calls in progress: it drains. New
// calls get 503 with Retry-After and /readyz says draining, while every call
// in progress goes on (the callers still hear the queue) until its caller
// hangs up; each record is written; then the process exits 0 by itself.
func TestE2ESIGTERMUnderLoad(t *testing.T) {
	const calls = 12
	dbURL := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	if err := migrate(ctx, Config{DatabaseURL: dbURL}); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := redistest.New(t)
	redisURL := redistest.URL()
	n := startProcNode(t, procSetup{Node: "term-" + randHex(3), DatabaseURL: dbURL, RedisURL: redisURL,
		KeyPrefix: prefix, RTPPorts: "45000-49998", YAML: procNodeYAML(10 * time.Second)})

	// Callers in the emergency queue hear its entry prompt, then hold music,
	// without end (S6: it never closes; max_wait is 5 minutes).
	welcome := prompt(t, "zh-CN", "welcome")[:8000]
	inProgress := make([]*siptest.Call, calls)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range inProgress {
		inProgress[i] = dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: fmt.Sprintf("sip:1380000%04d@127.0.0.1", i)})
		wg.Go(func() {
			c := inProgress[i]
			if !poll.Within(15*time.Second, func() bool { return siptest.Similarity(c.ReceivedSince(time.Time{}), welcome) >= siptest.SameAudio }) {
				errs <- fmt.Errorf("caller %d did not hear the greeting", i)
				return
			}
			if err := c.SendDTMF('3'); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	q := agents.NewQueue(rdb, agents.QueueOptions{Prefix: prefix})
	if !poll.Within(15*time.Second, func() bool { l, _ := q.Len(ctx, "emergency"); return l == calls }) {
		l, _ := q.Len(ctx, "emergency")
		t.Fatalf("%d callers queued, want %d", l, calls)
	}

	n.signal(syscall.SIGTERM)
	signalled := time.Now()
	var body string
	if !poll.Within(10*time.Second, func() bool {
		var st int
		st, body = n.readyz()
		return st == 503 && strings.Contains(body, `"draining":true`)
	}) {
		t.Fatalf("readyz after SIGTERM: %s", body)
	}
	_, err := newCaller(t).Dial(ctx, siptest.DialOptions{Target: n.target})
	var se *siptest.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("a new call while draining: %v, want 503", err)
	}
	// Every call in progress goes on: no BYE from the server, and sound
	// (hold music) keeps coming well after the signal.
	time.Sleep(time.Until(signalled.Add(3 * time.Second)))
	for i, c := range inProgress {
		select {
		case <-c.HungUp():
			t.Fatalf("caller %d was hung up by the draining server", i)
		default:
		}
		if heard := c.ReceivedSince(time.Now().Add(-time.Second)); siptest.RMS(heard) < siptest.SilenceRMS {
			t.Fatalf("caller %d hears silence %s after SIGTERM (rms %.0f over %d samples)",
				i, time.Since(signalled).Round(time.Millisecond), siptest.RMS(heard), len(heard))
		}
	}
	if exited, _ := n.wait(0); exited {
		t.Fatal("the node exited with calls in progress")
	}
	for _, c := range inProgress {
		hangup(t, c) // 200 OK to the BYE: the call ends normally
	}
	exited, exitErr := n.wait(30 * time.Second)
	if !exited || exitErr != nil {
		t.Fatalf("node after its last call ended: exited %v, %v\n%s", exited, exitErr, n.tail(20))
	}
	t.Logf("node drained and exited %s after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i, c := range inProgress {
		rec, err := tickets.CallBySIPCallID(ctx, pool, c.CallID())
		if err != nil || rec.Outcome != "abandoned_in_queue" || rec.HungUpBy != "caller" || rec.EndReason != "bye" || rec.Category != "emergency" {
			t.Fatalf("record of caller %d = %+v (%v); want abandoned_in_queue, hung up by the caller", i, rec, err)
		}
	}
}
