package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// hugeCaller returns a caller number no btree index can hold: random text
// does not compress below the index row limit (about 2.7 kB).
func hugeCaller(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// readDeadLetters returns the dead-letter file's entries.
func readDeadLetters(t *testing.T, dir string) []deadLetter {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, deadLetterFile))
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	var out []deadLetter
	for _, line := range splitLines(data) {
		var d deadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("dead-letter line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// TestOversizedRecordIsDeadLettered: a caller number of 3,000 characters
// fails on the caller index (SQLSTATE 54000). The record goes to the
// dead-letter file with its error at once, nothing is spooled, and the next
// record is written straight away instead of queueing behind it.
func TestOversizedRecordIsDeadLettered(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	w := newTestWriter(t, pool, dir, m)
	ctx := context.Background()

	bad := testCall("huge-caller")
	bad.Caller = hugeCaller(3000)
	err := w.SaveCall(ctx, bad)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "54000" {
		t.Fatalf("SaveCall(3,000-character caller) = %v, want SQLSTATE 54000", err)
	}
	if w.Pending() != 0 {
		t.Fatalf("pending = %d: a permanent failure must not be spooled", w.Pending())
	}
	if err := w.SaveCall(ctx, testCall("after-huge")); err != nil {
		t.Fatalf("save after the refused record: %v", err)
	}
	if w.Pending() != 0 {
		t.Fatal("the record after the refused one was spooled instead of written")
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id = 'after-huge'", 1)
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id = 'huge-caller'", 0)

	dead := readDeadLetters(t, dir)
	if len(dead) != 1 || dead[0].SQLState != "54000" || dead[0].Reason == "" {
		t.Fatalf("dead letters %+v, want one with SQLSTATE 54000 and its reason", dead)
	}
	e, err := decodeEntry(dead[0].Line)
	if err != nil || e.Call.ID != "huge-caller" || e.Call.Caller != bad.Caller {
		t.Fatalf("dead letter holds %+v (%v), want the whole refused record", e.Call, err)
	}
	if got := metricValue(t, m.deadLettered.WithLabelValues(kindCall)); got != 1 {
		t.Fatalf("hotline_tickets_records_dead_lettered_total{kind=call} = %v, want 1", got)
	}
}

// TestSpoolReplayDeadLettersPermanentFailures: records spooled during an
// outage, one of them too large for the index, are replayed when the
// database is back; the oversized one is dead-lettered and does not hold up
// those behind it, also for an answered call with its draft ticket.
func TestSpoolReplayDeadLettersPermanentFailures(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	dir := t.TempDir()
	m := NewMetrics(prometheus.NewRegistry())
	w := newTestWriter(t, px.pool(t, url), dir, m)
	ctx := context.Background()
	px.cut()
	ids := callIDs("replay", 6)
	for i, id := range ids {
		c := testCall(id)
		if i == 1 {
			c.Caller = hugeCaller(3000)
		}
		if err := w.SaveCall(ctx, c); err != nil {
			t.Fatalf("save %s during outage: %v", id, err)
		}
	}
	answered := testCall("replay-answered")
	answered.Outcome, answered.AgentID, answered.Caller = "answered", "1001", hugeCaller(3000)
	if err := w.SaveAnsweredCall(ctx, answered, DraftFacts{}); err != nil {
		t.Fatalf("save answered call during outage: %v", err)
	}
	after := testCall("replay-last")
	if err := w.SaveCall(ctx, after); err != nil {
		t.Fatal(err)
	}
	if got := w.Pending(); got != len(ids)+2 {
		t.Fatalf("pending = %d, want %d", got, len(ids)+2)
	}
	px.restore()
	startWriter(t, w)
	waitDrained(t, w)

	// All but the oversized one of ids, and the last record.
	assertCount(t, direct, "SELECT count(*) FROM calls WHERE id LIKE 'replay-%'", len(ids)-1+1)
	assertCount(t, direct, fmt.Sprintf("SELECT count(*) FROM calls WHERE id = '%s'", ids[1]), 0)
	assertCount(t, direct, "SELECT count(*) FROM tickets WHERE call_id = 'replay-answered'", 0)
	dead := readDeadLetters(t, dir)
	if len(dead) != 2 || dead[0].SQLState != "54000" || dead[1].SQLState != "54000" {
		t.Fatalf("dead letters %+v, want the two oversized records with SQLSTATE 54000", dead)
	}
	for kind, want := range map[string]float64{kindCall: 1, kindAnswered: 1} {
		if got := metricValue(t, m.deadLettered.WithLabelValues(kind)); got != want {
			t.Errorf("dead-lettered %s = %v, want %v", kind, got, want)
		}
	}
}

// TestPermanentClassifiesErrors: the server's refusals of a record are
// permanent; a lost connection, a timeout, a shutting-down or overloaded
// server, or a deployment fault (missing grant) make records wait.
func TestPermanentClassifiesErrors(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("insert call x: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"invalid record", fmt.Errorf("%w: no id", errInvalidRecord), true},
		{"index row too large 54000", pg("54000"), true},
		{"value too long 22001", pg("22001"), true},
		{"bad encoding 22021", pg("22021"), true},
		{"check violation 23514", pg("23514"), true},
		{"foreign key 23503", pg("23503"), true},
		{"raise in a trigger P0001", pg("P0001"), true},
		{"connection failure 08006", pg("08006"), false},
		{"admin shutdown 57P01", pg("57P01"), false},
		{"cannot connect now 57P03", pg("57P03"), false},
		{"statement timeout 57014", pg("57014"), false},
		{"too many connections 53300", pg("53300"), false},
		{"disk full 53100", pg("53100"), false},
		{"serialization 40001", pg("40001"), false},
		{"deadlock 40P01", pg("40P01"), false},
		{"lock not available 55P03", pg("55P03"), false},
		{"missing grant 42501", pg("42501"), false},
		{"missing table 42P01", pg("42P01"), false},
		{"internal XX000", pg("XX000"), false},
		{"timeout", fmt.Errorf("insert call x: %w", context.DeadlineExceeded), false},
		{"connect error", &pgconn.ConnectError{}, false},
		{"plain error", errors.New("conn closed"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permanent(tt.err); got != tt.want {
				t.Fatalf("permanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestCheckSpool: /readyz turns degraded once records have waited in the
// spool longer than the backlog limit, and ready again when it is drained.
func TestCheckSpool(t *testing.T) {
	url, _ := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	w, err := NewWriter(px.pool(t, url), WriterOptions{SpoolDir: t.TempDir(), RetryInterval: 50 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, BacklogLimit: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CheckSpool(time.Now()); err != nil {
		t.Fatalf("empty spool: %v", err)
	}
	px.cut()
	if err := w.SaveCall(context.Background(), testCall("backlog")); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckSpool(time.Now()); err != nil {
		t.Fatalf("a record spooled just now must not degrade readiness yet: %v", err)
	}
	err = w.CheckSpool(time.Now().Add(11 * time.Second))
	if err == nil {
		t.Fatal("a record waiting 11 s with a 10 s limit must degrade readiness")
	}
	if want := "1 call records waiting in the spool"; !strings.Contains(err.Error(), want) {
		t.Fatalf("CheckSpool error %q, want it to contain %q", err, want)
	}
	px.restore()
	startWriter(t, w)
	waitDrained(t, w)
	if err := w.CheckSpool(time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("drained spool: %v", err)
	}
}
