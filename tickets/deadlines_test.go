package tickets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// The 2026 calendar of configs/calendar.yaml: hours 09–12 and 13–17;
// 2026-10-01..07 holidays (National Day), 2026-10-10 a make-up Saturday;
// 2026-09-25..27 holidays (Mid-Autumn), 2026-09-20 a make-up Sunday.

func TestAddWorkingTime(t *testing.T) {
	c := loadTestCalendar(t)
	tests := []struct {
		name string
		from time.Time
		d    time.Duration
		want time.Time
	}{
		{"within the morning", at(2026, 3, 2, 9, 30), time.Hour, at(2026, 3, 2, 10, 30)},
		{"across lunch", at(2026, 3, 2, 11, 30), time.Hour, at(2026, 3, 2, 13, 30)},
		{"across a weekend", at(2026, 3, 6, 16, 0), 2 * time.Hour, at(2026, 3, 9, 10, 0)},
		{"from a saturday night", at(2026, 3, 7, 22, 0), 30 * time.Minute, at(2026, 3, 9, 9, 30)},
		{"across a holiday week", at(2026, 9, 30, 16, 0), 2 * time.Hour, at(2026, 10, 8, 10, 0)},
		{"onto a make-up sunday", at(2026, 9, 18, 16, 30), time.Hour, at(2026, 9, 20, 9, 30)},
		{"exactly to the close", at(2026, 3, 2, 16, 0), time.Hour, at(2026, 3, 2, 17, 0)},
		{"zero", at(2026, 3, 7, 22, 0), 0, at(2026, 3, 7, 22, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.AddWorkingTime(tt.from, tt.d); !got.Equal(tt.want) {
				t.Fatalf("AddWorkingTime(%v, %s) = %v, want %v", tt.from, tt.d, got, tt.want)
			}
		})
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := loadTestCalendar(t)
	tests := []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		{"same time next working day", at(2026, 3, 2, 10, 15), 1, at(2026, 3, 3, 10, 15)},
		{"across a weekend", at(2026, 3, 5, 14, 0), 3, at(2026, 3, 10, 14, 0)},
		{"friday evening counts from monday", at(2026, 3, 6, 20, 0), 1, at(2026, 3, 9, 17, 0)},
		{"before opening counts the day", at(2026, 3, 2, 8, 0), 1, at(2026, 3, 2, 17, 0)},
		{"lunch break starts at 13:00", at(2026, 3, 2, 12, 30), 1, at(2026, 3, 3, 13, 0)},
		{"across national day and its make-up saturday", at(2026, 9, 30, 10, 0), 3, at(2026, 10, 10, 10, 0)},
		{"complaint answer across national day", at(2026, 9, 29, 15, 0), 5, at(2026, 10, 12, 15, 0)},
		{"make-up sunday counts", at(2026, 9, 18, 11, 0), 1, at(2026, 9, 20, 11, 0)},
		{"entered on a holiday", at(2026, 10, 3, 10, 0), 1, at(2026, 10, 8, 17, 0)},
		{"report ten days over mid-autumn and national day", at(2026, 9, 21, 9, 30), 10, at(2026, 10, 12, 9, 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.AddWorkingDays(tt.from, tt.n); !got.Equal(tt.want) {
				t.Fatalf("AddWorkingDays(%v, %d) = %v, want %v", tt.from, tt.n, got, tt.want)
			}
		})
	}
}

