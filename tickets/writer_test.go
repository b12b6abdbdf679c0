package tickets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// startWriter runs w until the test ends.
func startWriter(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("writer run: %v", err)
		}
	})
}

func newTestWriter(t *testing.T, pool *pgxpool.Pool, dir string, m *Metrics) *Writer {
	t.Helper()
	w, err := NewWriter(pool, WriterOptions{SpoolDir: dir, RetryInterval: 50 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	return w
}

// waitDrained waits until w has nothing pending.
func waitDrained(t *testing.T, w *Writer) {
	t.Helper()
	poll.Until(t, "the spool to drain", func() bool { return w.Pending() == 0 })
}

// TestWriterSurvivesOutage cuts PostgreSQL off (through a proxy), saves
// records, restores it and expects every record exactly once.
func TestWriterSurvivesOutage(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	m := NewMetrics(prometheus.NewRegistry())
	w := newTestWriter(t, px.pool(t, url), t.TempDir(), m)
	ctx := context.Background()
	if err := w.SaveCall(ctx, testCall("before")); err != nil {
		t.Fatalf("save before outage: %v", err)
	}
	startWriter(t, w)

	px.cut()
	const n = 25
	ids := callIDs("outage", n)
	began := time.Now()
	for _, id := range ids {
		if err := w.SaveCall(ctx, testCall(id)); err != nil {
			t.Fatalf("save call during outage: %v", err)
		}
		if err := w.SaveCallback(ctx, testCallback(id)); err != nil {
			t.Fatalf("save callback during outage: %v", err)
		}
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("%d saves during the outage took %s: they must not wait for the database", 2*n, took)
	}
	if got := w.Pending(); got != 2*n {
		t.Fatalf("pending during outage = %d, want %d", got, 2*n)
	}
	time.Sleep(200 * time.Millisecond) // a few failed retries
	px.restore()
	waitDrained(t, w)

	assertCount(t, direct, "SELECT count(*) FROM calls WHERE id LIKE 'outage-%'", n)
	assertCount(t, direct, "SELECT count(DISTINCT id) FROM calls WHERE id LIKE 'outage-%'", n)
	assertCount(t, direct, "SELECT count(*) FROM callback_requests WHERE call_id LIKE 'outage-%'", n)
	if got := loadCall(t, direct, ids[7]); !sameCall(got, testCall(ids[7])) {
		t.Fatalf("record after outage:\n got  %+v\n want %+v", got, testCall(ids[7]))
	}
	wantMetrics := []struct {
		name string
		c    prometheus.Metric
		want float64
	}{
		{"spooled calls", m.spooled.WithLabelValues(kindCall), n},
		{"written calls", m.written.WithLabelValues(kindCall), n + 1},
		{"written callbacks", m.written.WithLabelValues(kindCallback), n},
		{"pending", m.pending, 0},
	}
	for _, c := range wantMetrics {
		if got := metricValue(t, c.c); got != c.want {
			t.Errorf("metric %s = %v, want %v", c.name, got, c.want)
		}
	}
	if metricValue(t, m.writeErrors.WithLabelValues(kindCall)) < 1 {
		t.Error("write errors during the outage were not counted")
	}
	if _, err := os.Stat(filepath.Join(w.opts.SpoolDir, spoolFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool file still there after draining: %v", err)
	}
}

// TestSpoolSurvivesRestart spools records with the database unreachable,
// then a new Writer on the same folder (a restarted process) writes them.
func TestSpoolSurvivesRestart(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	dir := t.TempDir()
	px.cut()
	first := newTestWriter(t, px.pool(t, url), dir, nil)
	ids := callIDs("restart", 5)
	for _, id := range ids {
		if err := first.SaveCall(context.Background(), testCall(id)); err != nil {
			t.Fatalf("save: %v", err)
		}
	}
	if first.Pending() != len(ids) {
		t.Fatalf("pending = %d, want %d", first.Pending(), len(ids))
	}

	second := newTestWriter(t, direct, dir, nil)
	if second.Pending() != len(ids) {
		t.Fatalf("restarted writer sees %d pending, want %d", second.Pending(), len(ids))
	}
	startWriter(t, second)
	waitDrained(t, second)
	assertCount(t, direct, "SELECT count(*) FROM calls WHERE id LIKE 'restart-%'", len(ids))
}

// TestDoubleSaveWritesOnce covers a retry by the caller and a crash between
// writing a spooled record and removing it from the spool.
func TestDoubleSaveWritesOnce(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	w := newTestWriter(t, pool, t.TempDir(), nil)
	ctx := context.Background()
	for range 2 {
		if err := w.SaveCall(ctx, testCall("twice")); err != nil {
			t.Fatal(err)
		}
		if err := w.SaveCallback(ctx, testCallback("twice")); err != nil {
			t.Fatal(err)
		}
	}
	// The same records again from the spool, as after a crash.
	c, cb := testCall("twice"), testCallback("twice")
	for _, e := range []spoolEntry{{Kind: kindCall, Call: &c}, {Kind: kindCallback, Callback: &cb}} {
		if err := w.spool.add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if w.Pending() != 0 {
		t.Fatalf("pending after drain = %d", w.Pending())
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id = 'twice'", 1)
	assertCount(t, pool, "SELECT count(*) FROM callback_requests WHERE call_id = 'twice'", 1)
}

// TestDeadLettersDoNotBlockTheSpool: a line the database will never take
// moves to the dead-letter file and the records after it are still written.
func TestDeadLettersDoNotBlockTheSpool(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	dir := t.TempDir()
	good := `{"kind":"call","call":{"ID":"after-bad","SIPCallID":"s","Caller":"1","Dialled":"12345","Node":"n",` +
		`"StartedAt":"2026-03-02T09:00:00Z","EndedAt":"2026-03-02T09:01:00Z","Outcome":"failed","HungUpBy":"system"}}`
	bad := strings.Replace(good, `"failed"`, `"lost"`, 1)
	spool := "not json\n" + bad + "\n" + good + "\n"
	if err := os.WriteFile(filepath.Join(dir, spoolFile), []byte(spool), 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	w := newTestWriter(t, pool, dir, m)
	if err := w.drain(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id = 'after-bad'", 1)
	dead, err := os.ReadFile(filepath.Join(dir, deadLetterFile))
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	if lines := splitLines(dead); len(lines) != 2 || !strings.Contains(string(dead), "not json") {
		t.Fatalf("dead-letter file has %d lines, want 2 with the raw text:\n%s", len(lines), dead)
	}
	if got := metricValue(t, m.deadLettered.WithLabelValues(kindCall)); got != 1 {
		t.Fatalf("dead-lettered calls metric = %v, want 1", got)
	}
}

func TestSaveRefusesInvalidRecords(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	w := newTestWriter(t, pool, t.TempDir(), nil)
	bad := testCall("bad")
	bad.Outcome = "lost"
	if err := w.SaveCall(context.Background(), bad); !errors.Is(err, errInvalidRecord) {
		t.Fatalf("SaveCall(bad outcome) = %v, want an invalid record error", err)
	}
	if w.Pending() != 0 {
		t.Fatal("an invalid record must not be spooled: it would never be written")
	}
}

func TestNewWriterOptions(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	tests := []struct {
		name string
		pool *pgxpool.Pool
		opts WriterOptions
		want string
	}{
		{"nil pool", nil, WriterOptions{SpoolDir: t.TempDir()}, "database pool is required"},
		{"no spool dir", pool, WriterOptions{}, "spool dir is required"},
		{"negative interval", pool, WriterOptions{SpoolDir: t.TempDir(), RetryInterval: -time.Second}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWriter(tt.pool, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewWriter error %v, want one containing %q", err, tt.want)
			}
		})
	}
	w, err := NewWriter(pool, WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if w.opts.RetryInterval != defaultRetryInterval || w.opts.WriteTimeout != defaultWriteTimeout {
		t.Fatalf("defaults not applied: %+v", w.opts)
	}
}

func TestRunTwiceIsRefused(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	w := newTestWriter(t, pool, t.TempDir(), nil)
	startWriter(t, w)
	poll.Until(t, "the writer to start", w.running.Load)
	if err := w.Run(context.Background()); err == nil {
		t.Fatal("a second Run on the same writer must fail")
	}
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}
