package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

// staffTTL is how long a staff number read from the directory counts as
// fresh (S2): a renumbered agent is announced with the new number from the
// second offer after a minute (the first starts the read).
const staffTTL = time.Minute

// staffNumbers caches the directory's staff numbers for the announcement
// (S2), so that no offer waits for PostgreSQL on its way to the agent's
// phone: a number is read when the agent becomes available (warm), and an
// entry older than ttl is still used while a fresh read runs in the
// background.
type staffNumbers struct {
	ttl  time.Duration
	mu   sync.Mutex
	byID map[string]staffEntry
	busy map[string]bool // background reads under way
	bg   sync.WaitGroup  // background reads, waited for by the dispatcher's run
}

type staffEntry struct {
	number string
	at     time.Time
}

// get returns the agent's staff number, or its id when the directory cannot
// say (the caller still hears a number that identifies the agent).
func (c *staffNumbers) get(ctx context.Context, dir *agents.Directory, id string) string {
	c.mu.Lock()
	e, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		c.warm(ctx, dir, id) // refreshes it in the background when old
		return e.number
	}
	if n, ok := c.read(ctx, dir, id); ok {
		return n
	}
	return id
}

// warm reads the agent's number in the background unless one younger than
// ttl is cached or a read is under way.
func (c *staffNumbers) warm(ctx context.Context, dir *agents.Directory, id string) {
	c.mu.Lock()
	e, ok := c.byID[id]
	start := (!ok || time.Since(e.at) >= c.ttl) && !c.busy[id]
	if start {
		c.busy[id] = true
	}
	c.mu.Unlock()
	if start {
		c.bg.Go(func() {
			c.read(ctx, dir, id)
			c.mu.Lock()
			delete(c.busy, id)
			c.mu.Unlock()
		})
	}
}

// read asks the directory and caches the answer; an error leaves the cache
// as it was.
func (c *staffNumbers) read(ctx context.Context, dir *agents.Directory, id string) (string, bool) {
	ag, err := dir.Get(ctx, id)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	c.byID[id] = staffEntry{number: ag.StaffNumber, at: time.Now()}
	c.mu.Unlock()
	return ag.StaffNumber, true
}
