package tickets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"gopkg.in/yaml.v3"
)

// Span is a deadline length (S14): exactly one of clock time, working
// hours or working days on the calendar of S9.
type Span struct {
	Clock        configs.Duration `yaml:"clock"`         // wall-clock time, e.g. 24h
	WorkingHours configs.Duration `yaml:"working_hours"` // open hours only (Calendar.AddWorkingTime)
	WorkingDays  int              `yaml:"working_days"`  // whole working days (Calendar.AddWorkingDays)
}

func (s Span) validate(field string) error {
	set := 0
	for _, on := range []bool{s.Clock != 0, s.WorkingHours != 0, s.WorkingDays != 0} {
		if on {
			set++
		}
	}
	switch {
	case set != 1:
		return fmt.Errorf("deadlines: %s: set exactly one of clock, working_hours or working_days", field)
	case s.Clock < 0 || s.WorkingHours < 0 || s.WorkingDays < 0:
		return fmt.Errorf("deadlines: %s: the length must be positive", field)
	}
	return nil
}

func (s Span) working() bool { return s.WorkingHours != 0 || s.WorkingDays != 0 }

// after returns the end of the span started at t.
func (s Span) after(cal *Calendar, t time.Time) time.Time {
	switch {
	case s.WorkingDays != 0:
		return cal.AddWorkingDays(t, s.WorkingDays)
	case s.WorkingHours != 0:
		return cal.AddWorkingTime(t, time.Duration(s.WorkingHours))
	}
	return t.Add(time.Duration(s.Clock))
}

// CategoryRule is the deadline rule of one ticket category (S14).
type CategoryRule struct {
	// FirstContact is the time to contact the caller (complaints: 24h).
	FirstContact *Span `yaml:"first_contact"`
	// Answer is the time to answer or solve: due_at.
	Answer *Span `yaml:"answer"`
	// NoDeadlineWhenAnswered: a contact answered on the call has no due_at.
	NoDeadlineWhenAnswered bool `yaml:"no_deadline_when_answered"`
	// EscalationAfter is the time from level 1 to level 2 (S15); 0 = the global value.
	EscalationAfter configs.Duration `yaml:"escalation_after"`
	// IDRequired: the form needs the caller's ID number (S4).
	IDRequired bool `yaml:"id_required"`
	// FollowUpRequired: the form needs a follow-up deadline whatever the result.
	FollowUpRequired bool `yaml:"follow_up_required"`
}

// DeadlineRules are the per-category deadline rules of configs/deadlines.yaml.
type DeadlineRules struct {
	// EscalationAfter is the default time from level 1 to level 2 (S15).
	EscalationAfter configs.Duration `yaml:"escalation_after"`
	// RepeatWindow is how far back a caller's open ticket counts (S16).
	RepeatWindow configs.Duration `yaml:"repeat_window"`
	// FollowUpResults are the results that need a follow-up deadline (S13).
	FollowUpResults []string `yaml:"follow_up_results"`
	// Categories holds one rule per ticket category.
	Categories map[string]CategoryRule `yaml:"categories"`
	// Callback is how soon a callback request is returned (S9, S14): the
	// due_at of its ticket, counted from the request; nil: no deadline.
	Callback *Span `yaml:"callback"`
}

// DefaultDeadlineRules returns the defaults of S14–S16 (the values of the
// shipped configs/deadlines.yaml).
func DefaultDeadlineRules() *DeadlineRules {
	return &DeadlineRules{
		EscalationAfter: configs.Duration(24 * time.Hour),
		RepeatWindow:    configs.Duration(7 * 24 * time.Hour),
		FollowUpResults: []string{ResultAppointment, ResultFollowUp},
		Categories: map[string]CategoryRule{
			configs.CategoryComplaint:  {FirstContact: &Span{Clock: configs.Duration(24 * time.Hour)}, Answer: &Span{WorkingDays: 5}},
			configs.CategoryEmergency:  {Answer: &Span{Clock: configs.Duration(30 * time.Minute)}, EscalationAfter: configs.Duration(time.Hour)},
			configs.CategoryBusiness:   {Answer: &Span{WorkingDays: 3}, IDRequired: true},
			configs.CategoryReport:     {Answer: &Span{WorkingDays: 10}},
			configs.CategoryInquiry:    {Answer: &Span{WorkingDays: 1}, NoDeadlineWhenAnswered: true},
			configs.CategorySuggestion: {},
		},
		Callback: &Span{WorkingHours: configs.Duration(2 * time.Hour)},
	}
}