func TestComputeDeadlines(t *testing.T) {
	c := loadTestCalendar(t)
	r, err := LoadDeadlineRules(filepath.Join("..", "configs", "deadlines.yaml"))
	if err != nil {
		t.Fatalf("load configs/deadlines.yaml: %v", err)
	}
	friday := at(2026, 3, 6, 16, 0)
	followUp := at(2026, 3, 20, 12, 0)
	tests := []struct {
		name           string
		category       string
		result         string
		followUp       time.Time
		wantFirst, due time.Time
	}{
		{"complaint: 24h contact and 5 working days", configs.CategoryComplaint, ResultFollowUp, time.Time{}, friday.Add(24 * time.Hour), at(2026, 3, 13, 16, 0)},
		{"emergency: 30 minutes of clock", configs.CategoryEmergency, ResultDispatched, time.Time{}, time.Time{}, friday.Add(30 * time.Minute)},
		{"business: 3 working days", configs.CategoryBusiness, ResultTransferred, time.Time{}, time.Time{}, at(2026, 3, 11, 16, 0)},
		{"report: 10 working days", configs.CategoryReport, ResultFollowUp, time.Time{}, time.Time{}, at(2026, 3, 20, 16, 0)},
		{"inquiry not answered: 1 working day", configs.CategoryInquiry, ResultTransferred, time.Time{}, time.Time{}, at(2026, 3, 9, 16, 0)},
		{"inquiry answered on the call: none", configs.CategoryInquiry, ResultAnswered, time.Time{}, time.Time{}, time.Time{}},
		{"suggestion follow-up: the form's deadline", configs.CategorySuggestion, ResultFollowUp, followUp, time.Time{}, followUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Compute(c, tt.category, tt.result, friday, tt.followUp)
			if !got.FirstContactDue.Equal(tt.wantFirst) || !got.Due.Equal(tt.due) {
				t.Fatalf("Compute = %+v, want first contact %v, due %v", got, tt.wantFirst, tt.due)
			}
		})
	}
	if r.EscalationAfterFor(configs.CategoryEmergency) != time.Hour || r.EscalationAfterFor(configs.CategoryComplaint) != 24*time.Hour {
		t.Fatal("escalation periods differ from configs/deadlines.yaml")
	}
}

// TestShippedRulesAreTheDefaults keeps configs/deadlines.yaml and
// DefaultDeadlineRules in step.
func TestShippedRulesAreTheDefaults(t *testing.T) {
	c := loadTestCalendar(t)
	r, err := LoadDeadlineRules(filepath.Join("..", "configs", "deadlines.yaml"))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	def := DefaultDeadlineRules()
	from := at(2026, 9, 29, 10, 0)
	for _, cat := range configs.TicketCategories() {
		for _, res := range results {
			if a, b := r.Compute(c, cat, res, from, time.Time{}), def.Compute(c, cat, res, from, time.Time{}); a != b {
				t.Fatalf("%s/%s: file %+v, defaults %+v", cat, res, a, b)
			}
			if r.followUpNeeded(cat, res) != def.followUpNeeded(cat, res) || r.idRequired(cat) != def.idRequired(cat) {
				t.Fatalf("%s/%s: form rules differ", cat, res)
			}
		}
		if r.EscalationAfterFor(cat) != def.EscalationAfterFor(cat) {
			t.Fatalf("%s: escalation periods differ", cat)
		}
	}
}

func TestLoadDeadlineRulesErrors(t *testing.T) {
	base := "escalation_after: 24h\nrepeat_window: 168h\ncategories: {inquiry: {}, complaint: {}, suggestion: {}, report: {}, emergency: {}, business: {}}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"unknown key", base + "colour: red\n", "colour"},
		{"bad duration", strings.Replace(base, "24h", "a day", 1), "a day"},
		{"missing category", strings.Replace(base, "business: {}", "", 1), "business has no rule"},
		{"unknown category", strings.Replace(base, "business: {}", "business: {}, gossip: {}", 1), "gossip"},
		{"two lengths", strings.Replace(base, "report: {}", "report: {answer: {clock: 1h, working_days: 2}}", 1), "exactly one"},
		{"no escalation period", strings.Replace(base, "escalation_after: 24h\n", "", 1), "escalation_after"},
		{"unknown result", base + "follow_up_results: [maybe]\n", "maybe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deadlines.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadDeadlineRules(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadDeadlineRules = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
