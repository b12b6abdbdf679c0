package agents

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Calls in progress, so that another node can close their records when the
// node holding them dies (their dialogs and RTP die with it):
//
//	<p>live:<callID>        HASH  sip_call_id, caller, dialled, node, started_at,
//	                              answered_at (ms); category, priority (1/0),
//	                              queued_at (ms) once queued
//	<p>node:<node>:calls    SET   callIDs in progress on that node
//
// The reaper (reapScript) takes a dead node's set, adds the agent that was
// talking to each call and when (from <p>agent:<id>), and hands them to
// ACDOptions.OnLost.

// LiveCall is a call in progress on a node, as the cluster knows it.
type LiveCall struct {
	ID, SIPCallID, Caller, Dialled, Node string
	StartedAt, AnsweredAt                time.Time
	// Set once the caller was queued (TrackQueued).
	Category string
	Priority bool
	QueuedAt time.Time
	// Set by the reaper when an agent was talking to the caller (S12: the
	// agent's ticket is still due).
	AgentID     string
	ConnectedAt time.Time
}

func (a *ACD) liveKey(callID string) string  { return a.prefix + "live:" + callID }
func (a *ACD) liveSetKey(node string) string { return a.prefix + "node:" + node + ":calls" }

// liveTTL bounds how long a call's entry outlives a node that died without
// being reaped (every node gone at once): no call lasts a day.
const liveTTL = 24 * time.Hour

// TrackCall notes a call in progress on this node.
func (a *ACD) TrackCall(ctx context.Context, c LiveCall) error {
	k := a.liveKey(c.ID)
	_, err := a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "sip_call_id", c.SIPCallID, "caller", c.Caller, "dialled", c.Dialled, "node", a.node,
			"started_at", msOf(c.StartedAt), "answered_at", msOf(c.AnsweredAt))
		if c.Category != "" {
			p.HSet(ctx, k, "category", c.Category, "priority", boolDigit(c.Priority), "queued_at", msOf(c.QueuedAt))
		}
		p.Expire(ctx, k, liveTTL)
		p.SAdd(ctx, a.liveSetKey(a.node), c.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("track call %s: %w", c.ID, err)
	}
	return nil
}

// TrackQueued adds the queue facts to a tracked call.
func (a *ACD) TrackQueued(ctx context.Context, callID, category string, priority bool, at time.Time) error {
	k := a.liveKey(callID)
	// Only a call still tracked: an entry for a call already ended would
	// never be removed.
	n, err := trackQueuedScript.Run(ctx, a.rdb, []string{k}, category, boolDigit(priority), msOf(at)).Int()
	if err != nil {
		return fmt.Errorf("track queued call %s: %w", callID, err)
	}
	if n == 0 {
		return fmt.Errorf("track queued call %s: not tracked", callID)
	}
	return nil
}

var trackQueuedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'category', ARGV[1], 'priority', ARGV[2], 'queued_at', ARGV[3])
return 1
`)

// UntrackCall forgets a call whose record this node has written.
func (a *ACD) UntrackCall(ctx context.Context, callID string) error {
	_, err := a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, a.liveKey(callID))
		p.SRem(ctx, a.liveSetKey(a.node), callID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("untrack call %s: %w", callID, err)
	}
	return nil
}

// lostCall is one call of a dead node in the reaper's reply.
type lostCall struct {
	ID    string            `json:"id"`
	Live  map[string]string `json:"live"`
	Agent string            `json:"agent"`
	Since string            `json:"since"` // ms: when the agent went on_call
}

// liveCall decodes a reaped call; a field the node had not set stays zero.
func (l lostCall) liveCall() LiveCall {
	f := l.Live
	c := LiveCall{ID: l.ID, SIPCallID: f["sip_call_id"], Caller: f["caller"], Dialled: f["dialled"], Node: f["node"],
		StartedAt: timeOfMs(f["started_at"]), AnsweredAt: timeOfMs(f["answered_at"]),
		Category: f["category"], Priority: f["priority"] == "1", QueuedAt: timeOfMs(f["queued_at"]),
		AgentID: l.Agent}
	if l.Agent != "" {
		c.ConnectedAt = timeOfMs(l.Since)
	}
	return c
}

func msOf(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func timeOfMs(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
