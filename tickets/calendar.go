package tickets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // S9: the calendar's zone must load even on hosts without tzdata

	"gopkg.in/yaml.v3"
)

// Calendar holds the office hours of S9: weekly hours, public holidays and
// make-up working days (调休), in one time zone. It is read-only after
// loading and safe for concurrent use; it implements ivr.Hours.
type Calendar struct {
	loc        *time.Location
	weekly     [7][]span // by time.Weekday
	makeup     []span    // hours of a make-up working day
	holidays   map[date]bool
	makeupDays map[date]bool
}

// span is an opening range in seconds after local midnight, [start, end).
type span struct{ start, end int }

// date is a civil date in the calendar's zone.
type date struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

// calendarFile is the YAML form of a calendar (configs/calendar.yaml).
type calendarFile struct {
	Timezone string      `yaml:"timezone"`
	Weekly   weeklyHours `yaml:"weekly"`
	// MakeupHours are the hours of a make-up working day; when absent,
	// Monday's hours.
	MakeupHours []string `yaml:"makeup_hours"`
	Holidays    []string `yaml:"holidays"`
	MakeupDays  []string `yaml:"makeup_days"`
}

type weeklyHours struct {
	Mon []string `yaml:"mon"`
	Tue []string `yaml:"tue"`
	Wed []string `yaml:"wed"`
	Thu []string `yaml:"thu"`
	Fri []string `yaml:"fri"`
	Sat []string `yaml:"sat"`
	Sun []string `yaml:"sun"`
}

// LoadCalendar reads and validates the calendar file at path.
func LoadCalendar(path string) (*Calendar, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load calendar: %w", err)
	}
	c, err := ParseCalendar(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseCalendar decodes a calendar strictly (unknown keys are errors) and
// validates it; errors name the offending value.
func ParseCalendar(data []byte) (*Calendar, error) {
	var f calendarFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("calendar: the file is empty")
		}
		return nil, fmt.Errorf("calendar: %w", err)
	}
	return f.build()
}

func (f calendarFile) build() (*Calendar, error) {
	if f.Timezone == "" {
		return nil, errors.New("calendar: timezone is required (e.g. Asia/Shanghai)")
	}
	loc, err := time.LoadLocation(f.Timezone)
	if err != nil {
		return nil, fmt.Errorf("calendar: timezone %q: %w", f.Timezone, err)
	}
	c := &Calendar{loc: loc}
	days := []struct {
		key   string
		day   time.Weekday
		hours []string
	}{
		{"mon", time.Monday, f.Weekly.Mon}, {"tue", time.Tuesday, f.Weekly.Tue},
		{"wed", time.Wednesday, f.Weekly.Wed}, {"thu", time.Thursday, f.Weekly.Thu},
		{"fri", time.Friday, f.Weekly.Fri}, {"sat", time.Saturday, f.Weekly.Sat},
		{"sun", time.Sunday, f.Weekly.Sun},
	}
	open := false
	for _, d := range days {
		if c.weekly[d.day], err = parseSpans("weekly."+d.key, d.hours); err != nil {
			return nil, err
		}
		open = open || len(c.weekly[d.day]) > 0
	}
	if !open {
		return nil, errors.New("calendar: weekly has no opening hours on any day")
	}
	if f.MakeupHours == nil {
		c.makeup = c.weekly[time.Monday]
	} else if c.makeup, err = parseSpans("makeup_hours", f.MakeupHours); err != nil {
		return nil, err
	}
	if c.holidays, err = parseDates("holidays", f.Holidays); err != nil {
		return nil, err
	}
	if c.makeupDays, err = parseDates("makeup_days", f.MakeupDays); err != nil {
		return nil, err
	}
	for _, s := range f.Holidays {
		if d, _ := parseDate(s); c.makeupDays[d] {
			return nil, fmt.Errorf("calendar: %s is both a holiday and a make-up day", s)
		}
	}
	return c, nil
}