// LoadDeadlineRules reads configs/deadlines.yaml strictly (unknown keys are
// errors) and validates it.
func LoadDeadlineRules(path string) (*DeadlineRules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load deadline rules: %w", err)
	}
	var r DeadlineRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: deadlines: the file is empty", path)
		}
		return nil, fmt.Errorf("%s: deadlines: %w", path, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Validate reports a rule a person has to fix.
func (r *DeadlineRules) Validate() error {
	if r.EscalationAfter <= 0 {
		return errors.New("deadlines: escalation_after must be a positive duration like \"24h\" (S15)")
	}
	if r.RepeatWindow <= 0 {
		return errors.New("deadlines: repeat_window must be a positive duration like \"168h\" (S16)")
	}
	for _, res := range r.FollowUpResults {
		if !slices.Contains(results, res) {
			return fmt.Errorf("deadlines: follow_up_results: %q is not one of %v", res, results)
		}
	}
	for _, c := range configs.TicketCategories() {
		if _, ok := r.Categories[c]; !ok {
			return fmt.Errorf("deadlines: categories: %s has no rule (write \"%s: {}\" for none)", c, c)
		}
	}
	for c, rule := range r.Categories {
		if err := rule.validate(c); err != nil {
			return err
		}
	}
	if r.Callback != nil {
		return r.Callback.validate("callback")
	}
	return nil
}

func (c CategoryRule) validate(category string) error {
	if !slices.Contains(configs.TicketCategories(), category) {
		return fmt.Errorf("deadlines: categories: %q is not one of %v", category, configs.TicketCategories())
	}
	if c.EscalationAfter < 0 {
		return fmt.Errorf("deadlines: categories.%s.escalation_after must not be negative", category)
	}
	for field, s := range map[string]*Span{"first_contact": c.FirstContact, "answer": c.Answer} {
		if s == nil {
			continue
		}
		if err := s.validate("categories." + category + "." + field); err != nil {
			return err
		}
	}
	return nil
}

// needsCalendar reports whether any rule counts working time.
func (r *DeadlineRules) needsCalendar() bool {
	if r.Callback != nil && r.Callback.working() {
		return true
	}
	for _, c := range r.Categories {
		for _, s := range []*Span{c.FirstContact, c.Answer} {
			if s != nil && s.working() {
				return true
			}
		}
	}
	return false
}

// Deadlines are the due times of one ticket; zero when none.
type Deadlines struct {
	FirstContactDue time.Time
	Due             time.Time
	// Uncertain: a deadline counted in working time ends in a year whose
	// holidays the calendar does not list (S9), so it may be too early.
	Uncertain bool
}

// Compute returns the deadlines of a ticket of category with result entered
// at enteredAt (S14). Without an answer rule (or when the rule skips
// contacts answered on the call), a follow-up deadline given on the form is
// the due time, so every follow-up is tracked.
func (r *DeadlineRules) Compute(cal *Calendar, category, result string, enteredAt, followUp time.Time) Deadlines {
	rule := r.Categories[category]
	var d Deadlines
	if rule.FirstContact != nil {
		d.FirstContactDue = rule.FirstContact.after(cal, enteredAt)
		d.Uncertain = rule.FirstContact.working() && !cal.Covers(d.FirstContactDue)
	}
	skip := rule.NoDeadlineWhenAnswered && result == ResultAnswered
	if rule.Answer != nil && !skip {
		d.Due = rule.Answer.after(cal, enteredAt)
		d.Uncertain = d.Uncertain || rule.Answer.working() && !cal.Covers(d.Due)
	}
	if d.Due.IsZero() && !followUp.IsZero() {
		d.Due = followUp
	}
	return d
}

// EscalationAfterFor returns the time from escalation level 1 to level 2 for
// category (S15).
func (r *DeadlineRules) EscalationAfterFor(category string) time.Duration {
	if d := r.Categories[category].EscalationAfter; d > 0 {
		return time.Duration(d)
	}
	return time.Duration(r.EscalationAfter)
}

func (r *DeadlineRules) followUpNeeded(category, result string) bool {
	return r.Categories[category].FollowUpRequired || slices.Contains(r.FollowUpResults, result)
}

func (r *DeadlineRules) idRequired(category string) bool {
	return r.Categories[category].IDRequired
}
