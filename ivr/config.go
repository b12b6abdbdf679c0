package ivr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Menu actions (MenuItem.Action).
const (
	// ActionQueue queues the caller in MenuItem.Category (S3).
	ActionQueue = "queue"
	// ActionPriority marks the caller as priority (S7) and asks again.
	ActionPriority = "priority"
	// ActionRepeat plays the menu again; it does not count as a retry.
	ActionRepeat = "repeat"
	// ActionCallback stores a callback request (after-hours menu only, S9).
	ActionCallback = "callback"
)

// Config is the IVR flow as data: the `ivr:` section of hotline.yaml. Decode it
// strictly (yaml.Decoder.KnownFields) over DefaultConfig, then call Validate.
type Config struct {
	// Language selects the prompt set callers hear first: "zh-CN" (default) or "en".
	Language string `yaml:"language"`
	// OtherLanguages are the languages a caller may switch to: by a key
	// offered at the end of the greeting ("For English, press 8"), or at
	// once when the caller's number starts with one of its prefixes.
	OtherLanguages []LanguageOption `yaml:"other_languages"`
	// HomePrefixes keep Language for callers whose number starts with one
	// of them even when an other language's prefix matches too (the longest
	// prefix wins): a home number in international form ("+86", "0086").
	HomePrefixes []string `yaml:"home_prefixes"`
	// Greeting is the prompt played first (S2 wording); default "welcome".
	Greeting string `yaml:"greeting"`
	// MenuTimeout is how long the menu waits for a key after the prompt.
	MenuTimeout configs.Duration `yaml:"menu_timeout"`
	// MaxRetries is how many missing or invalid keys a caller may give before
	// the IVR says goodbye (outcome "failed").
	MaxRetries int `yaml:"max_retries"`
	// AnnounceInterval is how often a queued caller hears position and wait (S8).
	AnnounceInterval configs.Duration `yaml:"announce_interval"`
	// MaxWait is how long a caller waits before the callback offer; declined,
	// it comes again after another MaxWait. Never for emergencies (S6).
	MaxWait configs.Duration `yaml:"max_wait"`
	// QueueMediaTimeout drops a queued caller whose RTP stopped for this
	// long: a phone in a call sends RTP all the time, silence included, so a
	// silent one has gone (a lost BYE) and must not be offered to an agent.
	QueueMediaTimeout configs.Duration `yaml:"queue_media_timeout"`
	// CallbackTimeout is how long the callback offer waits for key 1.
	CallbackTimeout configs.Duration `yaml:"callback_timeout"`
	// SurveyTimeout is how long the one-key survey waits after an agent hung up (S18).
	SurveyTimeout configs.Duration `yaml:"survey_timeout"`
	// PriorityNumbers are caller numbers queued with priority (S7), compared
	// exactly with Call.Caller().
	PriorityNumbers []string `yaml:"priority_numbers"`
	// Menu is the open-hours menu (S3, S7).
	Menu []MenuItem `yaml:"menu"`
	// AfterHoursMenu follows the after-hours message (S9); it must queue
	// emergencies (S6) and may queue nothing else.
	AfterHoursMenu []MenuItem `yaml:"after_hours_menu"`
}

// MenuItem maps one DTMF key to an action.
type MenuItem struct {
	Key      string `yaml:"key"`
	Action   string `yaml:"action"`             // queue, priority, repeat, callback
	Category string `yaml:"category,omitempty"` // for queue
}

