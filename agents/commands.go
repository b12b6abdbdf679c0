package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Command asks the node holding a call to act on it: a panel request may
// reach any node, but only the caller's node holds the conversation.
type Command struct {
	Type   string `json:"type"` // CommandTransfer
	Agent  string `json:"agent"`
	CallID string `json:"call_id"`
	Kind   string `json:"kind,omitempty"`   // transfer: queue, agent or number
	Target string `json:"target,omitempty"` // transfer: category, agent id or specialist name
}

// CommandTransfer transfers the agent's caller (S10).
const CommandTransfer = "transfer"

func (a *ACD) commandsKey(node string) string { return a.prefix + "node:" + node + ":commands" }

// SendCommand publishes c to node's command channel; delivered is false
// when no node listens there (the node is gone).
func (a *ACD) SendCommand(ctx context.Context, node string, c Command) (delivered bool, err error) {
	b, err := json.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("encode %s command: %w", c.Type, err)
	}
	n, err := a.rdb.Publish(ctx, a.commandsKey(node), b).Result()
	if err != nil {
		return false, fmt.Errorf("send %s command to node %s: %w", c.Type, node, err)
	}
	return n > 0, nil
}

// Commands delivers the commands sent to this node until ctx is done, then
// closes the channel.
func (a *ACD) Commands(ctx context.Context) (<-chan Command, error) {
	return subscribe(ctx, a, a.commandsKey(a.node), "command", 16, func(p string) (Command, error) {
		var c Command
		err := json.Unmarshal([]byte(p), &c)
		return c, err
	})
}

// wallGap is the shortest time between two "wall" hints of one node: a
// burst of callers joining costs one refresh of every wall, and the wall
// still follows a change within a second.
const wallGap = 250 * time.Millisecond

// wallHints coalesces the queue changes of this node into "wall" events.
type wallHints struct {
	kick chan struct{}
}

// WallChanged asks for a "wall" event soon; it never blocks (the call path
// calls it). Hints arriving within wallGap of the last event make one more.
func (a *ACD) WallChanged() {
	select {
	case a.wall.kick <- struct{}{}:
	default:
	}
}

// runWall publishes the coalesced "wall" hints until ctx is done.
func (a *ACD) runWall(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wall.kick:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := a.Publish(pctx, Event{Type: EventWall}); err != nil && ctx.Err() == nil {
			a.log.Warn("wall hint not published", "err", err)
		}
		cancel()
		t := time.NewTimer(wallGap)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
