package tickets

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testCall returns a complete call record; PostgreSQL keeps microseconds.
func testCall(id string) CallRecord {
	start := time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	return CallRecord{
		ID: id, SIPCallID: "sip-" + id, Caller: "13800138000", Dialled: "12345",
		Category: "complaint", Priority: true, Node: "node-a",
		StartedAt: start, AnsweredAt: start.Add(time.Second),
		QueuedAt: start.Add(20 * time.Second), EndedAt: start.Add(95 * time.Second),
		Outcome: "abandoned_in_queue", HungUpBy: "caller", Language: "zh-CN",
	}
}

func testCallback(callID string) configs.CallbackRequest {
	return configs.CallbackRequest{CallID: callID, Caller: "13800138000", Category: "business",
		Reason: "max_wait", RequestedAt: time.Date(2026, 3, 2, 9, 35, 0, 0, time.UTC)}
}

// loadCall reads a call record back from the database.
func loadCall(t *testing.T, pool *pgxpool.Pool, id string) CallRecord {
	t.Helper()
	var (
		r                    CallRecord
		category             *string
		answeredAt, queuedAt *time.Time
	)
	err := pool.QueryRow(context.Background(), `SELECT id, sip_call_id, caller, dialled, category,
		priority, node, started_at, answered_at, queued_at, ended_at, outcome, hung_up_by, language
		FROM calls WHERE id = $1`, id).Scan(&r.ID, &r.SIPCallID, &r.Caller, &r.Dialled, &category,
		&r.Priority, &r.Node, &r.StartedAt, &answeredAt, &queuedAt, &r.EndedAt, &r.Outcome, &r.HungUpBy, &r.Language)
	if err != nil {
		t.Fatalf("load call %s: %v", id, err)
	}
	if category != nil {
		r.Category = *category
	}
	if answeredAt != nil {
		r.AnsweredAt = *answeredAt
	}
	if queuedAt != nil {
		r.QueuedAt = *queuedAt
	}
	return r
}

func sameCall(a, b CallRecord) bool {
	times := [][2]time.Time{{a.StartedAt, b.StartedAt}, {a.AnsweredAt, b.AnsweredAt},
		{a.QueuedAt, b.QueuedAt}, {a.EndedAt, b.EndedAt}}
	for _, p := range times {
		if !p[0].Equal(p[1]) {
			return false
		}
	}
	a.StartedAt, a.AnsweredAt, a.QueuedAt, a.EndedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.StartedAt, b.AnsweredAt, b.QueuedAt, b.EndedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestCallRecordRoundTrip(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	menu := testCall("c-menu")
	menu.Category, menu.Priority, menu.QueuedAt = "", false, time.Time{}
	menu.Outcome, menu.HungUpBy = "abandoned_in_menu", "caller"
	tests := []struct {
		name string
		rec  CallRecord
	}{
		{"all fields", testCall("c-all")},
		{"no category, never queued", menu},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := insertCall(ctx, pool, tt.rec); err != nil {
				t.Fatal(err)
			}
			if got := loadCall(t, pool, tt.rec.ID); !sameCall(got, tt.rec) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", got, tt.rec)
			}
		})
	}
	var nulls int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM calls WHERE id = 'c-menu' AND category IS NULL AND queued_at IS NULL").Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Fatal("empty category and zero queued time are not stored as NULL")
	}
}

func TestDatabaseChecksRejectBadValues(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	badOutcome := testCall("c-bad-outcome")
	badOutcome.Outcome = "lost"
	badHangUp := testCall("c-bad-hangup")
	badHangUp.HungUpBy = "nobody"
	badLanguage := testCall("c-bad-language")
	badLanguage.Language = "English; DROP"
	tests := []struct {
		name   string
		insert func() error
	}{
		{"call outcome", func() error { return insertCall(ctx, pool, badOutcome) }},
		{"call hung up by", func() error { return insertCall(ctx, pool, badHangUp) }},
		{"call language", func() error { return insertCall(ctx, pool, badLanguage) }},
		{"ticket language", func() error {
			_, err := pool.Exec(ctx, `INSERT INTO tickets (channel, status, language) VALUES ('web', 'open', 'en_US.UTF-8')`)
			return err
		}},
		{"callback reason", func() error {
			cb := testCallback("c1")
			cb.Reason = "bored"
			return insertCallback(ctx, pool, cb)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.insert()
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
				t.Fatalf("insert error %v, want check_violation 23514", err)
			}
			if !permanent(err) {
				t.Fatal("a check violation must count as permanent")
			}
		})
	}
}

func TestInsertsAreIdempotent(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	for i := range 3 {
		if err := insertCall(ctx, pool, testCall("c-once")); err != nil {
			t.Fatalf("insert call #%d: %v", i, err)
		}
		if err := insertCallback(ctx, pool, testCallback("c-once")); err != nil {
			t.Fatalf("insert callback #%d: %v", i, err)
		}
	}
	assertCount(t, pool, "SELECT count(*) FROM calls WHERE id = 'c-once'", 1)
	assertCount(t, pool, "SELECT count(*) FROM callback_requests WHERE call_id = 'c-once'", 1)
	var status string
	if err := pool.QueryRow(ctx, "SELECT status FROM callback_requests WHERE call_id = 'c-once'").Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "pending" {
		t.Fatalf("new callback status %q, want pending", status)
	}
}

func TestValidateRecords(t *testing.T) {
	tests := []struct {
		name    string
		err     func() error
		invalid bool
	}{
		{"valid call", func() error { return testCall("c").validate() }, false},
		{"valid callback", func() error { return validateCallback(testCallback("c")) }, false},
		{"call without id", func() error { r := testCall(""); return r.validate() }, true},
		{"call without sip id", func() error { r := testCall("c"); r.SIPCallID = ""; return r.validate() }, true},
		{"call without end", func() error { r := testCall("c"); r.EndedAt = time.Time{}; return r.validate() }, true},
		{"call bad outcome", func() error { r := testCall("c"); r.Outcome = "x"; return r.validate() }, true},
		{"call bad hung up by", func() error { r := testCall("c"); r.HungUpBy = ""; return r.validate() }, true},
		{"call without language", func() error { r := testCall("c"); r.Language = ""; return r.validate() }, false},
		{"call bad language", func() error { r := testCall("c"); r.Language = "english"; return r.validate() }, true},
		{"draft bad language", func() error {
			return DraftFacts{CallID: "c", CallEndedAt: time.Now(), Language: "EN"}.validate()
		}, true},
		{"callback without call id", func() error { r := testCallback(""); return validateCallback(r) }, true},
		{"callback without caller", func() error { r := testCallback("c"); r.Caller = ""; return validateCallback(r) }, true},
		{"callback bad reason", func() error { r := testCallback("c"); r.Reason = "x"; return validateCallback(r) }, true},
		{"callback without time", func() error { r := testCallback("c"); r.RequestedAt = time.Time{}; return validateCallback(r) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if errors.Is(err, errInvalidRecord) != tt.invalid || (err != nil) != tt.invalid {
				t.Fatalf("validate = %v, want invalid %v", err, tt.invalid)
			}
		})
	}
}

func assertCount(t *testing.T, pool *pgxpool.Pool, query string, want int) {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n != want {
		t.Fatalf("%s = %d, want %d", query, n, want)
	}
}

// callIDs returns n distinct call ids with prefix.
func callIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ids
}
