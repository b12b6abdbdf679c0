package ivr

import (
	"slices"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// en names prompts in English, the language of DefaultConfig's key 8.
func en(parts ...any) []string {
	var out []string
	for _, n := range seq(parts...) {
		if strings.HasPrefix(n, "hold→") {
			out = append(out, n) // the fake's hold music marker
			continue
		}
		out = append(out, PromptID("en", n))
	}
	return out
}

// A caller chooses English with the greeting's key, or their number
// chooses it; from then on every prompt is English and the result says so.
func TestLanguageChoice(t *testing.T) {
	const plain = "13800000001"
	offer := PromptLanguageOffer
	tests := []struct {
		name         string
		closed       bool
		caller       string
		script       []event
		wantPlayed   []string
		wantLanguage string
		wantSource   string // label of language_choices_total counted once, "" none
		wantOutcome  string
	}{
		{name: "key 8 during the offer: menu and queue in English", caller: plain,
			script:       []event{during(offer, '8'), key('2'), hangup("loop")},
			wantPlayed:   seq(greet, en(PromptMenu, PromptQueueEntered, ann("num_1", "num_1", true), "hold→+30s")),
			wantLanguage: "en", wantSource: languageByKey, wantOutcome: OutcomeAbandonedInQueue},
		{name: "key 8 in the menu: the menu again in English, not a retry", caller: plain,
			script:       []event{key('8'), timeout(), timeout(), timeout()},
			wantPlayed:   seq(greet, PromptMenu, en(PromptMenu, PromptNoInput, PromptMenu, PromptNoInput, PromptMenu, PromptGoodbye)),
			wantLanguage: "en", wantSource: languageByKey, wantOutcome: OutcomeFailed},
		{name: "key 8 once in English is an invalid choice", caller: plain,
			script: []event{during(offer, '8'), key('8'), key('1'), hangup("loop")},
			wantPlayed: seq(greet, en(PromptMenu, PromptInvalidChoice, PromptMenu, PromptQueueEntered,
				ann("num_1", "num_1", true), "hold→+30s")),
			wantLanguage: "en", wantSource: languageByKey, wantOutcome: OutcomeAbandonedInQueue},
		{name: "international number 00: the greeting in English, no offer", caller: "00442079460000",
			script:       []event{key('1'), hangup("loop")},
			wantPlayed:   en(PromptWelcome, PromptMenu, PromptQueueEntered, ann("num_1", "num_1", true), "hold→+30s"),
			wantLanguage: "en", wantSource: languageByPrefix, wantOutcome: OutcomeAbandonedInQueue},
		{name: "international number +: English", caller: "+442079460000",
			script:       []event{hangup("read")},
			wantPlayed:   en(PromptWelcome, PromptMenu),
			wantLanguage: "en", wantSource: languageByPrefix, wantOutcome: OutcomeAbandonedInMenu},
		{name: "home number in international form stays Mandarin (longest prefix)", caller: "+8613800000001",
			script:       []event{hangup("read")},
			wantPlayed:   seq(greet, PromptMenu),
			wantLanguage: "zh-CN", wantOutcome: OutcomeAbandonedInMenu},
		{name: "after hours: key 8 during the greeting, the closed message in English", closed: true, caller: plain,
			script:       []event{during(offer, '8'), key('1')},
			wantPlayed:   seq(greet, en(PromptAfterHours, PromptMenuAfterHours, PromptCallbackConfirmed, PromptGoodbye)),
			wantLanguage: "en", wantSource: languageByKey, wantOutcome: OutcomeCallback},
		{name: "after hours: key 8 in the menu says the closed message again in English", closed: true, caller: plain,
			script: []event{key('8'), key('1')},
			wantPlayed: seq(greet, PromptAfterHours, PromptMenuAfterHours,
				en(PromptAfterHours, PromptMenuAfterHours, PromptCallbackConfirmed, PromptGoodbye)),
			wantLanguage: "en", wantSource: languageByKey, wantOutcome: OutcomeCallback},
		{name: "no key: Mandarin throughout", caller: plain,
			script:       []event{key('4'), hangup("loop")},
			wantPlayed:   seq(greet, PromptMenu, PromptQueueEntered, ann("num_1", "num_1", true), "hold→+30s"),
			wantLanguage: "zh-CN", wantOutcome: OutcomeAbandonedInQueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, !tt.closed, nil)
			h.flow.m = NewMetrics(nil)
			res, c := h.call(t, tt.caller, tt.script...)
			if !slices.Equal(c.played, tt.wantPlayed) {
				t.Errorf("played\n got %v\nwant %v", c.played, tt.wantPlayed)
			}
			if res.Language != tt.wantLanguage || res.Outcome != tt.wantOutcome || res.Err != nil {
				t.Errorf("result language %q outcome %q err %v, want %q %q", res.Language, res.Outcome, res.Err,
					tt.wantLanguage, tt.wantOutcome)
			}
			for _, src := range []string{languageByKey, languageByPrefix} {
				want := 0.0
				if src == tt.wantSource {
					want = 1
				}
				if got := testutil.ToFloat64(h.flow.m.languages.WithLabelValues("en", src)); got != want {
					t.Errorf("language_choices_total{en,%s} = %v, want %v", src, got, want)
				}
			}
		})
	}
}

