package agents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// S7: priority callers overtake within their queue; FIFO within a priority.
func TestQueueOrder(t *testing.T) {
	tests := []struct {
		name    string
		entries []configs.QueueEntry
		want    []string
	}{
		{
			name: "fifo by enqueue time",
			entries: []configs.QueueEntry{
				{CallID: "c3", Category: "inquiry", EnqueuedAt: at(3)},
				{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "c2", Category: "inquiry", EnqueuedAt: at(2)},
			},
			want: []string{"c1", "c2", "c3"},
		},
		{
			name: "priority overtakes earlier normal callers",
			entries: []configs.QueueEntry{
				{CallID: "n1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "n2", Category: "inquiry", EnqueuedAt: at(2)},
				{CallID: "p1", Category: "inquiry", Priority: true, EnqueuedAt: at(3)},
			},
			want: []string{"p1", "n1", "n2"},
		},
		{
			name: "fifo among priority callers",
			entries: []configs.QueueEntry{
				{CallID: "p2", Category: "inquiry", Priority: true, EnqueuedAt: at(5)},
				{CallID: "n1", Category: "inquiry", EnqueuedAt: at(1)},
				{CallID: "p1", Category: "inquiry", Priority: true, EnqueuedAt: at(4)},
			},
			want: []string{"p1", "p2", "n1"},
		},
		{
			name: "other categories do not interleave",
			entries: []configs.QueueEntry{
				{CallID: "i1", Category: "inquiry", EnqueuedAt: at(2)},
				{CallID: "b1", Category: "business", Priority: true, EnqueuedAt: at(1)},
				{CallID: "i2", Category: "inquiry", EnqueuedAt: at(3)},
			},
			want: []string{"i1", "i2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := newTestQueue(t, QueueOptions{})
			mustEnqueue(t, q, tt.entries...)
			got, err := q.Entries(context.Background(), "inquiry")
			if err != nil {
				t.Fatalf("entries: %v", err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Fatalf("order = %v, want %v", ids(got), tt.want)
			}
			for i, id := range tt.want {
				if pos := mustPosition(t, q, "inquiry", id); pos != i+1 {
					t.Errorf("position of %s = %d, want %d", id, pos, i+1)
				}
			}
			if n, err := q.Len(context.Background(), "inquiry"); err != nil || n != len(tt.want) {
				t.Errorf("len = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
}

// S6: every emergency caller is ahead of callers in the other queues.
func TestPositionCountsEmergencies(t *testing.T) {
	q, _ := newTestQueue(t, QueueOptions{})
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "i1", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "i2", Category: "inquiry", Priority: true, EnqueuedAt: at(2)},
		configs.QueueEntry{CallID: "e1", Category: configs.CategoryEmergency, EnqueuedAt: at(3)},
		configs.QueueEntry{CallID: "e2", Category: configs.CategoryEmergency, EnqueuedAt: at(4)},
		configs.QueueEntry{CallID: "e3", Category: configs.CategoryEmergency, Priority: true, EnqueuedAt: at(5)},
		configs.QueueEntry{CallID: "c1", Category: "complaint", EnqueuedAt: at(6)},
	)
	tests := []struct {
		name     string
		category string
		callID   string
		want     int
	}{
		{"priority inquiry behind three emergencies", "inquiry", "i2", 4},
		{"normal inquiry behind emergencies and priority", "inquiry", "i1", 5},
		{"complaint behind emergencies only", "complaint", "c1", 4},
		{"emergency counts only its own queue", configs.CategoryEmergency, "e1", 2},
		{"priority emergency first", configs.CategoryEmergency, "e3", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustPosition(t, q, tt.category, tt.callID); got != tt.want {
				t.Errorf("position = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEnqueueIdempotent(t *testing.T) {
	ctx := context.Background()
	q, rdb := newTestQueue(t, QueueOptions{})
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "a", Category: "inquiry", EnqueuedAt: at(10)},
		configs.QueueEntry{CallID: "b", Category: "inquiry", EnqueuedAt: at(20)},
	)

	t.Run("same call again keeps the original time", func(t *testing.T) {
		mustEnqueue(t, q, configs.QueueEntry{CallID: "a", Category: "inquiry", EnqueuedAt: at(30)})
		got, err := q.Entries(ctx, "inquiry")
		if err != nil {
			t.Fatalf("entries: %v", err)
		}
		if !slices.Equal(ids(got), []string{"a", "b"}) || !got[0].EnqueuedAt.Equal(at(10)) {
			t.Fatalf("entries = %+v, want a at %s first", got, at(10))
		}
	})
	t.Run("priority change keeps time and moves ahead", func(t *testing.T) {
		mustEnqueue(t, q, configs.QueueEntry{CallID: "b", Category: "inquiry", Priority: true})
		got, err := q.Entries(ctx, "inquiry")
		if err != nil {
			t.Fatalf("entries: %v", err)
		}
		if !slices.Equal(ids(got), []string{"b", "a"}) || !got[0].EnqueuedAt.Equal(at(20)) || !got[0].Priority {
			t.Fatalf("entries = %+v, want priority b at %s first", got, at(20))
		}
	})
	t.Run("category change moves the call", func(t *testing.T) {
		mustEnqueue(t, q, configs.QueueEntry{CallID: "a", Category: "complaint"})
		if _, err := q.Position(ctx, "inquiry", "a"); !errors.Is(err, ErrNotQueued) {
			t.Fatalf("position in old queue: err = %v, want ErrNotQueued", err)
		}
		got, err := q.Entries(ctx, "complaint")
		if err != nil || len(got) != 1 || !got[0].EnqueuedAt.Equal(at(10)) {
			t.Fatalf("complaint entries = %+v, %v; want a at %s", got, err, at(10))
		}
	})
	t.Run("zero time uses the redis clock once", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		mustEnqueue(t, q, configs.QueueEntry{CallID: "z", Category: "business"})
		first, err := q.Entries(ctx, "business")
		if err != nil || len(first) != 1 || first[0].EnqueuedAt.Before(before) {
			t.Fatalf("entries = %+v, %v; want z stamped after %s", first, err, before)
		}
		time.Sleep(5 * time.Millisecond)
		mustEnqueue(t, q, configs.QueueEntry{CallID: "z", Category: "business"})
		again, err := q.Entries(ctx, "business")
		if err != nil || !again[0].EnqueuedAt.Equal(first[0].EnqueuedAt) {
			t.Fatalf("re-enqueue time = %+v, %v; want %s", again, err, first[0].EnqueuedAt)
		}
	})
	t.Run("hash and node set describe the call", func(t *testing.T) {
		h, err := rdb.HGetAll(ctx, q.callKey("b")).Result()
		if err != nil {
			t.Fatalf("hgetall: %v", err)
		}
		want := map[string]string{"caller": "", "category": "inquiry", "priority": "1", "node": "node-a",
			"enqueued_at": fmt.Sprint(at(20).UnixMilli())}
		if fmt.Sprint(h) != fmt.Sprint(want) {
			t.Fatalf("hash = %v, want %v", h, want)
		}
		members, err := rdb.SMembers(ctx, q.nodeKey("node-a")).Result()
		slices.Sort(members)
		if err != nil || !slices.Equal(members, []string{"a", "b", "z"}) {
			t.Fatalf("node set = %v, %v; want [a b z]", members, err)
		}
	})
}

func TestEnqueueRejectsInvalidEntries(t *testing.T) {
	q, _ := newTestQueue(t, QueueOptions{})
	tests := []struct {
		name  string
		entry configs.QueueEntry
	}{
		{"no call id", configs.QueueEntry{Category: "inquiry"}},
		{"no category", configs.QueueEntry{CallID: "x"}},
		{"time before 1970", configs.QueueEntry{CallID: "x", Category: "inquiry", EnqueuedAt: time.Unix(-5, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.Enqueue(context.Background(), tt.entry); !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("err = %v, want ErrInvalidEntry", err)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	q, rdb := newTestQueue(t, QueueOptions{})
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "a", Caller: "13800000001", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "b", Caller: "13800000002", Category: "inquiry", EnqueuedAt: at(2)},
	)
	if err := q.Remove(ctx, "inquiry", "a"); err != nil {
		t.Fatalf("remove a: %v", err)
	}
	if _, err := q.Position(ctx, "inquiry", "a"); !errors.Is(err, ErrNotQueued) {
		t.Fatalf("position after remove: err = %v, want ErrNotQueued", err)
	}
	if pos := mustPosition(t, q, "inquiry", "b"); pos != 1 {
		t.Fatalf("position of b = %d, want 1", pos)
	}
	if n, err := rdb.Exists(ctx, q.callKey("a")).Result(); err != nil || n != 0 {
		t.Fatalf("hash of a still exists: %d, %v", n, err)
	}
	if in, err := rdb.SIsMember(ctx, q.nodeKey("node-a"), "a").Result(); err != nil || in {
		t.Fatalf("a still in node set: %v, %v", in, err)
	}
	tests := []struct{ name, category, callID string }{
		{"already removed", "inquiry", "a"},
		{"never queued", "inquiry", "nobody"},
		{"wrong category", "complaint", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.Remove(ctx, tt.category, tt.callID); err != nil {
				t.Fatalf("remove: %v", err)
			}
		})
	}
	if pos := mustPosition(t, q, "inquiry", "b"); pos != 1 {
		t.Fatalf("b after removal from the wrong category: position %d, want 1", pos)
	}
}

// Many goroutines enqueue at once: every call is queued exactly once and the
// positions agree with the serving order.
func TestConcurrentEnqueue(t *testing.T) {
	ctx := context.Background()
	q, rdb := newTestQueue(t, QueueOptions{})
	const workers, perWorker = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				e := configs.QueueEntry{CallID: fmt.Sprintf("w%02d-%02d", w, i), Category: "inquiry", Priority: (w+i)%5 == 0}
				if err := q.Enqueue(ctx, e); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("enqueue: %v", err)
	}
	got, err := q.Entries(ctx, "inquiry")
	if err != nil || len(got) != workers*perWorker {
		t.Fatalf("entries: %d, %v; want %d", len(got), err, workers*perWorker)
	}
	for i, e := range got {
		if i > 0 && !servedBefore(got[i-1], e) {
			t.Fatalf("entry %d %+v not after %+v", i, e, got[i-1])
		}
		if pos := mustPosition(t, q, "inquiry", e.CallID); pos != i+1 {
			t.Fatalf("position of %s = %d, want %d", e.CallID, pos, i+1)
		}
	}
	if n, err := rdb.SCard(ctx, q.nodeKey("node-a")).Result(); err != nil || n != int64(len(got)) {
		t.Fatalf("node set has %d, %v; want %d", n, err, len(got))
	}
}

// servedBefore reports whether a is correctly ahead of b in one queue.
func servedBefore(a, b configs.QueueEntry) bool {
	if a.Priority != b.Priority {
		return a.Priority
	}
	return !a.EnqueuedAt.After(b.EnqueuedAt)
}

// A Redis restart loses the queues; the node re-publishes its callers with
// their original times and the order comes back.
func TestRepublishAfterRestart(t *testing.T) {
	ctx := context.Background()
	q, rdb := newTestQueue(t, QueueOptions{})
	mustEnqueue(t, q,
		configs.QueueEntry{CallID: "e1", Caller: "110", Category: configs.CategoryEmergency, EnqueuedAt: at(5)},
		configs.QueueEntry{CallID: "i1", Caller: "101", Category: "inquiry", EnqueuedAt: at(1)},
		configs.QueueEntry{CallID: "i2", Caller: "102", Category: "inquiry", Priority: true, EnqueuedAt: at(3)},
		configs.QueueEntry{CallID: "i3", Caller: "103", Category: "inquiry", EnqueuedAt: at(2)},
	)
	before, err := q.Entries(ctx, "inquiry")
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	emergency, err := q.Entries(ctx, configs.CategoryEmergency)
	if err != nil {
		t.Fatalf("emergency entries: %v", err)
	}
	redistest.DeletePrefix(t, rdb, q.prefix)
	if n, err := q.Len(ctx, "inquiry"); err != nil || n != 0 {
		t.Fatalf("len after restart = %d, %v; want 0", n, err)
	}
	// Re-published in a scrambled order, a newcomer already waiting.
	mustEnqueue(t, q, configs.QueueEntry{CallID: "i4", Caller: "104", Category: "inquiry", EnqueuedAt: at(4)})
	republish := append(slices.Clone(emergency), before[2], before[0], before[1])
	if err := q.Republish(ctx, republish); err != nil {
		t.Fatalf("republish: %v", err)
	}
	after, err := q.Entries(ctx, "inquiry")
	if err != nil {
		t.Fatalf("entries after republish: %v", err)
	}
	want := append(slices.Clone(before), configs.QueueEntry{CallID: "i4", Caller: "104", Category: "inquiry", EnqueuedAt: at(4)})
	if !slices.EqualFunc(after, want, sameEntry) {
		t.Fatalf("after republish:\n got %+v\nwant %+v", after, want)
	}
	if pos := mustPosition(t, q, "inquiry", "i1"); pos != 3 {
		t.Fatalf("position of i1 = %d, want 3 (emergency and priority ahead)", pos)
	}
	if err := q.Republish(ctx, []configs.QueueEntry{{CallID: "x", Category: "inquiry"}}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("republish without time: err = %v, want ErrInvalidEntry", err)
	}
}

func sameEntry(a, b configs.QueueEntry) bool {
	return a.CallID == b.CallID && a.Caller == b.Caller && a.Category == b.Category &&
		a.Priority == b.Priority && a.EnqueuedAt.Equal(b.EnqueuedAt)
}
