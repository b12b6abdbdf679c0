package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// calendarWithHolidays is a Shanghai calendar, 09–12 and 13–17 on weekdays,
// with New Year's Day of each of years as its only holidays.
func calendarWithHolidays(t *testing.T, years ...int) *Calendar {
	t.Helper()
	var b strings.Builder
	b.WriteString("timezone: Asia/Shanghai\nweekly:\n")
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		fmt.Fprintf(&b, "  %s: [\"09:00-12:00\", \"13:00-17:00\"]\n", d)
	}
	b.WriteString("holidays:\n")
	for _, y := range years {
		fmt.Fprintf(&b, "  - \"%d-01-01\"\n", y)
	}
	if len(years) == 0 {
		b.WriteString("  []\n")
	}
	c, err := ParseCalendar([]byte(b.String()))
	if err != nil {
		t.Fatalf("parse calendar: %v", err)
	}
	return c
}

func TestCoveredUntil(t *testing.T) {
	if got, want := loadTestCalendar(t).CoveredUntil(), at(2026, 12, 31, 0, 0); !got.Equal(want) {
		t.Fatalf("shipped calendar covered until %v, want %v", got, want)
	}
	if got := calendarWithHolidays(t, 2025, 2027).CoveredUntil(); !got.Equal(at(2027, 12, 31, 0, 0)) {
		t.Fatalf("covered until %v, want the end of the last year with holidays", got)
	}
	if got := calendarWithHolidays(t).CoveredUntil(); !got.IsZero() {
		t.Fatalf("a calendar without holidays covers until %v, want the zero time", got)
	}
}

// TestCheckCoverage: /readyz turns degraded from 1 December (in the
// calendar's zone) when the next year has no holidays, and in any year
// without them (S9).
func TestCheckCoverage(t *testing.T) {
	shipped := loadTestCalendar(t)
	both := calendarWithHolidays(t, 2026, 2027)
	tests := []struct {
		name     string
		cal      *Calendar
		now      time.Time
		wantYear int // 0: no error
	}{
		{"november: fine", shipped, at(2026, 11, 30, 23, 59), 0},
		{"1 december without next year", shipped, at(2026, 12, 1, 0, 0), 2027},
		{"1 december in shanghai, still november in utc", shipped, time.Date(2026, 11, 30, 16, 30, 0, 0, time.UTC), 2027},
		{"the year after, uncovered", shipped, at(2027, 3, 1, 10, 0), 2027},
		{"a year before the covered one", shipped, at(2025, 6, 1, 10, 0), 2025},
		{"december with next year listed", both, at(2026, 12, 15, 10, 0), 0},
		{"december of the last listed year", both, at(2027, 12, 1, 0, 0), 2028},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cal.CheckCoverage(tt.now)
			switch {
			case tt.wantYear == 0 && err != nil:
				t.Fatalf("CheckCoverage(%v) = %v, want nil", tt.now, err)
			case tt.wantYear == 0:
			case err == nil:
				t.Fatalf("CheckCoverage(%v) = nil, want an error naming %d", tt.now, tt.wantYear)
			case !strings.Contains(err.Error(), fmt.Sprintf("no holidays for %d", tt.wantYear)):
				t.Fatalf("CheckCoverage(%v) = %q, want it to name %d", tt.now, err, tt.wantYear)
			}
		})
	}
}

// TestComputeFlagsUncoveredDeadlines: a complaint entered on 2026-12-30 is
// due 2027-01-06 by the shipped calendar, which does not know 2027's
// holidays: the deadline is flagged. Clock-time deadlines and those inside
// covered years are not.
func TestComputeFlagsUncoveredDeadlines(t *testing.T) {
	c := loadTestCalendar(t)
	r := DefaultDeadlineRules()
	tests := []struct {
		name          string
		category      string
		entered       time.Time
		due           time.Time
		wantUncertain bool
	}{
		{"complaint crossing into 2027", configs.CategoryComplaint, at(2026, 12, 30, 10, 0), at(2027, 1, 6, 10, 0), true},
		{"report from mid december", configs.CategoryReport, at(2026, 12, 21, 10, 0), at(2027, 1, 4, 10, 0), true},
		{"complaint inside 2026", configs.CategoryComplaint, at(2026, 12, 1, 10, 0), at(2026, 12, 8, 10, 0), false},
		{"emergency clock time across new year", configs.CategoryEmergency, at(2026, 12, 31, 23, 50), at(2027, 1, 1, 0, 20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Compute(c, tt.category, ResultFollowUp, tt.entered, time.Time{})
			if !got.Due.Equal(tt.due) || got.Uncertain != tt.wantUncertain {
				t.Fatalf("Compute = due %v uncertain %v, want due %v uncertain %v", got.Due, got.Uncertain, tt.due, tt.wantUncertain)
			}
		})
	}
}

// TestStoreFlagsUncertainDeadline submits a complaint on a calendar that
// lists no holidays for this year or the next (uncertain) and on one that
// lists both (certain): the flag is stored, read back and in the ticket's
// JSON, and the covered-until date is a metric.
func TestStoreFlagsUncertainDeadline(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := pgtest.Pool(t, url)
	if _, err := Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	y := time.Now().In(shanghai).Year()
	tests := []struct {
		name          string
		cal           *Calendar
		wantUncertain bool
	}{
		{"calendar of an old year", calendarWithHolidays(t, 2020), true},
		{"calendar of this and next year", calendarWithHolidays(t, y, y+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := storeFixtureOn(t, pool, tt.cal)
			d := f.draft(t, configs.CategoryComplaint, time.Minute)
			k, err := f.store.Submit(context.Background(), d.Ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "")
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if k.DeadlineUncertain != tt.wantUncertain {
				t.Fatalf("submitted ticket deadline_uncertain = %v, want %v (due %v)", k.DeadlineUncertain, tt.wantUncertain, k.DueAt)
			}
			got, err := f.store.Get(context.Background(), k.Ref)
			if err != nil || got.DeadlineUncertain != tt.wantUncertain {
				t.Fatalf("read back deadline_uncertain = %v (%v), want %v", got.DeadlineUncertain, err, tt.wantUncertain)
			}
			body, _ := json.Marshal(got)
			if want := fmt.Sprintf(`"deadline_uncertain":%v`, tt.wantUncertain); !strings.Contains(string(body), want) {
				t.Fatalf("ticket JSON %s lacks %s", body, want)
			}
			want := float64(tt.cal.CoveredUntil().Unix())
			if got := metricValue(t, f.metrics.calendarCoveredUntil); got != want {
				t.Fatalf("hotline_tickets_calendar_covered_until_seconds = %v, want %v", got, want)
			}
		})
	}
}

// storeFixtureOn is a store on pool with calendar cal.
func storeFixtureOn(t *testing.T, pool *pgxpool.Pool, cal *Calendar) storeFixture {
	t.Helper()
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
