package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/redis/go-redis/v9"
)

// "a Redis restart is followed by every node re-publishing what it
// holds (waiting callers with their original enqueue times, agent states).
// Test it: two nodes in one test process on different ports, and a Redis
// restart in the middle of a queue."
//
// Two nodes share a private redis-server (killed and started again, empty, on
// the same port) and one database. Agent 1001 (baresip) registers through
// node B, logs in and pauses; caller 1 waits on node A, caller 2 on node B a
// moment later. Redis dies and comes back empty. Each node notices (the
// epoch changed) and re-publishes what it holds: the queue holds both callers
// again with their original enqueue times and order, and the agent is paused
// again with its registration, which node B took. The agent resumes (*1)
// and takes caller 1, then, after wrap-up (*3), caller 2; both records say
// answered.
func TestE2ERedisRestart(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (Debian package redis-server): this test needs a Redis of its own to restart")
	}
	siptest.RequireBaresip(t)
	rs := startPrivateRedis(t)
	const nodeTTL = 5 * time.Second // heartbeats every second: the restart is seen within that
	onPrivateRedis := func(c *Config) {
		c.SIP.Listen = freeSIPListen(t)
		c.RedisURL = rs.url()
		c.ACD.NodeTTL = configs.Duration(nodeTTL)
		c.ACD.RingTimeout = 10e9
		// The callers hear their entry announcement, then only hold music: an
		// announcement while Redis is down, or before the node has
		// re-published, ends the call today (the IVR gives up when the
		// position lookup fails), which this test does not cover.
		c.IVR.AnnounceInterval = configs.Duration(5 * time.Minute)
		c.IVR.MaxWait = configs.Duration(5 * time.Minute)
		// The agent ends each wrap-up with *3 without entering the ticket
		// (S12's hold is TestE2EWrapUpHeldUntilSubmitted's).
		c.Agents.WrapUpUntilSubmitted = false
	}
	a := agentNode(t, onPrivateRedis)
	b := agentNode(t, func(c *Config) {
		onPrivateRedis(c)
		c.DatabaseURL = a.cfg.DatabaseURL
		c.Queue.KeyPrefix = a.cfg.Queue.KeyPrefix
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The agent registers through node B, logs in (*1) and pauses (*2): it
	// serves the queue (callers are not offered a callback at once) but takes
	// no call.
	agent := startAgent(ctx, t, b, "1001")
	featureCode(ctx, t, b, agent, "*2")
	waitAgentState(t, b, "1001", agents.StatePaused)
	agentBefore, err := b.app.acd.State(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	regBefore, err := b.app.locs.Lookup(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}

	// Caller 1 queues on node A, caller 2 on node B about a second later.
	welcome := prompt(t, "zh-CN", "welcome")
	c1 := dial(t, newCaller(t), siptest.DialOptions{Target: a.target, From: "sip:13900000001@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	c2 := dial(t, newCaller(t), siptest.DialOptions{Target: b.target, From: "sip:13900000002@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	hears(t, c1, time.Time{}, welcome, 10*time.Second)
	if err := c1.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	a.waitQueueLen("inquiry", 1)
	hears(t, c2, time.Time{}, welcome, 10*time.Second)
	time.Sleep(time.Second) // a clearly later enqueue time
	if err := c2.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	a.waitQueueLen("inquiry", 2)
	before, err := a.queue.Entries(ctx, "inquiry")
	if err != nil {
		t.Fatal(err)
	}
	if got := callers(before); !slices.Equal(got, []string{"13900000001", "13900000002"}) ||
		!before[0].EnqueuedAt.Before(before[1].EnqueuedAt) {
		t.Fatalf("queue before the restart: %+v", before)
	}
	// Both callers are past their entry announcement (position and wait, read
	// from Redis) and hear hold music: the restart comes in the middle of the
	// wait.
	music := prompt(t, "zh-CN", "hold_music")[:8000]
	hears(t, c1, time.Time{}, music, 15*time.Second)
	hears(t, c2, time.Time{}, music, 15*time.Second)
	// Node B copies the agent it holds at every heartbeat; node A holds no
	// agent. (Each node keeps its waiting callers itself.)
	waitHeld(t, b, agentBefore)
	if h := a.app.acd.Held(); len(h.Registrations)+len(h.Agents) != 0 {
		t.Fatalf("node A holds %+v: the agent registered through node B", h)
	}

	// A key no node re-publishes tells that the Redis which comes back is empty.
	marker := a.cfg.Queue.KeyPrefix + "test:before-restart"
	if err := a.rdb.Set(ctx, marker, "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rs.kill()
	time.Sleep(500 * time.Millisecond) // the nodes' Redis calls fail meanwhile
	restarted := time.Now()
	rs.start()

	// Both nodes notice (a new epoch at the next heartbeat) and re-publish.
	var after []configs.QueueEntry
	var agentAfter agents.AgentState
	deadline := restarted.Add(15 * time.Second)
	for {
		after, _ = a.queue.Entries(ctx, "inquiry")
		agentAfter, err = a.app.acd.State(ctx, "1001")
		if len(after) == 2 && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the redis restart: queue %+v, agent %+v (%v): not re-published", after, agentAfter, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("callers and agent re-published %s after redis-server was started again", time.Since(restarted).Round(time.Millisecond))
	if n, err := a.rdb.Exists(ctx, marker).Result(); err != nil || n != 0 {
		t.Fatalf("redis kept data across the restart (marker: %d, %v)", n, err)
	}
	if !slices.EqualFunc(after, before, func(x, y configs.QueueEntry) bool {
		return x.CallID == y.CallID && x.Caller == y.Caller && x.EnqueuedAt.Equal(y.EnqueuedAt) && x.Priority == y.Priority
	}) {
		t.Fatalf("queue after the restart:\n got %+v\nwant %+v (original order and enqueue times)", after, before)
	}
	// Each node re-published its own caller, not the other's.
	for _, n := range []*testNode{a, b} {
		if got := n.counter(`hotline_agents_queue_enqueues_total{category="inquiry",reason="republish"}`); got != 1 {
			t.Errorf("node %s re-published %v callers, want 1", n.cfg.Node, got)
		}
	}
	if agentAfter.State != agents.StatePaused || agentAfter.Reason != agentBefore.Reason ||
		!slices.Equal(agentAfter.Categories, agentBefore.Categories) || !agentAfter.IdleSince.Equal(agentBefore.IdleSince) {
		t.Fatalf("agent after the restart: %+v\nwant as before: %+v", agentAfter, agentBefore)
	}
	if reg, err := a.app.locs.Lookup(ctx, "1001"); err != nil || reg.Contact != regBefore.Contact || reg.Node != b.cfg.Node {
		t.Fatalf("registration after the restart: %+v, %v; want %+v", reg, err, regBefore)
	}
	for _, c := range []*siptest.Call{c1, c2} {
		select {
		case <-c.HungUp():
			t.Fatalf("caller %s hung up by the server across the redis restart", c.CallID())
		default:
		}
	}

	// The agent resumes and takes caller 1 (the longest waiting, on node A),
	// then caller 2 (node B).
	featureCode(ctx, t, b, agent, "*1")
	takes := func(n *testNode, c *siptest.Call, want configs.QueueEntry) {
		t.Helper()
		if _, err := agent.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
			t.Fatalf("agent not rung for caller %s: %v\n%s", want.Caller, err, agent.Log())
		}
		waitAgentState(t, n, "1001", agents.StateOnCall)
		if st, err := n.app.acd.State(ctx, "1001"); err != nil || st.CallID != want.CallID {
			t.Fatalf("agent talks to %+v (%v), want caller %s (call %s)", st, err, want.Caller, want.CallID)
		}
		waitTone(t, "caller "+want.Caller+" hears the agent", c.ReceivedSince, 1000, 10*time.Second)
		hangup(t, c)
		if _, err := agent.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
			t.Fatalf("agent leg not closed after caller %s hung up: %v", want.Caller, err)
		}
		waitAgentState(t, n, "1001", agents.StateWrapUp)
	}
	takes(a, c1, before[0])
	if rest, err := a.queue.Entries(ctx, "inquiry"); err != nil || len(rest) != 1 || rest[0].CallID != before[1].CallID {
		t.Fatalf("queue after the first caller: %+v, %v", rest, err)
	}
	featureCode(ctx, t, b, agent, "*3")
	takes(b, c2, before[1])

	r1, r2 := a.record(c1.CallID()), b.record(c2.CallID())
	for i, r := range []struct {
		rec  tickets.CallRecord
		node string
	}{{r1, a.cfg.Node}, {r2, b.cfg.Node}} {
		rec := r.rec
		if rec.Outcome != "answered" || rec.AgentID != "1001" || rec.Node != r.node || rec.Category != "inquiry" ||
			rec.ConnectedAt.IsZero() || !rec.QueuedAt.Truncate(time.Millisecond).Equal(before[i].EnqueuedAt) {
			t.Fatalf("record of caller %d = %+v", i+1, rec)
		}
	}
	if !r1.ConnectedAt.Before(r2.ConnectedAt) {
		t.Fatalf("caller 1 connected at %s, caller 2 at %s: want caller 1 first", r1.ConnectedAt, r2.ConnectedAt)
	}
	a.waitQueueLen("inquiry", 0)
}

func callers(es []configs.QueueEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Caller
	}
	return out
}

// freeSIPListen is a loopback address whose port is free for both UDP and
// TCP now. With port 0 the node takes a free UDP port and then needs TCP on
// the same number, which a TCP socket already bound to it (a client
// connection, a TIME_WAIT) may hold: on a busy machine that fails a start.
func freeSIPListen(t *testing.T) string {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			return addr
		}
	}
	t.Fatal("no loopback port free for both udp and tcp")
	return ""
}

// privateRedis is a redis-server of the test's own on a free loopback port,
// without persistence, so that it can be killed and started again empty
// without touching the shared Redis.
type privateRedis struct {
	t    *testing.T
	port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	r := &privateRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

// start runs redis-server on the port and waits until it answers PING. A
// start that loses the port (still held a moment after a kill) is retried.
func (r *privateRedis) start() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.run(deadline)
		if err == nil {
			return
		}
		if !strings.Contains(r.output(), "Address already in use") || time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d: %v\n%s", r.port, err, r.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run starts one redis-server process and waits until it answers PING, it
// exits, or the deadline passes.
func (r *privateRedis) run(deadline time.Time) error {
	r.mu.Lock()
	r.out.Reset()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--logfile", "")
	cmd.Stdout, cmd.Stderr = &syncWriter{mu: &r.mu, w: &r.out}, &syncWriter{mu: &r.mu, w: &r.out}
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		return fmt.Errorf("start: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("exited")
		default:
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("no answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends redis-server at once (SIGKILL, like a crash); idempotent.
func (r *privateRedis) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func (r *privateRedis) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// syncWriter serialises the writes of exec's copy goroutines.
type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// waitHeld waits until node n's copy of what it re-publishes (taken at its
// heartbeats) has the agent's registration and its state as want.
func waitHeld(t *testing.T, n *testNode, want agents.AgentState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := n.app.acd.Held()
		ok := len(h.Registrations) == 1 && h.Registrations[0].AgentID == want.ID &&
			len(h.Agents) == 1 && h.Agents[0].ID == want.ID && h.Agents[0].State == want.State
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s holds %+v, want agent %+v", n.cfg.Node, h, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