// An English caller hears the staff number (S2), the complaint reference
// (S17) and the survey (S18) in English.
func TestEnglishCallThroughAgent(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryComplaint}
	h.build(t, ag, fakeTickets{})
	res, c := h.call(t, "13800000001", during(PromptLanguageOffer, '8'), key('2'), key('1'))
	want := seq(greet, en(PromptMenu, PromptAgentNumberPrefix, SayDigits("1001"), PromptAgentNumberSuffix,
		PromptTicketNumberPrefix, SayDigits("20261123000042"), PromptSurvey, PromptSurveyThanks, PromptGoodbye))
	if !slices.Equal(c.played, want) {
		t.Fatalf("played\n got %v\nwant %v", c.played, want)
	}
	if res.Language != "en" || res.Outcome != OutcomeAnswered || res.SurveyScore != 1 || res.TicketRef == "" {
		t.Fatalf("result %+v", res)
	}
}

// S6: after hours, a key that queues the same category in both menus (3,
// emergency) counts at once wherever it is pressed — the greeting, the
// closed message, the after-hours menu; other keys in the greeting are
// dropped and counted.
func TestAfterHoursSharedKey(t *testing.T) {
	const plain = "13800000001"
	emergency := seq(PromptQueueEmergency, firstAnn)
	tests := []struct {
		name        string
		edit        func(*Config)
		script      []event
		wantPlayed  []string
		wantDropped float64
	}{
		{name: "3 during the greeting", script: []event{during(PromptWelcome, '3'), hangup("loop")},
			wantPlayed: seq(greet, emergency)},
		{name: "3 during the language offer", script: []event{during(PromptLanguageOffer, '3'), hangup("loop")},
			wantPlayed: seq(greet, emergency)},
		{name: "1 and 2 during the greeting are dropped, then 3 counts",
			script:     []event{during(PromptWelcome, '1'), during(PromptWelcome, '2'), during(PromptWelcome, '3'), hangup("loop")},
			wantPlayed: seq(greet, emergency), wantDropped: 2},
		{name: "3 during the closed message", script: []event{during(PromptAfterHours, '3'), hangup("loop")},
			wantPlayed: seq(greet, PromptAfterHours, PromptMenuAfterHours, emergency)},
		{name: "3 during the after-hours menu", script: []event{during(PromptMenuAfterHours, '3'), hangup("loop")},
			wantPlayed: seq(greet, PromptAfterHours, PromptMenuAfterHours, emergency)},
		{name: "emergency on another key after hours: nothing is shared",
			edit: func(c *Config) { c.AfterHoursMenu[1].Key = "5" },
			script: []event{during(PromptWelcome, '3'), during(PromptWelcome, '5'), during(PromptMenuAfterHours, '5'),
				hangup("loop")},
			wantPlayed: seq(greet, PromptAfterHours, PromptMenuAfterHours, emergency), wantDropped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, false, tt.edit)
			h.flow.m = NewMetrics(nil)
			res, c := h.call(t, plain, tt.script...)
			if !slices.Equal(c.played, tt.wantPlayed) {
				t.Errorf("played\n got %v\nwant %v", c.played, tt.wantPlayed)
			}
			if res.Category != configs.CategoryEmergency || res.QueuedAt.IsZero() || res.Outcome != OutcomeAbandonedInQueue {
				t.Errorf("result %+v, want queued as emergency", res)
			}
			if got := testutil.ToFloat64(h.flow.m.dropped.WithLabelValues(stageGreeting)); got != tt.wantDropped {
				t.Errorf("dtmf_dropped_total{greeting} = %v, want %v", got, tt.wantDropped)
			}
		})
	}
}

func TestSharedKeys(t *testing.T) {
	cfg := DefaultConfig()
	open := compileMenu(cfg.Menu, nil, PromptMenu)
	if got := sharedKeys(open, compileMenu(cfg.AfterHoursMenu, nil, PromptMenuAfterHours)); got != "3" {
		t.Errorf("sharedKeys(default) = %q, want \"3\" (emergency; 0 repeats but is no choice)", got)
	}
	other := []MenuItem{{Key: "1", Action: ActionQueue, Category: configs.CategoryEmergency}}
	if got := sharedKeys(open, compileMenu(other, nil, PromptMenuAfterHours)); got != "" {
		t.Errorf("sharedKeys(1 = inquiry / emergency) = %q, want none", got)
	}
}

// Keys pressed where they mean nothing are consumed, logged and counted by
// stage: in the after-hours greeting, while queued before the callback offer,
// before the survey question and as a survey answer other than 1-3.
func TestDroppedKeysCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)

	closed := newHarness(t, false, nil)
	closed.flow.m = m
	closed.call(t, "13800000001", during(PromptWelcome, '1'), during(PromptWelcome, '9'), key('1'))

	queued := newHarness(t, true, nil)
	queued.flow.m = m
	queued.call(t, "13800000001", key('1'), held('5'), held('6'), key('1'))

	surveyed := newHarness(t, true, nil)
	surveyed.flow.m = m
	surveyed.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryComplaint}
	surveyed.build(t, ag, fakeTickets{})
	surveyed.flow.m = m
	res, _ := surveyed.call(t, "13800000001", key('2'), held('4'), key('7'))
	if res.SurveyScore != 0 {
		t.Errorf("survey score %d from key 7, want none", res.SurveyScore)
	}

	for stage, want := range map[string]float64{stageGreeting: 2, stageCallbackOffer: 2, stageSurvey: 2} {
		if got := testutil.ToFloat64(m.dropped.WithLabelValues(stage)); got != want {
			t.Errorf("hotline_ivr_dtmf_dropped_total{stage=%q} = %v, want %v", stage, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "hotline_ivr_dtmf_dropped_total"); err != nil || n != 3 {
		t.Errorf("dtmf_dropped_total series = %d, %v; want the 3 stages", n, err)
	}
}
