package tickets

import (
	"fmt"
	"time"
)

// Holidays and make-up days (调休) are announced one year at a time by the
// State Council, each November for the next year. A year without listed
// holidays is not a year without holidays: its working-day arithmetic would
// count New Year's Day and the Spring Festival as working days (S9, S14).

// lastHolidayYear returns the latest year with a listed holiday, 0 when none.
func (c *Calendar) lastHolidayYear() int {
	last := 0
	for d := range c.holidays {
		last = max(last, d.y)
	}
	return last
}

// hasHolidaysIn reports whether the calendar lists a holiday in year.
func (c *Calendar) hasHolidaysIn(year int) bool {
	for d := range c.holidays {
		if d.y == year {
			return true
		}
	}
	return false
}

// CoveredUntil returns the last date the calendar covers: 31 December of the
// last year with holidays in calendar.yaml, at midnight in the calendar's
// zone; the zero time when no holidays are listed at all.
func (c *Calendar) CoveredUntil() time.Time {
	y := c.lastHolidayYear()
	if y == 0 {
		return time.Time{}
	}
	return time.Date(y, time.December, 31, 0, 0, 0, 0, c.loc)
}

// Covers reports whether the local date of t falls in a year whose holidays
// the calendar lists, so working time counted up to t is right.
func (c *Calendar) Covers(t time.Time) bool {
	return c.hasHolidaysIn(t.In(c.loc).Year())
}

// CheckCoverage reports, for /readyz and the start-up log, a calendar about
// to run out: from 1 December (in the calendar's zone) the next year's
// holidays must be listed, and the current year's always. The error names
// the year to add from the State Council notice.
func (c *Calendar) CheckCoverage(now time.Time) error {
	now = now.In(c.loc)
	years := []int{now.Year()}
	if now.Month() == time.December {
		years = append(years, now.Year()+1)
	}
	for _, y := range years {
		if !c.hasHolidaysIn(y) {
			return fmt.Errorf("calendar has no holidays for %d: working-day deadlines in %d count its holidays as working days; add them from the State Council notice", y, y)
		}
	}
	return nil
}
