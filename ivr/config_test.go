package ivr

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// decode decodes doc strictly over the defaults, as cmd does.
func decode(t *testing.T, doc string) (Config, error) {
	t.Helper()
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewBufferString(doc))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg, err
}

func TestConfigYAML(t *testing.T) {
	cfg, err := decode(t, `
language: en
other_languages:
  - {language: zh-CN, key: "7", caller_prefixes: ["+86", "0086"]}
home_prefixes: ["+44"]
menu_timeout: 7s
max_retries: 2
announce_interval: 45s
max_wait: 3m
callback_timeout: 10s
priority_numbers: ["13900000009"]
menu:
  - {key: "1", action: queue, category: inquiry}
  - {key: "3", action: queue, category: emergency}
  - {key: "*", action: repeat}
`)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Language != "en" || time.Duration(cfg.MenuTimeout) != 7*time.Second || cfg.MaxRetries != 2 ||
		time.Duration(cfg.MaxWait) != 3*time.Minute || len(cfg.Menu) != 3 || cfg.Menu[2].Key != "*" ||
		len(cfg.AfterHoursMenu) != 3 || cfg.Greeting != PromptWelcome ||
		len(cfg.OtherLanguages) != 1 || cfg.OtherLanguages[0].Key != "7" || len(cfg.OtherLanguages[0].CallerPrefixes) != 2 ||
		len(cfg.HomePrefixes) != 1 {
		t.Errorf("decoded %+v", cfg)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil || !strings.Contains(string(out), "max_wait: 3m0s") {
		t.Errorf("Marshal = %s, %v; want max_wait: 3m0s", out, err)
	}
}

func TestConfigDecodeErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown key", "menu_timeot: 5s", "menu_timeot"},
		{"number without unit", "menu_timeout: 5", "is not a duration"},
		{"not a duration", "max_wait: soon", `"soon"`},
		{"mapping as duration", "max_wait: {a: 1}", "want a duration such as"},
		{"unknown menu field", `menu: [{key: "1", action: queue, queue: inquiry}]`, "queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decode(t, tt.doc); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown language", func(c *Config) { c.Language = "fr" }, `language "fr" has no prompts: use one of en, zh-CN`},
		{"missing greeting", func(c *Config) { c.Greeting = "hello" }, `greeting "hello"`},
		{"zero timeout", func(c *Config) { c.MenuTimeout = 0 }, "menu_timeout must be a positive duration"},
		{"negative max_wait", func(c *Config) { c.MaxWait = configs.Duration(-time.Second) }, "max_wait must be a positive"},
		{"zero interval", func(c *Config) { c.AnnounceInterval = 0 }, "announce_interval must be"},
		{"zero callback timeout", func(c *Config) { c.CallbackTimeout = 0 }, "callback_timeout must be"},
		{"no retries", func(c *Config) { c.MaxRetries = 0 }, "max_retries must be at least 1"},
		{"empty priority number", func(c *Config) { c.PriorityNumbers = []string{" "} }, "priority_numbers[0] is empty"},
		{"two-char key", func(c *Config) { c.Menu[0].Key = "12" }, `menu[0]: key "12" must be one DTMF key`},
		{"letter key", func(c *Config) { c.Menu[0].Key = "x" }, `menu[0]: key "x"`},
		{"duplicate key", func(c *Config) { c.Menu[1].Key = "1" }, `menu[1]: key "1" is used twice`},
		{"unknown action", func(c *Config) { c.Menu[0].Action = "transfer" }, `menu[0]: action "transfer" is not allowed`},
		{"callback in open menu", func(c *Config) { c.Menu[5].Action = ActionCallback }, `menu[5]: action "callback"`},
		{"unknown category", func(c *Config) { c.Menu[0].Category = "sales" }, `menu[0]: category "sales"`},
		{"category on repeat", func(c *Config) { c.Menu[5].Category = "inquiry" }, "menu[5]: category is only for action queue"},
		{"no queue", func(c *Config) { c.Menu = []MenuItem{{Key: "0", Action: ActionRepeat}} }, "menu must have at least one item with action queue"},
		{"inquiry after hours", func(c *Config) { c.AfterHoursMenu[1].Category = configs.CategoryInquiry }, "after_hours_menu must queue emergencies"},
		{"language key in the menu", func(c *Config) { c.OtherLanguages[0].Key = "1" },
			`other_languages[0]: key "1" is already used in menu`},
		{"language key in the after-hours menu", func(c *Config) { c.AfterHoursMenu[0].Key = "8" },
			`other_languages[0]: key "8" is already used in after_hours_menu`},
		{"language key not a digit", func(c *Config) { c.OtherLanguages[0].Key = "*" }, `key "*" must be one digit 0-9`},
		{"two-digit language key", func(c *Config) { c.OtherLanguages[0].Key = "88" }, `key "88" must be one digit 0-9`},
		{"home language offered", func(c *Config) { c.OtherLanguages[0].Language = "zh-CN" }, `language "zh-CN" is already`},
		{"other language without prompts", func(c *Config) { c.OtherLanguages[0].Language = "fr" },
			`other_languages[0]: language "fr" has no prompts`},
		{"language listed twice", func(c *Config) {
			c.OtherLanguages = append(c.OtherLanguages, LanguageOption{Language: "en", Key: "7"})
		}, `other_languages[1]: language "en" is listed twice`},
		{"two languages on one key", func(c *Config) {
			c.OtherLanguages = append(c.OtherLanguages, LanguageOption{Language: "en", Key: "8"})
		}, `other_languages[1]: key "8" is already used in other_languages[0]`},
		{"empty prefix", func(c *Config) { c.OtherLanguages[0].CallerPrefixes = []string{""} },
			`other_languages[0].caller_prefixes[0]: prefix "" must be 1 to 16 characters`},
		{"letters in a prefix", func(c *Config) { c.HomePrefixes = []string{"+86x"} }, `home_prefixes[0]: prefix "+86x"`},
		{"long prefix", func(c *Config) { c.HomePrefixes = []string{"+12345678901234567"} }, `prefix "+12345678901234567" must be`},
		{"prefix in two lists", func(c *Config) { c.HomePrefixes = []string{"00"} },
			`other_languages[0].caller_prefixes[0]: prefix "00" is also in home_prefixes[0]`},
		{"too many prefixes", func(c *Config) { c.HomePrefixes = make([]string, 65) }, "home_prefixes has 65 prefixes, at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Menu = append([]MenuItem(nil), cfg.Menu...)
			tt.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want it to contain %q", err, tt.want)
			}
			if _, err := NewFlow(cfg, FlowOptions{Hours: fakeHours(true), Queue: &fakeQueue{}, Records: &fakeRecords{}, Clock: &fakeClock{}}); err == nil {
				t.Errorf("NewFlow accepted an invalid config")
			}
		})
	}
}

