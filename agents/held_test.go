package agents

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
)

// What a node holds survives a Redis restart. Every heartbeat that
// finds Redis as before copies the registrations the node took and those
// agents' states (not another node's); after the restart the copy is still
// the one from before, Restore brings the registrations back for the rest of
// their lifetime (a fresher REGISTER made meanwhile wins) and Republish the
// states.
func TestHeldAcrossRedisRestart(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	locs := NewLocations(e.rdb, e.prefix, LocationsOptions{})
	reg := func(id, node, contact string, expires time.Duration, at time.Time) Registration {
		r := Registration{AgentID: id, Contact: contact, Transport: "UDP", Node: node, Expires: expires, RegisteredAt: at}
		if err := locs.Register(ctx, r); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		return r
	}
	now := time.Now()
	mine := reg("1001", "node-a", "sip:1001@127.0.0.1:5062", time.Hour, now)
	reg("1002", "node-b", "sip:1002@127.0.0.1:5064", time.Hour, now) // another node's
	soon := reg("1003", "node-a", "sip:1003@127.0.0.1:5066", 1500*time.Millisecond, now)
	e.login(t, "1001", "inquiry", "complaint")
	e.clock.Add(time.Minute)
	e.login(t, "1002", "inquiry")
	e.must(t, "pause", e.Pause(ctx, "1001", "lunch"))
	before := e.state(t, "1001")

	restarted, err := e.Heartbeat(ctx)
	e.must(t, "heartbeat", err)
	e.afterBeat(ctx, restarted)
	h := e.Held()
	if !slices.Equal(regIDs(h.Registrations), []string{"1001", "1003"}) || len(h.Agents) != 1 ||
		!sameAgentState(h.Agents[0], before) {
		t.Fatalf("held after a heartbeat: %+v\nwant registrations 1001, 1003 and agent %+v", h, before)
	}

	redistest.DeletePrefix(t, e.rdb, e.prefix) // the restart: every key gone
	// A copy taken now (no heartbeat saw this Redis yet) is not kept.
	e.must(t, "copy", e.copyHeld(ctx))
	if restarted, err := e.Heartbeat(ctx); err != nil || !restarted {
		t.Fatalf("heartbeat after the restart = %v, %v; want restarted", restarted, err)
	}
	if got := e.Held(); !slices.Equal(regIDs(got.Registrations), []string{"1001", "1003"}) || len(got.Agents) != 1 {
		t.Fatalf("held after the restart: %+v; want the copy from before", got)
	}

	time.Sleep(time.Until(soon.RegisteredAt.Add(soon.Expires))) // 1003's binding has expired
	n, err := locs.Restore(ctx, h.Registrations)
	if err != nil || n != 1 {
		t.Fatalf("restore = %d, %v; want 1 (1003 expired)", n, err)
	}
	got, err := locs.Lookup(ctx, "1001")
	if err != nil || got.Contact != mine.Contact || got.Node != "node-a" || !got.RegisteredAt.Equal(mine.RegisteredAt) {
		t.Fatalf("restored registration = %+v, %v; want %+v", got, err, mine)
	}
	left := time.Until(mine.RegisteredAt.Add(mine.Expires))
	if ttl := e.rdb.PTTL(ctx, e.prefix+"reg:1001").Val(); ttl < left-5*time.Second || ttl > left+100*time.Millisecond {
		t.Fatalf("restored registration lives %s: want the rest of its hour, %s", ttl, left)
	}
	if _, err := locs.Lookup(ctx, "1003"); err == nil {
		t.Fatal("an expired registration was restored")
	}
	e.must(t, "republish", e.Republish(ctx, nil, h.Agents))
	if s := e.state(t, "1001"); !sameAgentState(s, before) {
		t.Fatalf("agent after republish: %+v\nwant %+v", s, before)
	}
	if _, err := e.State(ctx, "1002"); err == nil {
		t.Fatal("node-a re-published node-b's agent")
	}

	// The phone registered again before the restore: its binding stays.
	fresh := reg("1001", "node-a", "sip:1001@127.0.0.1:5099", time.Hour, time.Now())
	if n, err := locs.Restore(ctx, h.Registrations); err != nil || n != 0 {
		t.Fatalf("restore over a fresh registration = %d, %v; want 0", n, err)
	}
	if got, err := locs.Lookup(ctx, "1001"); err != nil || got.Contact != fresh.Contact {
		t.Fatalf("registration after a second restore = %+v, %v; want %s", got, err, fresh.Contact)
	}
}

func regIDs(regs []Registration) []string {
	out := make([]string, len(regs))
	for i, r := range regs {
		out[i] = r.AgentID
	}
	slices.Sort(out)
	return out
}
