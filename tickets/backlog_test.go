package tickets

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The backlog gauges count the unresolved tickets by category and level
// (S12, S14, S15), and one reading serves every scrape for backlogMaxAge.
func TestBacklogGauges(t *testing.T) {
	f := newStoreFixture(t)
	ctx := context.Background()
	f.draft(t, configs.CategoryComplaint, 6*time.Minute) // past the 5-minute entry deadline
	f.draft(t, configs.CategoryComplaint, time.Minute)
	seedBreached(t, f.pool, 2) // one complaint, one emergency, open and past due
	if _, err := newTestSweeper(t, f.pool, f.metrics, nil, 0).Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE tickets SET escalation_level = 2 WHERE category = 'emergency'`); err != nil {
		t.Fatal(err)
	}
	c := f.metrics.backlog
	clock := time.Now()
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	want := func(complaintDrafts int) string {
		return `
# HELP hotline_tickets_breached_open Unresolved tickets whose deadline was breached, by category and escalation level (S14, S15).
# TYPE hotline_tickets_breached_open gauge
` + lines("hotline_tickets_breached_open", map[string]string{`category="complaint",level="1"`: "1", `category="emergency",level="2"`: "1"}, true) + `
# HELP hotline_tickets_drafts_overdue Draft tickets past their entry deadline, by category (S12).
# TYPE hotline_tickets_drafts_overdue gauge
` + lines("hotline_tickets_drafts_overdue", map[string]string{`category="complaint"`: "1"}, false) + `
# HELP hotline_tickets_drafts_open Draft tickets not yet entered, by category (S12).
# TYPE hotline_tickets_drafts_open gauge
` + lines("hotline_tickets_drafts_open", map[string]string{`category="complaint"`: itoa(complaintDrafts)}, false) + `
# HELP hotline_tickets_open Entered tickets not yet resolved (open, in progress, reopened), by category.
# TYPE hotline_tickets_open gauge
` + lines("hotline_tickets_open", map[string]string{`category="complaint"`: "1", `category="emergency"`: "1"}, false)
	}
	names := []string{"hotline_tickets_breached_open", "hotline_tickets_drafts_overdue", "hotline_tickets_drafts_open", "hotline_tickets_open"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(2)), names...); err != nil {
		t.Fatal(err)
	}
	f.draft(t, configs.CategoryComplaint, 0)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(2)), names...); err != nil {
		t.Fatalf("a scrape within %v read PostgreSQL again: %v", backlogMaxAge, err)
	}
	mu.Lock()
	clock = clock.Add(backlogMaxAge)
	mu.Unlock()
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(3)), names...); err != nil {
		t.Fatalf("after %v: %v", backlogMaxAge, err)
	}
}

// lines renders one gauge per ticket category (and level), zero unless set.
func lines(name string, set map[string]string, levels bool) string {
	var b strings.Builder
	for _, c := range configs.TicketCategories() {
		keys := []string{`category="` + c + `"`}
		if levels {
			keys = []string{`category="` + c + `",level="1"`, `category="` + c + `",level="2"`}
		}
		for _, k := range keys {
			v := set[k]
			if v == "" {
				v = "0"
			}
			b.WriteString(name + "{" + k + "} " + v + "\n")
		}
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// Every tickets metric passes the Prometheus linter.
func TestTicketsMetricsLint(t *testing.T) {
	f := newStoreFixture(t)
	reg := prometheus.NewRegistry()
	NewMetrics(reg).backlog.attach(f.pool)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