// DefaultConfig returns the defaults of the service standard: menu 1 inquiry,
// 2 complaint, 3 emergency, 4 business, 9 priority, 0 repeat (S3, S7); after
// hours 1 callback, 3 emergency, 0 repeat (S6, S9); announcements every 30 s
// (S8); Mandarin, with English on key 8 and for international numbers.
func DefaultConfig() Config {
	return Config{
		Language:          "zh-CN",
		OtherLanguages:    []LanguageOption{{Language: "en", Key: "8", CallerPrefixes: []string{"00", "+"}}},
		HomePrefixes:      []string{"0086", "+86"},
		Greeting:          PromptWelcome,
		MenuTimeout:       configs.Duration(5 * time.Second),
		MaxRetries:        3,
		AnnounceInterval:  configs.Duration(30 * time.Second),
		MaxWait:           configs.Duration(2 * time.Minute),
		QueueMediaTimeout: configs.Duration(30 * time.Second),
		CallbackTimeout:   configs.Duration(8 * time.Second),
		SurveyTimeout:     configs.Duration(8 * time.Second),
		Menu: []MenuItem{
			{Key: "1", Action: ActionQueue, Category: configs.CategoryInquiry},
			{Key: "2", Action: ActionQueue, Category: configs.CategoryComplaint},
			{Key: "3", Action: ActionQueue, Category: configs.CategoryEmergency},
			{Key: "4", Action: ActionQueue, Category: configs.CategoryBusiness},
			{Key: "9", Action: ActionPriority},
			{Key: "0", Action: ActionRepeat},
		},
		AfterHoursMenu: []MenuItem{
			{Key: "1", Action: ActionCallback},
			{Key: "3", Action: ActionQueue, Category: configs.CategoryEmergency},
			{Key: "0", Action: ActionRepeat},
		},
	}
}

// Validate reports every problem in c, one per line, each naming the YAML key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.Contains(Languages(), c.Language) {
		add("language %q has no prompts: use one of %s", c.Language, strings.Join(Languages(), ", "))
	} else if !hasPrompt(c.Language, c.Greeting) {
		add("greeting %q: no prompt of that name in ivr/prompts/%s", c.Greeting, c.Language)
	}
	errs = append(errs, c.validateLanguages()...)
	for _, d := range []struct {
		name string
		d    configs.Duration
	}{{"menu_timeout", c.MenuTimeout}, {"announce_interval", c.AnnounceInterval},
		{"max_wait", c.MaxWait}, {"queue_media_timeout", c.QueueMediaTimeout},
		{"callback_timeout", c.CallbackTimeout}, {"survey_timeout", c.SurveyTimeout}} {
		if d.d <= 0 {
			add("%s must be a positive duration such as \"5s\", not %q", d.name, time.Duration(d.d))
		}
	}
	if c.MaxRetries < 1 {
		add("max_retries must be at least 1, not %d", c.MaxRetries)
	}
	for i, n := range c.PriorityNumbers {
		if strings.TrimSpace(n) == "" {
			add("priority_numbers[%d] is empty", i)
		}
	}
	errs = append(errs, validateMenu("menu", c.Menu, []string{ActionQueue, ActionPriority, ActionRepeat}, configs.QueueCategories())...)
	errs = append(errs, validateMenu("after_hours_menu", c.AfterHoursMenu,
		[]string{ActionQueue, ActionPriority, ActionRepeat, ActionCallback}, []string{configs.CategoryEmergency})...)
	if !queuesEmergency(c.AfterHoursMenu) {
		add("after_hours_menu must queue emergencies (action queue, category emergency): S6, S9")
	}
	return errors.Join(errs...)
}

// validateMenu checks keys, actions and categories of one menu.
func validateMenu(field string, items []MenuItem, actions, categories []string) []error {
	var errs []error
	add := func(i int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s[%d]: %s", field, i, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	queues := false
	for i, it := range items {
		if len(it.Key) != 1 || !strings.Contains(dtmfKeys, it.Key) {
			add(i, "key %q must be one DTMF key: one of %s", it.Key, dtmfKeys)
		} else if seen[it.Key] {
			add(i, "key %q is used twice", it.Key)
		}
		seen[it.Key] = true
		switch {
		case !slices.Contains(actions, it.Action):
			add(i, "action %q is not allowed here: use one of %s", it.Action, strings.Join(actions, ", "))
		case it.Action == ActionQueue && !slices.Contains(categories, it.Category):
			add(i, "category %q is not allowed here: use one of %s", it.Category, strings.Join(categories, ", "))
		case it.Action != ActionQueue && it.Category != "":
			add(i, "category is only for action queue, remove it")
		}
		queues = queues || it.Action == ActionQueue
	}
	if !queues {
		errs = append(errs, fmt.Errorf("%s must have at least one item with action queue", field))
	}
	return errs
}

func queuesEmergency(items []MenuItem) bool {
	return slices.ContainsFunc(items, func(it MenuItem) bool {
		return it.Action == ActionQueue && it.Category == configs.CategoryEmergency
	})
}

// dtmfKeys are the keys a phone can send (RFC 4733 events 0-15).
const dtmfKeys = "0123456789*#ABCD"