func TestNewFlowNeedsDependencies(t *testing.T) {
	if _, err := NewFlow(DefaultConfig(), FlowOptions{Queue: &fakeQueue{}, Records: &fakeRecords{}, Clock: &fakeClock{}}); err == nil {
		t.Errorf("NewFlow without Hours: no error")
	}
}

// Metrics count outcomes, choices, invalid keys, timeouts, priority and callbacks.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, true, nil)
	h.flow.m = NewMetrics(reg)
	h.call(t, "13800000001", key('7'), key('9'), key('2'), hangup("loop"))
	h.call(t, "13800000001", timeout(), timeout(), timeout())
	h.flow.hours = fakeHours(false)
	h.call(t, "13800000001", key('1'))
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	want := map[string]float64{
		"hotline_ivr_calls_total{outcome=abandoned_in_queue}": 1,
		"hotline_ivr_calls_total{outcome=failed}":             1,
		"hotline_ivr_calls_total{outcome=callback}":           1,
		"hotline_ivr_calls_total{outcome=after_hours}":        0,
		"hotline_ivr_menu_choices_total{category=complaint}":  1,
		"hotline_ivr_menu_choices_total{category=inquiry}":    0,
		"hotline_ivr_menu_invalid_total":                      1,
		"hotline_ivr_menu_timeouts_total":                     3,
		"hotline_ivr_priority_calls_total{source=key}":        1,
		"hotline_ivr_callbacks_total{reason=after_hours}":     1,
		"hotline_ivr_queue_announcements_total":               1,
		// The complaint caller left the queue by hanging up; the
		// after-hours callback never queued.
		"hotline_ivr_queue_offered_total{category=complaint}":                     1,
		"hotline_ivr_queue_outcomes_total{category=complaint}{outcome=abandoned}": 1,
		"hotline_ivr_queue_outcomes_total{category=complaint}{outcome=callback}":  0,
		"hotline_ivr_queue_outcomes_total{category=inquiry}{outcome=abandoned}":   0,
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[seriesName(f.GetName(), m)] = m.GetCounter().GetValue()
		}
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
}

func seriesName(name string, m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		name += "{" + l.GetName() + "=" + l.GetValue() + "}"
	}
	return name
}
