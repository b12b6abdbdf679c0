package tickets

import "time"

// Working-time arithmetic for the deadlines of S14 on the calendar of S9.
//
// Two measures exist, because centres word their rules both ways:
//
//   - AddWorkingTime counts open hours: 2h from Friday 16:00 (hours 09–12,
//     13–17) ends Monday 10:00.
//   - AddWorkingDays counts whole working days: "within 5 working days"
//     from an instant inside office hours ends at the same time of day on
//     the 5th following working day (clamped into that day's hours); from an
//     instant outside them (night, weekend, holiday, lunch break before
//     nothing of the day was worked) the count starts at the next opening
//     and ends at the close of the 5th working day, that day included.
//     Both cases give the same amount of open time when every working day
//     has the same hours. Holidays are skipped, make-up days (调休) count.

// dayLimit bounds every day-by-day walk: a validated calendar opens on some
// weekday and only listed holidays close one, so an open day is always
// found well within it.
func (c *Calendar) dayLimit(days int) int {
	return (days + 2) * 7 * (len(c.holidays) + 2)
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func nextDay(day time.Time) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, day.Location())
}

// AddWorkingTime returns the instant when d of office hours have passed
// after t (S14). A d of zero or less returns t.
func (c *Calendar) AddWorkingTime(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	t = t.In(c.loc)
	day := midnight(t)
	for range c.dayLimit(int(d / (24 * time.Hour))) {
		for _, sp := range c.hours(day) {
			start, end := atSecond(day, sp.start), atSecond(day, sp.end)
			if !t.Before(end) {
				continue
			}
			if t.Before(start) {
				t = start
			}
			if left := end.Sub(t); d <= left {
				return t.Add(d)
			}
			d -= end.Sub(t)
			t = end
		}
		day = nextDay(day)
	}
	return time.Time{}
}

// AddWorkingDays returns the end of n whole working days after t, as
// described above (S14). An n of zero or less returns t.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	if n <= 0 {
		return t
	}
	start := c.NextOpen(t)
	day := midnight(start)
	hours := c.hours(day)
	if start.Equal(atSecond(day, hours[0].start)) {
		// Nothing of this working day is used yet: it is the first of the n.
		for range n - 1 {
			day = c.nextWorkingDay(day)
		}
		last := c.hours(day)
		return atSecond(day, last[len(last)-1].end)
	}
	for range n {
		day = c.nextWorkingDay(day)
	}
	return c.clampInto(day, secondOfDay(start))
}

// nextWorkingDay returns the midnight of the first working day after day.
func (c *Calendar) nextWorkingDay(day time.Time) time.Time {
	for range c.dayLimit(1) {
		day = nextDay(day)
		if len(c.hours(day)) > 0 {
			return day
		}
	}
	return time.Time{}
}

// clampInto returns the instant sec seconds after the midnight of working
// day, moved back into its office hours when the day's hours differ: to the
// close before sec, or the first opening when sec precedes all of them.
func (c *Calendar) clampInto(day time.Time, sec int) time.Time {
	hours := c.hours(day)
	prev := hours[0].start
	for _, sp := range hours {
		if sec < sp.start {
			return atSecond(day, prev)
		}
		if sec <= sp.end {
			return atSecond(day, sec)
		}
		prev = sp.end
	}
	return atSecond(day, prev)
}
