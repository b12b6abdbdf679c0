package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
)

// The Match batch doubles while each Match fills it (a backlog), up to
// matchBurst × the base, and falls back to the base once one does not.
func TestNextBatch(t *testing.T) {
	const base = 10
	steps := []struct{ made, want int }{
		{10, 20}, // full: double, at the cap (2 × 10)
		{20, 20}, // full at the cap: stays
		{19, 10}, // not full: back to the base
		{0, 10},  // nothing to match
		{10, 20},
		{3, 10},
	}
	batch := base
	for i, s := range steps {
		got := nextBatch(batch, s.made, base, matchBurst)
		if got != s.want {
			t.Fatalf("step %d: batch %d, made %d → %d, want %d", i, batch, s.made, got, s.want)
		}
		batch = got
	}
}

// S2: staff numbers come from the directory, read when the agent becomes
// available (warm) so that no offer waits for PostgreSQL; an old entry is
// announced while a fresh read runs, and an unknown agent is announced by id.
func TestStaffNumbers(t *testing.T) {
	ctx := context.Background()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	dir := agents.NewDirectory(pool, "hotline")
	if err := dir.Add(ctx, agents.Agent{ID: "1001", DisplayName: "Li Na", StaffNumber: "8001",
		Categories: []string{"inquiry"}, Role: agents.RoleAgent}, "s3cret-pass"); err != nil {
		t.Fatalf("add agent: %v", err)
	}
	c := staffNumbers{ttl: time.Hour, byID: map[string]staffEntry{}, busy: map[string]bool{}}
	c.warm(ctx, dir, "1001")
	c.bg.Wait()
	renumber := func(n string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `UPDATE agents SET staff_number = $1 WHERE id = '1001'`, n); err != nil {
			t.Fatalf("renumber: %v", err)
		}
	}
	renumber("8002") // the warmed entry is fresh: no read
	if got := c.get(ctx, dir, "1001"); got != "8001" {
		t.Fatalf("staff number after warm = %q, want 8001", got)
	}
	c.bg.Wait()
	if got := c.get(ctx, dir, "1001"); got != "8001" {
		t.Fatalf("fresh entry re-read: %q, want 8001 until the ttl", got)
	}
	c.ttl = 0 // now old: announced once more, read again meanwhile
	if got := c.get(ctx, dir, "1001"); got != "8001" {
		t.Fatalf("old entry = %q, want 8001 while it is read again", got)
	}
	c.bg.Wait()
	if got := c.get(ctx, dir, "1001"); got != "8002" {
		t.Fatalf("after the background read = %q, want 8002", got)
	}
	c.bg.Wait()
	if got := c.get(ctx, dir, "9999"); got != "9999" {
		t.Fatalf("unknown agent = %q, want its id", got)
	}
}