// parseSpans parses ranges like "09:00-12:00", sorted, without overlaps.
func parseSpans(field string, ranges []string) ([]span, error) {
	spans := make([]span, 0, len(ranges))
	for _, r := range ranges {
		sp, err := parseSpan(r)
		if err != nil {
			return nil, fmt.Errorf("calendar: %s: range %q: %w", field, r, err)
		}
		spans = append(spans, sp)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return nil, fmt.Errorf("calendar: %s: ranges %s and %s overlap", field, spans[i-1], spans[i])
		}
	}
	return spans, nil
}

func parseSpan(r string) (span, error) {
	from, to, ok := strings.Cut(r, "-")
	if !ok {
		return span{}, errors.New(`want "HH:MM-HH:MM"`)
	}
	start, err := parseClock(strings.TrimSpace(from))
	if err != nil {
		return span{}, err
	}
	end, err := parseClock(strings.TrimSpace(to))
	if err != nil {
		return span{}, err
	}
	if end <= start {
		return span{}, errors.New("the end must be after the start")
	}
	return span{start, end}, nil
}

// parseClock parses "HH:MM" (00:00 to 24:00) into seconds after midnight.
func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hh)
	m, merr := strconv.Atoi(mm)
	if !ok || len(hh) != 2 || len(mm) != 2 || herr != nil || merr != nil ||
		h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q is not HH:MM between 00:00 and 24:00", s)
	}
	return h*3600 + m*60, nil
}

func (s span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.start/3600, s.start%3600/60, s.end/3600, s.end%3600/60)
}

func parseDates(field string, list []string) (map[date]bool, error) {
	set := make(map[date]bool, len(list))
	for _, s := range list {
		d, err := parseDate(s)
		if err != nil {
			return nil, fmt.Errorf("calendar: %s: %w", field, err)
		}
		if set[d] {
			return nil, fmt.Errorf("calendar: %s: %s is listed twice", field, s)
		}
		set[d] = true
	}
	return set, nil
}

func parseDate(s string) (date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return date{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return dateOf(t), nil
}

// hours returns the opening hours of the local day of t (t in c.loc): none
// on a holiday, the make-up hours on a make-up working day (调休), else the
// weekly hours of its weekday (S9).
func (c *Calendar) hours(t time.Time) []span {
	d := dateOf(t)
	switch {
	case c.holidays[d]:
		return nil
	case c.makeupDays[d]:
		return c.makeup
	}
	return c.weekly[t.Weekday()]
}

// secondOfDay is the wall-clock time of t as seconds after midnight.
func secondOfDay(t time.Time) int {
	h, m, s := t.Clock()
	return h*3600 + m*60 + s
}

// IsOpen reports whether the centre is open at t (S9). t may be in any zone:
// it is converted to the calendar's.
func (c *Calendar) IsOpen(t time.Time) bool {
	t = t.In(c.loc)
	sec := secondOfDay(t)
	for _, sp := range c.hours(t) {
		if sec >= sp.start && sec < sp.end {
			return true
		}
	}
	return false
}

// WorkingDay reports whether the local day of t (in the calendar's zone) has
// office hours: a weekday with hours that is not a holiday, or a make-up
// working day.
func (c *Calendar) WorkingDay(t time.Time) bool {
	return len(c.hours(t.In(c.loc))) > 0
}

// NextOpen returns the earliest instant at or after t when the centre is
// open: t itself when open, else the start of the next opening range. The
// result is in the calendar's zone. Deadlines in working time (S14) start
// counting from it.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	t = t.In(c.loc)
	// A validated calendar opens on some weekday, and only the listed
	// holidays can close one, so this many days always reach an open one.
	limit := 7 * (len(c.holidays) + 2)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc)
	for i := 0; i < limit; i++ {
		for _, sp := range c.hours(day) {
			start := atSecond(day, sp.start)
			end := atSecond(day, sp.end)
			if t.Before(end) {
				if t.After(start) {
					return t
				}
				return start
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, c.loc)
	}
	return time.Time{}
}

// atSecond is the instant sec seconds of wall-clock time after the local
// midnight of day (24:00 is the next midnight).
func atSecond(day time.Time, sec int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, sec, 0, day.Location())
}
