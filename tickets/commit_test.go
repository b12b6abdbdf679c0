package tickets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func newBatchWriter(t *testing.T, pool *pgxpool.Pool, dir string, m *Metrics, window time.Duration) *Writer {
	t.Helper()
	w, err := NewWriter(pool, WriterOptions{SpoolDir: dir, RetryInterval: 50 * time.Millisecond,
		WriteTimeout: time.Second, Metrics: m, BatchWindow: window})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	return w
}

func answeredCall(id string) CallRecord {
	r := testCall(id)
	r.Outcome, r.AgentID, r.WaitSeconds, r.RecordingPath = "answered", "1001", 12.4, "rec/"+id+".wav"
	return r
}

// saveAll saves records concurrently, one goroutine per record as the
// hang-ups of many calls do, and returns each save's error by id.
func saveAll(w *Writer, recs []CallRecord, facts func(CallRecord) DraftFacts) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() {
			var err error
			if facts == nil {
				err = w.SaveCall(context.Background(), r)
			} else {
				err = w.SaveAnsweredCall(context.Background(), r, facts(r))
			}
			mu.Lock()
			errs[r.ID] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

func histogram(t *testing.T, h prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	var out dto.Metric
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.Histogram.GetSampleCount(), out.Histogram.GetSampleSum()
}

// TestGroupCommitWritesConcurrentSavesTogether: 120 calls ending at once
// are written in a handful of round trips, each call with its draft ticket
// and created event exactly once (S12), and a second save of the same calls
// changes nothing.
func TestGroupCommitWritesConcurrentSavesTogether(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	m := NewMetrics(prometheus.NewRegistry())
	w := newBatchWriter(t, pool, t.TempDir(), m, 50*time.Millisecond)
	var told sync.Map // call id → times OnDraft was told
	w.opts.OnDraft = func(_ context.Context, d DraftWritten) {
		v, _ := told.LoadOrStore(d.CallID, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
	}
	const n = 120
	var recs []CallRecord
	for _, id := range callIDs("group", n) {
		recs = append(recs, answeredCall(id))
	}
	for round := range 2 {
		for id, err := range saveAll(w, recs, func(CallRecord) DraftFacts { return DraftFacts{} }) {
			if err != nil {
				t.Fatalf("round %d: save %s: %v", round, id, err)
			}
		}
	}
	if w.Pending() != 0 {
		t.Fatalf("pending = %d: nothing may be spooled with the database up", w.Pending())
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id LIKE 'group-%'", n)
	assertCount(t, pool, `SELECT count(*) FROM calls c JOIN tickets t ON t.call_id = c.id
		WHERE c.id LIKE 'group-%' AND t.status = 'draft' AND t.owner_agent = '1001' AND t.wait_seconds = 12
		AND t.entry_deadline = c.ended_at + interval '5 minutes' AND t.recording_path = 'rec/' || c.id || '.wav'`, n)
	assertCount(t, pool, `SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.call_id LIKE 'group-%' AND e.kind = 'created' AND e.data->>'call_id' = t.call_id`, n)
	// The caller's language reaches the record and the draft, and the
	// panel is told of each draft once (S12), in groups as alone.
	assertCount(t, pool, `SELECT count(*) FROM calls c JOIN tickets t ON t.call_id = c.id
		WHERE c.id LIKE 'group-%' AND c.language = 'zh-CN' AND t.language = 'zh-CN'`, n)
	toldOnce := 0
	told.Range(func(_, v any) bool {
		if v.(*atomic.Int32).Load() == 1 {
			toldOnce++
		}
		return true
	})
	if toldOnce != n {
		t.Fatalf("OnDraft told once of %d drafts, want all %d", toldOnce, n)
	}
	want := recs[7]
	want.AgentID, want.WaitSeconds, want.RecordingPath = "", 0, "" // loadCall reads the call's own columns
	if got := loadCall(t, pool, "group-007"); !sameCall(got, want) {
		t.Fatalf("record written in a group:\n got  %+v\n want %+v", got, want)
	}
	assertCount(t, pool, `SELECT count(*) FROM calls WHERE id LIKE 'group-%' AND agent_id = '1001' AND wait_seconds = 12.4
		AND recording_path = 'rec/' || id || '.wav' AND connected_at IS NULL AND transferred_to IS NULL`, n)
	commits, records := histogram(t, m.batchSize)
	if records != 2*n || commits > 2*n/10 {
		t.Fatalf("%d records in %d commits: want %d records in at most %d", int(records), commits, 2*n, 2*n/10)
	}
	if got := metricValue(t, m.created.WithLabelValues(ChannelPhone)); got != n {
		t.Fatalf("drafts created metric = %v, want %d (the second round creates none)", got, n)
	}
	if got := metricValue(t, m.written.WithLabelValues(kindAnswered)); got != 2*n {
		t.Fatalf("written metric = %v, want %d", got, 2*n)
	}
}

// TestGroupCommitIsolatesAPoisonedRecord: one record of a group too large
// for the caller index (SQLSTATE 54000) and one whose draft takes a
// reference already used (23505) fail alone: each goes to the dead-letter
// file with its metric, neither leaves a record without its draft or a draft
// without its record, and every other call of the group is written.
func TestGroupCommitIsolatesAPoisonedRecord(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	w := newBatchWriter(t, pool, dir, m, 200*time.Millisecond)
	if err := w.SaveAnsweredCall(context.Background(), answeredCall("holder"), DraftFacts{Ref: "T20200101-000001"}); err != nil {
		t.Fatal(err)
	}
	const n = 30
	var recs []CallRecord
	for i, id := range callIDs("poison", n) {
		r := answeredCall(id)
		if i == 11 {
			r.Caller = hugeCaller(3000)
		}
		recs = append(recs, r)
	}
	errs := saveAll(w, recs, func(r CallRecord) DraftFacts {
		if r.ID == "poison-023" {
			return DraftFacts{Ref: "T20200101-000001"}
		}
		return DraftFacts{}
	})
	for id, err := range errs {
		var pgErr *pgconn.PgError
		switch id {
		case "poison-011":
			if !errors.As(err, &pgErr) || pgErr.Code != "54000" {
				t.Errorf("save of the oversized record = %v, want SQLSTATE 54000", err)
			}
		case "poison-023":
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
				t.Errorf("save of the draft with a taken reference = %v, want SQLSTATE 23505", err)
			}
		default:
			if err != nil {
				t.Errorf("save %s failed with a poisoned record in its group: %v", id, err)
			}
		}
	}
	if got := metricValue(t, m.batchSplits); got < 1 {
		t.Fatal("no group commit was split: the poisoned records were never in a group, the test proves nothing")
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id LIKE 'poison-%'", n-2)
	assertCount(t, pool, "SELECT count(*) FROM tickets WHERE call_id LIKE 'poison-%'", n-2)
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id IN ('poison-011', 'poison-023')", 0)
	assertCount(t, pool, `SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.call_id LIKE 'poison-%' AND e.kind = 'created'`, n-2)
	dead := readDeadLetters(t, dir)
	codes := map[string]bool{}
	for _, d := range dead {
		codes[d.SQLState] = true
		if e, err := decodeEntry(d.Line); err != nil || e.Kind != kindAnswered || e.Draft == nil {
			t.Errorf("dead letter %+v does not hold the whole answered call (%v)", d, err)
		}
	}
	if len(dead) != 2 || !codes["54000"] || !codes["23505"] {
		t.Fatalf("dead letters %+v, want the two poisoned records (54000, 23505)", dead)
	}
	if got := metricValue(t, m.deadLettered.WithLabelValues(kindAnswered)); got != 2 {
		t.Fatalf("dead-lettered answered calls = %v, want 2", got)
	}
	if w.Pending() != 0 {
		t.Fatalf("pending = %d: a refused record must not be spooled", w.Pending())
	}
}

// TestGroupCommitAcrossAnOutage: calls end without pause while the
// database goes away and comes back (every connection cut, as in a
// restart). Every record and draft is written exactly once in the end:
// groups cut short are spooled whole and replayed.
func TestGroupCommitAcrossAnOutage(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	m := NewMetrics(prometheus.NewRegistry())
	w := newBatchWriter(t, px.pool(t, url), t.TempDir(), m, 10*time.Millisecond)
	startWriter(t, w)

	var saved, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := answeredCall(fmt.Sprintf("restart-%d-%04d", g, i))
				if err := w.SaveAnsweredCall(context.Background(), r, DraftFacts{}); err != nil {
					failed.Add(1)
					t.Errorf("save %s: %v", r.ID, err)
					return
				}
				saved.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	px.cut()
	time.Sleep(500 * time.Millisecond)
	px.restore()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	waitDrained(t, w)

	n := int(saved.Load())
	if metricValue(t, m.spooled.WithLabelValues(kindAnswered)) == 0 {
		t.Fatal("nothing was spooled: the outage did not happen during the saves")
	}
	assertCount(t, direct, "SELECT count(*) FROM calls WHERE id LIKE 'restart-%'", n)
	assertCount(t, direct, "SELECT count(*) FROM tickets WHERE call_id LIKE 'restart-%'", n)
	assertCount(t, direct, `SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.call_id LIKE 'restart-%' AND e.kind = 'created'`, n)
}

// TestGroupCommitMixesKinds: calls without a ticket, answered calls and
// callbacks of one group are all written.
func TestGroupCommitMixesKinds(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	m := NewMetrics(prometheus.NewRegistry())
	w := newBatchWriter(t, pool, t.TempDir(), m, 100*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 10 {
		wg.Go(func() { errs <- w.SaveCall(context.Background(), testCall(fmt.Sprintf("mix-call-%d", i))) })
		wg.Go(func() { errs <- w.SaveCallback(context.Background(), testCallback(fmt.Sprintf("mix-cb-%d", i))) })
		wg.Go(func() {
			errs <- w.SaveAnsweredCall(context.Background(), answeredCall(fmt.Sprintf("mix-ans-%d", i)), DraftFacts{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id LIKE 'mix-%'", 20)
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id LIKE 'mix-call-%' AND queued_at IS NOT NULL AND wait_seconds = 0", 10)
	assertCount(t, pool, "SELECT count(*) FROM callback_requests WHERE call_id LIKE 'mix-cb-%'", 10)
	assertCount(t, pool, "SELECT count(*) FROM tickets WHERE call_id LIKE 'mix-ans-%'", 10)
	if commits, _ := histogram(t, m.batchSize); commits > 5 {
		t.Fatalf("30 saves at once took %d commits, want a few", commits)
	}
}

func TestWriterBatchOptions(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	for _, o := range []WriterOptions{
		{SpoolDir: t.TempDir(), BatchWindow: -time.Millisecond},
		{SpoolDir: t.TempDir(), BatchWindow: 2 * time.Second},
		{SpoolDir: t.TempDir(), BatchMax: maxBatchMax + 1},
	} {
		if _, err := NewWriter(pool, o); err == nil {
			t.Errorf("NewWriter(%+v) accepted", o)
		}
	}
	w, err := NewWriter(pool, WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if w.group.window != defaultBatchWindow || w.group.max != defaultBatchMax {
		t.Fatalf("batch defaults not applied: %+v", w.group)
	}
}

// TestGroupCommitAt250CallsPerSecond: calls ending at 250 a second for 2 s,
// each saving its record and draft when it ends, cost PostgreSQL at most one
// commit per batch window (100 ms: 10 a second), not 250; none is spooled.
func TestGroupCommitAt250CallsPerSecond(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	m := NewMetrics(prometheus.NewRegistry())
	w := newBatchWriter(t, pool, t.TempDir(), m, defaultBatchWindow)
	const rate, n = 250, 500
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		wg.Go(func() {
			if err := w.SaveAnsweredCall(context.Background(), answeredCall(fmt.Sprintf("rate-%04d", i)), DraftFacts{}); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	commits, records := histogram(t, m.batchSize)
	t.Logf("%d calls in %v: %d group commits (%.1f a second), %.1f records each", n, took.Round(time.Millisecond),
		commits, float64(commits)/took.Seconds(), records/float64(commits))
	if failed.Load() > 0 || w.Pending() > 0 || records != n {
		t.Fatalf("%d saves failed, %d spooled, %v records committed; want all %d written", failed.Load(), w.Pending(), records, n)
	}
	if limit := took.Seconds()/defaultBatchWindow.Seconds() + 5; float64(commits) > limit {
		t.Fatalf("%d group commits in %v: more than one per batch window (%.0f)", commits, took, limit)
	}
	assertCount(t, pool, "SELECT count(*) FROM tickets WHERE call_id LIKE 'rate-%'", n)
}
