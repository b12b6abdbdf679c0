package tickets

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets/pgtest"
)

// answeredTestCall is testCall answered by agent 1001.
func answeredTestCall(id string) CallRecord {
	r := testCall(id)
	r.Outcome, r.AgentID, r.ConnectedAt = "answered", "1001", r.QueuedAt.Add(10*time.Second)
	return r
}

// S12: the writer tells OnDraft of each draft once committed, written at
// once or from the spool after an outage, never twice for a retry.
func TestWriterOnDraft(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	var mu sync.Mutex
	var got []DraftWritten
	w, err := NewWriter(px.pool(t, url), WriterOptions{SpoolDir: t.TempDir(), RetryInterval: 50 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, EntryWindow: 5 * time.Minute,
		OnDraft: func(_ context.Context, d DraftWritten) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, d)
		}})
	if err != nil {
		t.Fatal(err)
	}
	startWriter(t, w)
	ctx := context.Background()
	first := answeredTestCall("draft-now")
	if err := w.SaveAnsweredCall(ctx, first, DraftFacts{}); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveAnsweredCall(ctx, first, DraftFacts{}); err != nil { // a retry
		t.Fatal(err)
	}
	px.cut()
	if err := w.SaveAnsweredCall(ctx, answeredTestCall("draft-spooled"), DraftFacts{Ref: "T20260302-900001"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 {
		t.Fatalf("drafts told during the outage: %+v, want only the first", got)
	}
	mu.Unlock()
	px.restore()
	waitDrained(t, w)
	mu.Lock()
	defer mu.Unlock()
	var ref string
	if err := direct.QueryRow(ctx, `SELECT ref FROM tickets WHERE call_id = 'draft-now'`).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	want := []DraftWritten{
		{CallID: "draft-now", AgentID: "1001", Ref: ref, EntryDeadline: first.EndedAt.Add(5 * time.Minute)},
		{CallID: "draft-spooled", AgentID: "1001", Ref: "T20260302-900001", EntryDeadline: first.EndedAt.Add(5 * time.Minute)},
	}
	if len(got) != 2 {
		t.Fatalf("drafts told = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].CallID != want[i].CallID || got[i].AgentID != want[i].AgentID || got[i].Ref != want[i].Ref ||
			!got[i].EntryDeadline.Equal(want[i].EntryDeadline) {
			t.Fatalf("draft %d told = %+v, want %+v", i, got[i], want[i])
		}
	}
}
