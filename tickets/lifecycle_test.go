package tickets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
)

// TestStatusTransitions walks the allowed path and refuses the others; each
// change is an event.
func TestStatusTransitions(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	d := f.draft(t, configs.CategoryComplaint, time.Minute)
	if _, err := f.store.SetStatus(ctx, d.Ref, StatusOpen, "1001", ""); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("draft → open by SetStatus = %v, want ErrInvalidTransition (only Submit)", err)
	}
	if _, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", ""); err != nil {
		t.Fatalf("submit: %v", err)
	}
	steps := []struct {
		to string
		ok bool
	}{
		{StatusResolved, false}, {StatusInProgress, true}, {StatusClosed, false}, {StatusResolved, true},
		{StatusClosed, true}, {StatusInProgress, false}, {StatusReopened, true}, {StatusInProgress, true},
	}
	for _, st := range steps {
		t.Run("to "+st.to, func(t *testing.T) {
			k, err := f.store.SetStatus(ctx, d.Ref, st.to, "1001", "step")
			if st.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidTransition)) {
				t.Fatalf("→ %s = %v, want allowed %v", st.to, err, st.ok)
			}
			if st.ok && k.Status != st.to {
				t.Fatalf("status %s, want %s", k.Status, st.to)
			}
		})
	}
	if n := countEvents(t, f.pool, EventStatus); n != 5 {
		t.Fatalf("status events = %d, want 5", n)
	}
}

// TestExtendHandOffNote covers S14 extensions and S16 hand-off: explicit,
// reasoned, evented.
func TestExtendHandOffNote(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	d := f.draft(t, configs.CategoryBusiness, time.Minute)
	k, err := f.store.Submit(ctx, d.Ref, form(configs.CategoryBusiness, ResultAnswered), "1001", "")
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if _, err := f.store.Extend(ctx, d.Ref, k.DueAt.Add(time.Hour), " ", "sup"); err == nil {
		t.Fatal("extension without a reason accepted")
	}
	if _, err := f.store.Extend(ctx, d.Ref, k.DueAt.Add(-time.Hour), "waiting for the grid company", "sup"); err == nil {
		t.Fatal("extension to an earlier time accepted")
	}
	ext, err := f.store.Extend(ctx, d.Ref, k.DueAt.Add(48*time.Hour), "waiting for the grid company", "sup")
	if err != nil || !ext.DueAt.Equal(k.DueAt.Add(48*time.Hour)) {
		t.Fatalf("extend = %v due %v", err, ext.DueAt)
	}
	h, err := f.store.HandOff(ctx, d.Ref, "1002", "1001")
	if err != nil || h.OwnerAgent != "1002" {
		t.Fatalf("hand off = %v owner %q", err, h.OwnerAgent)
	}
	if err := f.store.AddNote(ctx, d.Ref, "1002", "called back, no answer"); err != nil {
		t.Fatalf("note: %v", err)
	}
	for kind, want := range map[string]int{EventExtended: 1, EventHandoff: 1, EventNote: 1} {
		if n := countEvents(t, f.pool, kind); n != want {
			t.Fatalf("%s events = %d, want %d", kind, n, want)
		}
	}
}

// TestSurvey covers S18: the score lands on the ticket; dissatisfied on a
// complaint reopens it, even when the survey came before the entry.
func TestSurvey(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		category   string
		score      int
		submitMore bool // submit before the survey and move to resolved
		want       string
	}{
		{"dissatisfied resolved complaint reopens", configs.CategoryComplaint, 3, true, StatusReopened},
		{"dissatisfied draft complaint is entered reopened", configs.CategoryComplaint, 3, false, StatusReopened},
		{"satisfied complaint stays resolved", configs.CategoryComplaint, 1, true, StatusResolved},
		{"dissatisfied inquiry stays resolved", configs.CategoryInquiry, 3, true, StatusResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := f.draft(t, tt.category, time.Minute)
			if tt.submitMore {
				if _, err := f.store.Submit(ctx, d.Ref, form(tt.category, ResultFollowUp), "1001", ""); err != nil {
					t.Fatalf("submit: %v", err)
				}
				for _, st := range []string{StatusInProgress, StatusResolved} {
					if _, err := f.store.SetStatus(ctx, d.Ref, st, "1001", ""); err != nil {
						t.Fatalf("set %s: %v", st, err)
					}
				}
			}
			k, err := f.store.RecordSurvey(ctx, d.CallID, tt.score)
			if err != nil || k.SurveyScore != tt.score {
				t.Fatalf("survey = %v score %d", err, k.SurveyScore)
			}
			if !tt.submitMore {
				if k, err = f.store.Submit(ctx, d.Ref, form(tt.category, ResultFollowUp), "1001", ""); err != nil {
					t.Fatalf("submit: %v", err)
				}
			}
			if k.Status != tt.want {
				t.Fatalf("status %s, want %s", k.Status, tt.want)
			}
			if _, err := f.store.RecordSurvey(ctx, d.CallID, tt.score%3+1); !errors.Is(err, ErrInvalidTransition) {
				t.Fatalf("second different score = %v, want refused", err)
			}
		})
	}
	if n := countEvents(t, f.pool, EventReopened); n != 2 {
		t.Fatalf("reopened events = %d, want 2", n)
	}
}

