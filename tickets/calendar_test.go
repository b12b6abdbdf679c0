package tickets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadTestCalendar loads the shipped configs/calendar.yaml.
func loadTestCalendar(t *testing.T) *Calendar {
	t.Helper()
	c, err := LoadCalendar(filepath.Join("..", "configs", "calendar.yaml"))
	if err != nil {
		t.Fatalf("load configs/calendar.yaml: %v", err)
	}
	return c
}

var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall-clock time in Shanghai.
func at(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, shanghai)
}

func TestIsOpen(t *testing.T) {
	c := loadTestCalendar(t)
	tests := []struct {
		name string
		t    time.Time
		want bool
	}{
		{"weekday morning", at(2026, 3, 2, 9, 30), true},
		{"weekday opening instant", at(2026, 3, 2, 9, 0), true},
		{"weekday before opening", at(2026, 3, 2, 8, 59), false},
		{"lunch break", at(2026, 3, 2, 12, 30), false},
		{"weekday afternoon", at(2026, 3, 2, 16, 59), true},
		{"weekday closing instant", at(2026, 3, 2, 17, 0), false},
		{"evening", at(2026, 3, 2, 20, 0), false},
		{"saturday", at(2026, 3, 7, 10, 0), false},
		{"sunday", at(2026, 3, 8, 10, 0), false},
		{"holiday on a weekday (national day, thursday)", at(2026, 10, 1, 10, 0), false},
		{"holiday on a weekday (spring festival, monday)", at(2026, 2, 23, 10, 0), false},
		{"make-up saturday", at(2026, 2, 14, 10, 0), true},
		{"make-up saturday lunch", at(2026, 2, 14, 12, 30), false},
		{"make-up sunday", at(2026, 9, 20, 15, 0), true},
		{"utc 01:30 is 09:30 in shanghai", time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC), true},
		{"utc 00:59 is 08:59 in shanghai", time.Date(2026, 3, 2, 0, 59, 0, 0, time.UTC), false},
		{"utc sunday 17:00 is monday 01:00", time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), false},
		{"utc friday 23:00 is saturday 07:00", time.Date(2026, 3, 5, 23, 0, 0, 0, time.UTC), false},
		{"utc sunday 22:00 is not open yet", time.Date(2026, 3, 8, 22, 0, 0, 0, time.UTC), false},
		{"utc monday 05:00 is 13:00 open", time.Date(2026, 3, 2, 5, 0, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.IsOpen(tt.t); got != tt.want {
				t.Fatalf("IsOpen(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestWorkingDay(t *testing.T) {
	c := loadTestCalendar(t)
	tests := []struct {
		name string
		t    time.Time
		want bool
	}{
		{"monday", at(2026, 3, 2, 3, 0), true},
		{"saturday", at(2026, 3, 7, 10, 0), false},
		{"new year holiday", at(2026, 1, 1, 10, 0), false},
		{"make-up sunday", at(2026, 1, 4, 23, 59), true},
		{"utc date differs from local", time.Date(2026, 3, 6, 17, 0, 0, 0, time.UTC), false}, // Sat 01:00 local
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.WorkingDay(tt.t); got != tt.want {
				t.Fatalf("WorkingDay(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestNextOpen(t *testing.T) {
	c := loadTestCalendar(t)
	tests := []struct {
		name string
		t    time.Time
		want time.Time
	}{
		{"already open", at(2026, 3, 2, 10, 15), at(2026, 3, 2, 10, 15)},
		{"early morning", at(2026, 3, 2, 7, 0), at(2026, 3, 2, 9, 0)},
		{"lunch break", at(2026, 3, 2, 12, 0), at(2026, 3, 2, 13, 0)},
		{"friday evening to monday", at(2026, 3, 6, 17, 0), at(2026, 3, 9, 9, 0)},
		{"spring festival to make-up saturday after it", at(2026, 2, 15, 10, 0), at(2026, 2, 24, 9, 0)},
		{"friday evening to make-up saturday", at(2026, 2, 13, 18, 0), at(2026, 2, 14, 9, 0)},
		{"national day to thursday after", at(2026, 9, 30, 17, 30), at(2026, 10, 8, 9, 0)},
		{"from utc", time.Date(2026, 3, 2, 4, 30, 0, 0, time.UTC), at(2026, 3, 2, 13, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.NextOpen(tt.t)
			if !got.Equal(tt.want) {
				t.Fatalf("NextOpen(%s) = %s, want %s", tt.t, got, tt.want)
			}
			if !c.IsOpen(got) {
				t.Fatalf("NextOpen returned %s, which is closed", got)
			}
		})
	}
}

func TestParseCalendarErrors(t *testing.T) {
	const week = "weekly: {mon: [\"09:00-17:00\"]}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "the file is empty"},
		{"unknown key", "timezone: UTC\n" + week + "holiday: []\n", "field holiday not found"},
		{"unknown weekday", "timezone: UTC\nweekly: {monday: [\"09:00-17:00\"]}\n", "field monday not found"},
		{"no timezone", week, "timezone is required"},
		{"bad timezone", "timezone: Mars/Olympus\n" + week, `"Mars/Olympus"`},
		{"never open", "timezone: UTC\nweekly: {}\n", "no opening hours"},
		{"bad hour", "timezone: UTC\nweekly: {mon: [\"09:00-25:00\"]}\n", `"25:00"`},
		{"bad minute", "timezone: UTC\nweekly: {tue: [\"9:60-10:00\"]}\n", `"9:60"`},
		{"no dash", "timezone: UTC\nweekly: {mon: [\"09:00\"]}\n", `range "09:00"`},
		{"end before start", "timezone: UTC\nweekly: {mon: [\"12:00-09:00\"]}\n", "end must be after"},
		{"overlap", "timezone: UTC\nweekly: {wed: [\"09:00-12:00\", \"11:00-13:00\"]}\n", "weekly.wed: ranges 09:00-12:00 and 11:00-13:00 overlap"},
		{"bad makeup hours", "timezone: UTC\n" + week + "makeup_hours: [\"x\"]\n", "makeup_hours"},
		{"bad date", "timezone: UTC\n" + week + "holidays: [\"2026-02-30\"]\n", `"2026-02-30"`},
		{"duplicate holiday", "timezone: UTC\n" + week + "holidays: [\"2026-01-01\", \"2026-01-01\"]\n", "listed twice"},
		{"holiday and make-up", "timezone: UTC\n" + week + "holidays: [\"2026-10-10\"]\nmakeup_days: [\"2026-10-10\"]\n",
			"2026-10-10 is both a holiday and a make-up day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCalendar([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseCalendar error %v, want one containing %s", err, tt.want)
			}
		})
	}
}

func TestParseCalendarDefaults(t *testing.T) {
	c, err := ParseCalendar([]byte("timezone: UTC\nweekly:\n  mon: [\"08:00-24:00\"]\nmakeup_days: [2026-03-07]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		t    time.Time
		want bool
	}{
		{"open until midnight", time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC), true},
		{"closed after midnight", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), false},
		{"unquoted make-up date uses monday's hours", time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.IsOpen(tt.t); got != tt.want {
				t.Fatalf("IsOpen(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestLoadCalendarNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calendar.yaml")
	if err := os.WriteFile(path, []byte("timezone: UTC\nweekly: {mon: [\"09:00-17:00\"]}\nholidays: [\"x\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalendar(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadCalendar error %v, want one naming %s", err, path)
	}
	if _, err := LoadCalendar(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("LoadCalendar of a missing file must fail")
	}
}
