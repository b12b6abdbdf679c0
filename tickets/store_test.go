package tickets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// validResidentID is the textbook GB 11643 example (check character X).
const validResidentID = "11010519491231002X"

var callSeq atomic.Int64

// storeFixture is a migrated database with a store on it.
type storeFixture struct {
	pool    *pgxpool.Pool
	store   *Store
	metrics *Metrics
}

func newStoreFixture(t testing.TB) storeFixture {
	t.Helper()
	_, pool := pgtest.Migrated(t, Migrate)
	cal, err := LoadCalendar("../configs/calendar.yaml")
	if err != nil {
		t.Fatalf("load calendar: %v", err)
	}
	ids, err := ParseKeyring(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	s, err := NewStore(pool, StoreOptions{Calendar: cal, IDs: ids, Metrics: m})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return storeFixture{pool: pool, store: s, metrics: m}
}

// draft writes a call record and its draft ticket in one transaction, as
// the writer does, for a call that ended ago before now.
func (f storeFixture) draft(t testing.TB, category string, ago time.Duration) Ticket {
	t.Helper()
	id := fmt.Sprintf("call-%d", callSeq.Add(1))
	rec := testCall(id)
	rec.Outcome, rec.Category = "answered", category
	rec.EndedAt = time.Now().Add(-ago)
	var k Ticket
	err := pgx.BeginFunc(context.Background(), f.pool, func(tx pgx.Tx) error {
		if err := insertCall(context.Background(), tx, rec); err != nil {
			return err
		}
		var err error
		k, err = f.store.CreateDraftForCall(context.Background(), tx, DraftFacts{CallID: id,
			CallerNumber: rec.Caller, Category: category, AgentID: "1001", CallEndedAt: rec.EndedAt, WaitSeconds: 12})
		return err
	})
	if err != nil {
		t.Fatalf("create draft: %v", err)
	}
	return k
}

// form is a complete, valid registration form (S13).
func form(category, result string) SubmitInput {
	in := SubmitInput{CallerName: "Wang Fang", CallbackPhone: "138-0013-8000",
		Description: "street light out on Renmin Road", Category: category, Result: result}
	if result == ResultFollowUp || result == ResultAppointment {
		in.FollowUpDue = time.Now().Add(48 * time.Hour)
	}
	if category == configs.CategoryBusiness {
		in.IDType, in.IDNumber = IDTypeResident, validResidentID
	}
	return in
}

func countEvents(t testing.TB, pool *pgxpool.Pool, kind string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM ticket_events WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatalf("count %s events: %v", kind, err)
	}
	return n
}

// TestEntryStampAndLate covers S12: entry time from the database clock,
// late after the entry window, never rejected.
func TestEntryStampAndLate(t *testing.T) {
	f := newStoreFixture(t)
	tests := []struct {
		name     string
		endedAgo time.Duration
		wantLate bool
	}{
		{"entered within five minutes", time.Minute, false},
		{"entered after five minutes", 10 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := f.draft(t, configs.CategoryComplaint, tt.endedAgo)
			if d.Status != StatusDraft || !d.EnteredAt.IsZero() {
				t.Fatalf("draft = %s entered %v, want an unentered draft", d.Status, d.EnteredAt)
			}
			if got := d.EntryDeadline.Sub(d.CallEndedAt); got != 5*time.Minute {
				t.Fatalf("entry deadline is call end + %s, want 5m", got)
			}
			before := time.Now()
			k, err := f.store.Submit(context.Background(), d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "")
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if k.Status != StatusOpen || k.Late != tt.wantLate {
				t.Fatalf("submitted: status %s late %v, want open late %v", k.Status, k.Late, tt.wantLate)
			}
			if k.EnteredAt.Before(before.Add(-time.Second)) || k.EnteredAt.After(time.Now().Add(time.Second)) {
				t.Fatalf("entered_at %v is not the database's now", k.EnteredAt)
			}
		})
	}
	if got := metricValue(t, f.metrics.lateEntries.WithLabelValues(configs.CategoryComplaint)); got != 1 {
		t.Fatalf("late entries metric = %v, want 1", got)
	}
	if got := countEvents(t, f.pool, EventLateEntry); got != 1 {
		t.Fatalf("late_entry events = %d, want 1", got)
	}
}