// TestNuisanceAudited covers S21: flag, clear, every step audited.
func TestNuisanceAudited(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	const number = "13900000000"
	if err := f.store.FlagNuisance(ctx, number, "1001", ""); err == nil {
		t.Fatal("flag without a reason accepted")
	}
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"flag", func() error { return f.store.FlagNuisance(ctx, number, "1001", "abusive calls") }, true},
		{"flag again", func() error { return f.store.FlagNuisance(ctx, number, "1002", "again") }, true},
		{"clear", func() error { return f.store.ClearNuisance(ctx, number, "sup", "apologised") }, false},
		{"flag after clear", func() error { return f.store.FlagNuisance(ctx, number, "1003", "back again") }, true},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got, err := f.store.IsNuisance(ctx, number); err != nil || got != st.want {
			t.Fatalf("after %s: nuisance %v, %v; want %v", st.name, got, err, st.want)
		}
	}
	if err := f.store.ClearNuisance(ctx, "10000", "sup", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clear of an unflagged number = %v, want ErrNotFound", err)
	}
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_events WHERE number = '13900000000'`, 4)
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_events WHERE action = 'cleared' AND actor = 'sup'`, 1)
}

// S21: an agent's flag is a report. It blocks nothing; a second agent's
// report of the same number (any written form) joins the open one; a
// supervisor's flag decides it and blocks the number; a dismissal closes a
// report without blocking; every step is audited.
func TestNuisanceReports(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	if _, err := f.store.ReportNuisance(ctx, "13900000001", "1001", " "); err == nil {
		t.Fatal("report without a reason accepted")
	}
	for _, st := range []struct {
		agent, number, want string
	}{
		{"1001", "13900000001", NuisanceReported},
		{"1002", "139-0000-0001", NuisanceAlreadyReported},
		{"1001", "13900000002", NuisanceReported},
	} {
		got, err := f.store.ReportNuisance(ctx, st.number, st.agent, "shouting")
		if err != nil || got != st.want {
			t.Fatalf("report of %s by %s = %q, %v; want %q", st.number, st.agent, got, err, st.want)
		}
	}
	open, err := f.store.OpenNuisanceReports(ctx)
	if err != nil || len(open) != 2 || open[0].Number != "13900000001" || open[0].ReportedBy != "1001" || open[1].Number != "13900000002" {
		t.Fatalf("open reports = %+v, %v", open, err)
	}
	if blocked, err := f.store.IsNuisance(ctx, "13900000001"); err != nil || blocked {
		t.Fatalf("a reported number is blocked (%v, %v): only a supervisor's flag blocks", blocked, err)
	}
	if err := f.store.FlagNuisance(ctx, "13900000001", "2001", "confirmed from the recording"); err != nil {
		t.Fatal(err)
	}
	if blocked, err := f.store.IsNuisance(ctx, "13900000001"); err != nil || !blocked {
		t.Fatalf("flagged number not blocked: %v, %v", blocked, err)
	}
	if got, err := f.store.ReportNuisance(ctx, "13900000001", "1003", "again"); err != nil || got != NuisanceAlreadyFlagged {
		t.Fatalf("report of a flagged number = %q, %v", got, err)
	}
	if err := f.store.DismissNuisanceReport(ctx, open[1].ID, "2001", ""); err == nil {
		t.Fatal("dismissal without a reason accepted")
	}
	if err := f.store.DismissNuisanceReport(ctx, open[1].ID, "2001", "a wrong number, not abuse"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DismissNuisanceReport(ctx, open[1].ID, "2001", "twice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second dismissal = %v, want ErrNotFound", err)
	}
	if err := f.store.DismissNuisanceReport(ctx, open[0].ID, "2001", "flagged already"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dismissal of a report the flag decided = %v, want ErrNotFound", err)
	}
	if blocked, _ := f.store.IsNuisance(ctx, "13900000002"); blocked {
		t.Fatal("a dismissed report blocked its number")
	}
	if open, err := f.store.OpenNuisanceReports(ctx); err != nil || len(open) != 0 {
		t.Fatalf("open reports after the decisions = %+v, %v", open, err)
	}
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_reports WHERE decision = 'flagged' AND decided_by = '2001'`, 1)
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_reports WHERE decision = 'dismissed'`, 1)
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_events WHERE action = 'reported'`, 4)
	assertCount(t, f.pool, `SELECT count(*) FROM nuisance_events WHERE action = 'dismissed' AND reason = 'a wrong number, not abuse'`, 1)
}

// TestRepeatCallerAndWebTicket covers S16 (latest open ticket of a number
// within the window) and S20 (a ticket without a call, entered at once).
func TestRepeatCallerAndWebTicket(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	if _, ok, err := f.store.OpenTicketForCaller(ctx, "13800138000", 0); err != nil || ok {
		t.Fatalf("no tickets yet: found %v, %v", ok, err)
	}
	d := f.draft(t, configs.CategoryComplaint, time.Minute)
	k, ok, err := f.store.OpenTicketForCaller(ctx, "13800138000", 0)
	if err != nil || !ok || k.Ref != d.Ref || k.OwnerAgent != "1001" {
		t.Fatalf("repeat caller: %v %v %+v, want %s owned by 1001", ok, err, k, d.Ref)
	}
	if _, ok, _ := f.store.OpenTicketForCaller(ctx, "13800138000", time.Nanosecond); ok {
		t.Fatal("a ticket older than the window was returned")
	}
	if _, err := f.store.CreateWebTicket(ctx, form(configs.CategoryReport, ResultFollowUp), ChannelPhone, "1005", ""); err == nil {
		t.Fatal("a phone ticket without a call was created")
	}
	w, err := f.store.CreateWebTicket(ctx, form(configs.CategoryReport, ResultFollowUp), ChannelWeb, "1005", "web-1")
	if err != nil {
		t.Fatalf("web ticket: %v", err)
	}
	again, err := f.store.CreateWebTicket(ctx, form(configs.CategoryReport, ResultFollowUp), ChannelWeb, "1005", "web-1")
	if err != nil || again.Ref != w.Ref {
		t.Fatalf("web ticket retry = %s, %v; want %s", again.Ref, err, w.Ref)
	}
	if w.Channel != ChannelWeb || w.Status != StatusOpen || w.EnteredAt.IsZero() || w.Late || w.DueAt.IsZero() || w.OwnerAgent != "1005" {
		t.Fatalf("web ticket %+v: want open, entered, on time, due, owned by 1005", w)
	}
	list, err := f.store.List(ctx, Filter{Owner: "1005"})
	if err != nil || len(list) != 1 {
		t.Fatalf("list by owner = %d tickets, %v; want 1", len(list), err)
	}
}

// TestSaveAnsweredCall writes a call record and its draft ticket together,
// also through the spool after an outage (S12).
func TestSaveAnsweredCall(t *testing.T) {
	url, direct := pgtest.Migrated(t, Migrate)
	px := newProxyTo(t, url)
	w := newTestWriter(t, px.pool(t, url), t.TempDir(), NewMetrics(nil))
	ctx := context.Background()
	rec := testCall("answered-1")
	rec.Outcome = "answered"
	rec.AgentID, rec.WaitSeconds, rec.RecordingPath, rec.Language = "1001", 24.6, "rec/answered-1.wav", "en"
	if err := w.SaveAnsweredCall(ctx, rec, DraftFacts{}); err != nil {
		t.Fatalf("save: %v", err)
	}
	startWriter(t, w)
	px.cut()
	rec2 := testCall("answered-2")
	rec2.Outcome, rec2.Language = "answered", "en" // through the spool
	if err := w.SaveAnsweredCall(ctx, rec2, DraftFacts{AgentID: "1002"}); err != nil {
		t.Fatalf("save during outage: %v", err)
	}
	if w.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", w.Pending())
	}
	px.restore()
	waitDrained(t, w)
	assertCount(t, direct, `SELECT count(*) FROM calls c JOIN tickets t ON t.call_id = c.id
		WHERE t.status = 'draft' AND t.entry_deadline = c.ended_at + interval '5 minutes'`, 2)
	assertCount(t, direct, `SELECT count(*) FROM ticket_events WHERE kind = 'created'`, 2)
	assertCount(t, direct, `SELECT count(*) FROM tickets WHERE call_id = 'answered-1' AND owner_agent = '1001'
		AND wait_seconds = 25 AND recording_path = 'rec/answered-1.wav' AND category = 'complaint'`, 1)
	// The caller's language is kept on the record and the ticket, through
	// the spool too, and read back with both.
	assertCount(t, direct, `SELECT count(*) FROM calls c JOIN tickets t ON t.call_id = c.id
		WHERE c.language = 'en' AND t.language = 'en'`, 2)
	var ref string
	if err := direct.QueryRow(ctx, `SELECT ref FROM tickets WHERE call_id = 'answered-2'`).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	if k, err := scanTicket(direct.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets t WHERE t.ref = $1`, ref)); err != nil || k.Language != "en" {
		t.Fatalf("ticket %s language %q, %v; want en", ref, k.Language, err)
	}
	if got, err := CallBySIPCallID(ctx, direct, rec2.SIPCallID); err != nil || got.Language != "en" {
		t.Fatalf("call record language %q, %v; want en", got.Language, err)
	}
	if err := w.SaveAnsweredCall(ctx, rec, DraftFacts{CallID: "other"}); err == nil {
		t.Fatal("draft facts of another call accepted")
	}
}

