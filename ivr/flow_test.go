package ivr

import (
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// firstAnn is what a caller alone in the queue hears on entry: position 1,
// about one minute (S8), then hold music until the next announcement.
var firstAnn = seq(ann("num_1", "num_1", true), "hold→+30s")

func TestFlowMenu(t *testing.T) {
	const plain, listed = "13800000001", "13900000009"
	welcomeMenu := seq(greet, PromptMenu)
	closedMenu := seq(greet, PromptAfterHours, PromptMenuAfterHours)
	tests := []struct {
		name         string
		closed       bool
		caller       string
		script       []event
		wantPlayed   []string
		wantOutcome  string
		wantCategory string
		wantPriority bool
		wantQueued   bool
		wantCallback string // reason of the one callback request, "" for none
	}{
		{name: "valid key queues in its category (S3)", caller: plain,
			script:      []event{key('2'), hangup("loop")},
			wantPlayed:  seq(welcomeMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryComplaint, wantQueued: true},
		{name: "barge-in during the menu", caller: plain,
			script:      []event{barge('4'), hangup("loop")},
			wantPlayed:  seq(welcomeMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryBusiness, wantQueued: true},
		{name: "key typed during the greeting answers the menu", caller: plain,
			script:      []event{typeAhead('3'), hangup("loop")},
			wantPlayed:  seq(greet, PromptQueueEmergency, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryEmergency, wantQueued: true},
		{name: "invalid key typed during the greeting is a retry", caller: plain,
			script:      []event{typeAhead('7'), key('1'), hangup("loop")},
			wantPlayed:  seq(greet, PromptInvalidChoice, PromptMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryInquiry, wantQueued: true},
		{name: "invalid then valid key", caller: plain,
			script:      []event{key('7'), key('1'), hangup("loop")},
			wantPlayed:  seq(welcomeMenu, PromptInvalidChoice, PromptMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryInquiry, wantQueued: true},
		{name: "no key max_retries times says goodbye", caller: plain,
			script: []event{timeout(), timeout(), timeout()},
			wantPlayed: seq(welcomeMenu, PromptNoInput, PromptMenu, PromptNoInput, PromptMenu,
				PromptGoodbye),
			wantOutcome: OutcomeFailed},
		{name: "invalid and missing keys share the retries", caller: plain,
			script: []event{key('6'), timeout(), key('#')},
			wantPlayed: seq(welcomeMenu, PromptInvalidChoice, PromptMenu, PromptNoInput, PromptMenu,
				PromptGoodbye),
			wantOutcome: OutcomeFailed},
		{name: "key 0 repeats and is not a retry", caller: plain,
			script: []event{key('0'), key('6'), key('0'), timeout(), key('0'), key('3'), hangup("loop")},
			wantPlayed: seq(welcomeMenu, PromptMenu, PromptInvalidChoice, PromptMenu, PromptMenu,
				PromptNoInput, PromptMenu, PromptMenu, PromptQueueEmergency,
				ann("num_1", "num_1", true), "hold→+35s"),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryEmergency, wantQueued: true},
		{name: "key 9 marks priority and asks again (S7)", caller: plain,
			script:      []event{key('9'), key('1'), hangup("loop")},
			wantPlayed:  seq(welcomeMenu, PromptPriorityAck, PromptMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryInquiry, wantPriority: true,
			wantQueued: true},
		{name: "listed number is priority (S7)", caller: listed,
			script:      []event{key('1'), hangup("loop")},
			wantPlayed:  seq(welcomeMenu, PromptQueueEntered, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryInquiry, wantPriority: true,
			wantQueued: true},
		{name: "hang-up in menu", caller: plain,
			script:      []event{hangup("read")},
			wantPlayed:  welcomeMenu,
			wantOutcome: OutcomeAbandonedInMenu},
		{name: "hang-up during greeting", caller: plain,
			script:      []event{hangup("play")},
			wantPlayed:  greet,
			wantOutcome: OutcomeAbandonedInMenu},
		{name: "after hours: key 1 requests a callback (S9)", closed: true, caller: plain,
			script:      []event{key('1')},
			wantPlayed:  seq(closedMenu, PromptCallbackConfirmed, PromptGoodbye),
			wantOutcome: OutcomeCallback, wantCallback: ReasonAfterHours},
		{name: "after hours: emergency is queued (S6)", closed: true, caller: plain,
			script:      []event{key('3'), hangup("loop")},
			wantPlayed:  seq(closedMenu, PromptQueueEmergency, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryEmergency, wantQueued: true},
		{name: "after hours: keys during the greeting are dropped (S9)", closed: true, caller: plain,
			script:      []event{typeAhead('1'), key('3'), hangup("loop")},
			wantPlayed:  seq(closedMenu, PromptQueueEmergency, firstAnn),
			wantOutcome: OutcomeAbandonedInQueue, wantCategory: configs.CategoryEmergency, wantQueued: true},
		{name: "after hours: open-hours categories are invalid", closed: true, caller: plain,
			script:      []event{key('2'), key('1')},
			wantPlayed:  seq(closedMenu, PromptInvalidChoice, PromptMenuAfterHours, PromptCallbackConfirmed, PromptGoodbye),
			wantOutcome: OutcomeCallback, wantCallback: ReasonAfterHours},
		{name: "after hours: no key says goodbye", closed: true, caller: plain,
			script: []event{timeout(), timeout(), timeout()},
			wantPlayed: seq(closedMenu, PromptNoInput, PromptMenuAfterHours, PromptNoInput,
				PromptMenuAfterHours, PromptGoodbye),
			wantOutcome: OutcomeAfterHours},
		{name: "after hours: hang-up counts as after_hours", closed: true, caller: plain,
			script:      []event{hangup("read")},
			wantPlayed:  closedMenu,
			wantOutcome: OutcomeAfterHours},
		{name: "after hours: hang-up during the confirmation keeps the callback", closed: true, caller: plain,
			script:      []event{key('1'), hangup("play")},
			wantPlayed:  seq(closedMenu, PromptCallbackConfirmed, PromptGoodbye),
			wantOutcome: OutcomeCallback, wantCallback: ReasonAfterHours},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, !tt.closed, nil)
			res, c := h.call(t, tt.caller, tt.script...)
			if !slices.Equal(c.played, tt.wantPlayed) {
				t.Errorf("played\n got %v\nwant %v", c.played, tt.wantPlayed)
			}
			if res.Outcome != tt.wantOutcome || res.Category != tt.wantCategory || res.Priority != tt.wantPriority {
				t.Errorf("result = %+v, want outcome %q category %q priority %v",
					res, tt.wantOutcome, tt.wantCategory, tt.wantPriority)
			}
			if res.Err != nil {
				t.Errorf("Err = %v, want nil", res.Err)
			}
			checkQueued(t, h, res, tt.wantQueued)
			checkCallback(t, h, tt.wantCallback)
		})
	}
}

// checkQueued checks the enqueue time, the entry and its removal at hang-up.
func checkQueued(t *testing.T, h *harness, res Result, want bool) {
	t.Helper()
	if !want {
		if !res.QueuedAt.IsZero() || len(h.q.removed) != 0 {
			t.Errorf("QueuedAt = %v, removed %v: want never queued", res.QueuedAt, h.q.removed)
		}
		return
	}
	if res.QueuedAt.IsZero() || len(h.q.entries) != 0 {
		t.Errorf("QueuedAt = %v, entries left %v: want queued, then removed", res.QueuedAt, h.q.entries)
	}
	if len(h.q.removed) != 1 || h.q.removeErrs[0] != nil {
		t.Errorf("removed %v with ctx errors %v: want one removal on a live context", h.q.removed, h.q.removeErrs)
	}
}

func checkCallback(t *testing.T, h *harness, reason string) {
	t.Helper()
	if reason == "" {
		if len(h.rec.requests) != 0 {
			t.Errorf("callback requests %+v, want none", h.rec.requests)
		}
		return
	}
	if len(h.rec.requests) != 1 {
		t.Fatalf("callback requests %+v, want one", h.rec.requests)
	}
	got := h.rec.requests[0]
	if got.Reason != reason || got.CallID != "call-1" || got.Caller == "" || !got.RequestedAt.Equal(h.clk.Now()) {
		t.Errorf("callback request %+v, want reason %s for call-1 at %v", got, reason, h.clk.Now())
	}
}

func TestFlowQueueEntry(t *testing.T) {
	h := newHarness(t, true, nil)
	res, _ := h.call(t, "13900000009", timeout(), key('2'), hangup("loop"))
	want := configs.QueueEntry{CallID: "call-1", Caller: "13900000009", Category: configs.CategoryComplaint,
		Priority: true, EnqueuedAt: t0.Add(5 * time.Second)}
	if len(h.q.enqueued) != 1 || h.q.enqueued[0] != want {
		t.Errorf("enqueued %+v, want %+v", h.q.enqueued, want)
	}
	if !res.QueuedAt.Equal(want.EnqueuedAt) {
		t.Errorf("QueuedAt = %v, want %v", res.QueuedAt, want.EnqueuedAt)
	}
	if !slices.Equal(h.q.removed, []string{"complaint/call-1"}) {
		t.Errorf("removed %v, want [complaint/call-1]", h.q.removed)
	}
}