// TestEntryStampIgnoresClient checks that the trigger, not the client,
// writes entered_at and late (S12, STYLE 9).
func TestEntryStampIgnoresClient(t *testing.T) {
	f := newStoreFixture(t)
	d := f.draft(t, configs.CategoryInquiry, 10*time.Minute)
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `UPDATE tickets SET status = 'open', entered_at = '2000-01-01', late = false,
		entry_deadline = now() + interval '1 day', ref = 'T20000101-000001' WHERE id = $1`, d.ID)
	if err != nil {
		t.Fatalf("client update: %v", err)
	}
	k, err := f.store.Get(ctx, d.Ref)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !k.Late || k.EnteredAt.Year() < 2026 || !k.EntryDeadline.Equal(d.EntryDeadline) {
		t.Fatalf("after a forged update: late %v entered %v deadline %v, want late, now, unchanged", k.Late, k.EnteredAt, k.EntryDeadline)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE tickets SET status = 'draft' WHERE id = $1`, d.ID); err == nil {
		t.Fatal("a ticket went back to draft")
	}
}

// TestSubmitFieldErrors covers S13: one message per missing or invalid field.
func TestSubmitFieldErrors(t *testing.T) {
	f := newStoreFixture(t)
	tests := []struct {
		name   string
		in     SubmitInput
		fields []string
	}{
		{"empty form", SubmitInput{}, []string{"caller_name", "callback_phone", "description", "category", "result"}},
		{"on behalf without relation", func() SubmitInput { in := form(configs.CategoryInquiry, ResultAnswered); in.OnBehalf = true; return in }(), []string{"relation"}},
		{"short phone", func() SubmitInput {
			in := form(configs.CategoryInquiry, ResultAnswered)
			in.CallbackPhone = "12a4"
			return in
		}(), []string{"callback_phone"}},
		{"follow-up without deadline", func() SubmitInput {
			in := form(configs.CategoryInquiry, ResultAnswered)
			in.Result = ResultFollowUp
			return in
		}(), []string{"follow_up_due"}},
		{"business without id number", func() SubmitInput { in := form(configs.CategoryBusiness, ResultAnswered); in.IDNumber = ""; return in }(), []string{"id_number"}},
		{"bad id check character", func() SubmitInput {
			in := form(configs.CategoryBusiness, ResultAnswered)
			in.IDNumber = "110105194912310021"
			return in
		}(), []string{"id_number"}},
		{"id number without type", func() SubmitInput {
			in := form(configs.CategoryInquiry, ResultAnswered)
			in.IDNumber = "E12345678"
			return in
		}(), []string{"id_type"}},
		{"unknown category and result", func() SubmitInput {
			in := form(configs.CategoryInquiry, ResultAnswered)
			in.Category, in.Result = "gossip", "ignored"
			return in
		}(), []string{"category", "result"}},
	}
	d := f.draft(t, configs.CategoryInquiry, time.Minute)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.Submit(context.Background(), d.Ref, tt.in, "1001", "")
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("submit = %v, want field errors", err)
			}
			if len(fe) != len(tt.fields) {
				t.Fatalf("field errors %v, want exactly %v", fe, tt.fields)
			}
			for _, field := range tt.fields {
				if fe[field].Code == "" {
					t.Fatalf("field errors %v lack %s", fe, field)
				}
			}
		})
	}
	k, err := f.store.Get(context.Background(), d.Ref)
	if err != nil || k.Status != StatusDraft {
		t.Fatalf("after refused submissions: %v %v, want the draft unchanged", k.Status, err)
	}
}

// TestSubmitStoresProtectedID checks the ID number reaches the table only
// encrypted, with masked form and blind index (S5), and List finds it.
func TestSubmitStoresProtectedID(t *testing.T) {
	f := newStoreFixture(t)
	d := f.draft(t, configs.CategoryBusiness, time.Minute)
	k, err := f.store.Submit(context.Background(), d.Ref, form(configs.CategoryBusiness, ResultAnswered), "1001", "")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if k.IDType != IDTypeResident || k.IDMasked != MaskID(validResidentID) {
		t.Fatalf("id type %q masked %q", k.IDType, k.IDMasked)
	}
	var cipher []byte
	if err := f.pool.QueryRow(context.Background(), `SELECT id_ciphertext FROM tickets WHERE id = $1`, k.ID).Scan(&cipher); err != nil {
		t.Fatalf("read ciphertext: %v", err)
	}
	if len(cipher) == 0 || strings.Contains(string(cipher), validResidentID) {
		t.Fatalf("ciphertext %q is empty or holds the clear number", cipher)
	}
	idx, err := f.store.opts.IDs.(*Keyring).BlindIndex(IDTypeResident, strings.ToLower(validResidentID))
	if err != nil {
		t.Fatalf("blind index: %v", err)
	}
	got, err := f.store.List(context.Background(), Filter{IDBlindIndex: idx})
	if err != nil || len(got) != 1 || got[0].Ref != k.Ref {
		t.Fatalf("list by blind index = %v, %v; want %s", got, err, k.Ref)
	}
}

// TestSubmitIdempotent: a second submission with the same key, in turn or
// at once, returns the first result and changes nothing.
func TestSubmitIdempotent(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	t.Run("sequential", func(t *testing.T) {
		d := f.draft(t, configs.CategoryComplaint, time.Minute)
		first, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "key-seq")
		if err != nil {
			t.Fatalf("first submit: %v", err)
		}
		second, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "key-seq")
		if err != nil {
			t.Fatalf("second submit: %v", err)
		}
		if second.Ref != first.Ref || !second.EnteredAt.Equal(first.EnteredAt) || !second.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatalf("replay %+v differs from first %+v", second, first)
		}
		if _, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", ""); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("submit without key after entry = %v, want ErrInvalidTransition", err)
		}
		other := f.draft(t, configs.CategoryComplaint, time.Minute)
		if _, err := f.store.Submit(ctx, other.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "key-seq"); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("key reused for another ticket = %v, want ErrIdempotencyConflict", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		d := f.draft(t, configs.CategoryComplaint, time.Minute)
		const n = 8
		var wg sync.WaitGroup
		got := make([]Ticket, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got[i], errs[i] = f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "key-conc")
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || !got[i].EnteredAt.Equal(got[0].EnteredAt) {
				t.Fatalf("submission %d: %v entered %v, want all equal to %v", i, errs[i], got[i].EnteredAt, got[0].EnteredAt)
			}
		}
	})
	if n := countEvents(t, f.pool, EventSubmitted); n != 2 {
		t.Fatalf("submitted events = %d, want 2 (one per ticket)", n)
	}
}

// TestReferencesUniqueAndFormatted checks T<YYYYMMDD>-<6 digits> on the
// database date in Asia/Shanghai, unique under concurrent creation.
func TestReferencesUniqueAndFormatted(t *testing.T) {
	f := newStoreFixture(t)
	const n = 40
	refs := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { refs <- f.draft(t, configs.CategoryInquiry, time.Minute).Ref })
	}
	wg.Wait()
	close(refs)
	format := regexp.MustCompile(`^T\d{8}-\d{6}$`)
	today := time.Now().In(shanghai).Format("20060102")
	seen := map[string]bool{}
	for ref := range refs {
		if !format.MatchString(ref) || ref[1:9] != today || seen[ref] {
			t.Fatalf("reference %q: want T%s-NNNNNN, unique (seen %v)", ref, today, seen[ref])
		}
		seen[ref] = true
	}
}

// TestEventsAppendOnly: ticket and nuisance events refuse UPDATE, DELETE
// and TRUNCATE, and carry database time.
func TestEventsAppendOnly(t *testing.T) {
	f := newStoreFixture(t)
	d := f.draft(t, configs.CategoryInquiry, time.Minute)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, `INSERT INTO ticket_events (ticket_id, kind, actor, at) VALUES ($1, 'note', 'x', '2000-01-01')`, d.ID); err != nil {
		t.Fatalf("insert event: %v", err)
	}
	assertCount(t, f.pool, `SELECT count(*) FROM ticket_events WHERE at < '2001-01-01'`, 0)
	for _, stmt := range []string{
		`UPDATE ticket_events SET actor = 'forged'`,
		`DELETE FROM ticket_events`,
		`TRUNCATE ticket_events`,
		`DELETE FROM nuisance_events`,
	} {
		t.Run(stmt, func(t *testing.T) {
			if _, err := f.pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s = %v, want an append-only refusal", stmt, err)
			}
		})
	}
}