// BenchmarkSubmit measures ticket submissions (S12/S13 path: lock, form,
// deadline, events, idempotency key) against a table already holding
// HOTLINE_BENCH_TICKETS tickets (default 10000; `make bench` may set
// 1000000). It reports submissions/s and the p99 latency.
func BenchmarkSubmit(b *testing.B) {
	f := newStoreFixture(b)
	ctx := context.Background()
	prefill := 10000
	if v := os.Getenv("HOTLINE_BENCH_TICKETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("HOTLINE_BENCH_TICKETS=%q is not a count", v)
		}
		prefill = n
	}
	_, err := f.pool.Exec(ctx, `INSERT INTO tickets (channel, status, category, caller_number, due_at)
		SELECT 'web', (ARRAY['open', 'closed', 'resolved'])[1 + g % 3], 'business', '138' || g, now() + interval '3 days'
		FROM generate_series(1, $1) g`, prefill)
	if err != nil {
		b.Fatalf("prefill: %v", err)
	}
	rows, err := f.pool.Query(ctx, `INSERT INTO tickets (channel, status, owner_agent, caller_number, entry_deadline)
		SELECT 'phone', 'draft', '1001', '13800138000', now() + interval '5 minutes'
		FROM generate_series(1, $1) RETURNING ref`, b.N)
	if err != nil {
		b.Fatalf("drafts: %v", err)
	}
	var refs []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			b.Fatalf("scan ref: %v", err)
		}
		refs = append(refs, ref)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE tickets`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	in := form(configs.CategoryComplaint, ResultFollowUp)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t0 := time.Now()
		if _, err := f.store.Submit(ctx, refs[i], in, "1001", fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatalf("submit: %v", err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "submissions/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// TestSaveAnsweredCallIsAtomic: the call record and its draft ticket go in
// one batch (one round trip) that PostgreSQL runs as one transaction: a
// draft the database refuses leaves no call record behind, and saving the
// same call again writes neither the ticket nor its created event twice (S12).
func TestSaveAnsweredCallIsAtomic(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	w := newTestWriter(t, pool, t.TempDir(), NewMetrics(nil))
	ctx := context.Background()
	rec := testCall("atomic-1")
	rec.Outcome, rec.AgentID = "answered", "1001"
	for range 2 {
		if err := w.SaveAnsweredCall(ctx, rec, DraftFacts{Ref: "T20261206-000001"}); err != nil {
			t.Fatalf("save: %v", err)
		}
	}
	assertCount(t, pool, `SELECT count(*) FROM tickets WHERE call_id = 'atomic-1' AND ref = 'T20261206-000001'`, 1)
	assertCount(t, pool, `SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.call_id = 'atomic-1' AND e.kind = 'created'`, 1)
	// A second call given the same reference: its draft breaks the unique
	// ref, so its call record must not be written either.
	rec2 := testCall("atomic-2")
	rec2.Outcome, rec2.AgentID = "answered", "1002"
	if err := w.SaveAnsweredCall(ctx, rec2, DraftFacts{Ref: "T20261206-000001"}); err == nil {
		t.Fatal("a draft with a taken reference was accepted")
	}
	assertCount(t, pool, `SELECT count(*) FROM calls WHERE id = 'atomic-2'`, 0)
	assertCount(t, pool, `SELECT count(*) FROM tickets WHERE call_id = 'atomic-2'`, 0)
	if w.Pending() != 0 {
		t.Fatalf("a refused record was spooled for retry: pending = %d", w.Pending())
	}
}
