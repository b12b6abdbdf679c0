package ivr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// S8: position and wait on entry and every announce_interval, hold music
// between; after max_wait the callback offer, accepted with 1.
func TestQueueAnnouncesThenCallback(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{5, 4, 3, 2}
	res, c := h.call(t, "13800000001", key('1'), key('1'))
	want := seq(greet, PromptMenu, PromptQueueEntered,
		ann("num_5", "num_5", false), "hold→+30s",
		ann("num_4", "num_4", false), "hold→+1m0s",
		ann("num_3", "num_3", false), "hold→+1m30s",
		ann("num_2", promptNumLiang, false), "hold→+2m0s",
		PromptCallbackOffer, PromptCallbackConfirmed, PromptGoodbye)
	if !slices.Equal(c.played, want) {
		t.Errorf("played\n got %v\nwant %v", c.played, want)
	}
	if res.Outcome != OutcomeCallback || res.Category != configs.CategoryInquiry || !res.QueuedAt.Equal(t0) || res.Err != nil {
		t.Errorf("result %+v, want callback from inquiry queued at t0", res)
	}
	checkCallback(t, h, ReasonMaxWait)
	if h.rec.requests[0].Category != configs.CategoryInquiry || h.rec.stillQ[0] {
		t.Errorf("request %+v still queued %v: want inquiry, removed from the queue first",
			h.rec.requests[0], h.rec.stillQ[0])
	}
	if !slices.Equal(h.q.removed, []string{"inquiry/call-1"}) {
		t.Errorf("removed %v, want once from inquiry", h.q.removed)
	}
}

// A declined offer keeps the caller queued; the next comes after another max_wait.
func TestQueueCallbackDeclined(t *testing.T) {
	tests := []struct {
		name        string
		script      []event
		hangupAt    time.Duration
		want        []string
		wantOutcome string
	}{
		{name: "no key, then hang-up", script: []event{key('1'), timeout()}, hangupAt: 3 * time.Minute,
			want: seq(PromptCallbackOffer, ann("num_1", "num_1", true), "hold→+2m38s",
				ann("num_1", "num_1", true), "hold→+3m8s"),
			wantOutcome: OutcomeAbandonedInQueue},
		{name: "other key, then accepted at the next offer", script: []event{key('1'), key('5'), key('1')},
			want: seq(PromptCallbackOffer, ann("num_1", "num_1", true), "hold→+2m30s",
				ann("num_1", "num_1", true), "hold→+3m0s", ann("num_1", "num_1", true), "hold→+3m30s",
				ann("num_1", "num_1", true), "hold→+4m0s",
				PromptCallbackOffer, PromptCallbackConfirmed, PromptGoodbye),
			wantOutcome: OutcomeCallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, true, nil)
			h.hangupAt = tt.hangupAt
			res, c := h.call(t, "13800000001", tt.script...)
			i := slices.Index(c.played, "hold→+2m0s")
			if i < 0 || !slices.Equal(c.played[i+1:], tt.want) {
				t.Errorf("played after the first max_wait\n got %v\nwant %v", c.played, tt.want)
			}
			if res.Outcome != tt.wantOutcome || res.Err != nil {
				t.Errorf("result %+v, want %s", res, tt.wantOutcome)
			}
			if len(h.q.removed) != 1 {
				t.Errorf("removed %v, want exactly once", h.q.removed)
			}
		})
	}
}

// S6: emergencies stay queued, with announcements, and are never offered a callback.
func TestQueueEmergencyNeverOffered(t *testing.T) {
	h := newHarness(t, true, nil)
	h.hangupAt = 5 * time.Minute
	res, c := h.call(t, "13800000001", key('3'))
	if slices.Contains(c.played, PromptCallbackOffer) {
		t.Errorf("emergency caller was offered a callback: %v", c.played)
	}
	if n := count(c.played, PromptQueuePositionPrefix); n != 10 {
		t.Errorf("%d announcements in 5 minutes, want 10 (every 30 s)", n)
	}
	if last := c.played[len(c.played)-1]; last != "hold→+5m0s" {
		t.Errorf("last played %q, want hold until the hang-up at +5m", last)
	}
	if res.Outcome != OutcomeAbandonedInQueue || res.Category != configs.CategoryEmergency ||
		!slices.Equal(h.q.removed, []string{"emergency/call-1"}) || h.q.removeErrs[0] != nil {
		t.Errorf("result %+v removed %v (ctx %v): want abandoned emergency removed on a live context",
			res, h.q.removed, h.q.removeErrs)
	}
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// A waiting caller the queue lost (entry reaped, Redis emptied before the
// nodes re-published) is put back with the original enqueue time: an
// emergency caller, never offered a callback (S6), would otherwise wait on
// hold music for ever, matched to nobody.
func TestQueueLostCallerIsRequeuedInPlace(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.loseOnce = true
	res, c := h.call(t, "13800000001", key('3'), event{on: "loop"}, hangup("loop"))
	if res.Outcome != OutcomeAbandonedInQueue || res.Err != nil {
		t.Fatalf("outcome %q err %v, want abandoned_in_queue and no error (played %v)", res.Outcome, res.Err, c.played)
	}
	if len(h.q.enqueued) != 2 {
		t.Fatalf("enqueued %d times, want 2 (entry, then the re-queue): %+v", len(h.q.enqueued), h.q.enqueued)
	}
	if first, again := h.q.enqueued[0], h.q.enqueued[1]; again != first {
		t.Errorf("re-queued as %+v, want the original entry %+v", again, first)
	}
	if got := testutil.ToFloat64(h.flow.m.announceFailures); got != 1 {
		t.Errorf("announcement failures %v, want 1", got)
	}
	if n := strings.Count(strings.Join(c.played, " "), PromptQueuePositionPrefix); n != 1 {
		t.Errorf("position announced %d times, want once (after the re-queue): %v", n, c.played)
	}
}

func TestQueueFailures(t *testing.T) {
	errMedia := errors.New("media: session closed")
	errPG := errors.New("postgres: down")
	sorry := []string{PromptSorryError, PromptGoodbye}
	tests := []struct {
		name                 string
		closed               bool
		setup                func(h *harness)
		script               []event
		wantPlayed           []string // nil: not checked
		wantPrefix           []string // nil: not checked; the prompts played first
		wantHold             bool     // hold music right after wantPrefix
		wantAnnounceFailures float64
		wantOutcome          string
		wantErr              error // nil: Result.Err must be nil
		wantRemoved          int
	}{
		{name: "enqueue error", setup: func(h *harness) { h.q.enqueueErr = errRedis },
			script: []event{key('1')}, wantPlayed: seq(greet, PromptMenu, sorry),
			wantOutcome: OutcomeFailed, wantErr: errRedis},
		// A failed position or wait lookup (Redis blip) skips that announcement
		// (S8) and keeps the caller queued: hold music follows, and the caller
		// who then hangs up is abandoned_in_queue, not failed.
		{name: "position error", setup: func(h *harness) { h.q.posErr = errRedis },
			script: []event{key('1'), hangup("loop")}, wantPrefix: seq(greet, PromptMenu, PromptQueueEntered),
			wantHold: true, wantOutcome: OutcomeAbandonedInQueue, wantRemoved: 1, wantAnnounceFailures: 1},
		{name: "estimated wait error", setup: func(h *harness) { h.q.waitErr = errRedis },
			script: []event{key('2'), hangup("loop")}, wantPrefix: seq(greet, PromptMenu, PromptQueueEntered),
			wantHold: true, wantOutcome: OutcomeAbandonedInQueue, wantRemoved: 1, wantAnnounceFailures: 1},
		{name: "records error after hours", closed: true, setup: func(h *harness) { h.rec.err = errPG },
			script:      []event{key('1')},
			wantPlayed:  seq(greet, PromptAfterHours, PromptMenuAfterHours, sorry),
			wantOutcome: OutcomeFailed, wantErr: errPG},
		{name: "records error at max_wait", setup: func(h *harness) { h.rec.err = errPG },
			script: []event{key('1'), key('1')}, wantOutcome: OutcomeFailed, wantErr: errPG, wantRemoved: 1},
		{name: "remove error at hang-up", setup: func(h *harness) { h.q.removeErr = errRedis },
			script:      []event{key('1'), hangup("loop")},
			wantOutcome: OutcomeAbandonedInQueue, wantErr: errRedis, wantRemoved: 1},
		{name: "hang-up during enqueue", setup: func(h *harness) { h.q.onEnqueue = func() { h.cancel() } },
			script: []event{key('4')}, wantPlayed: seq(greet, PromptMenu),
			wantOutcome: OutcomeAbandonedInMenu, wantRemoved: 1},
		{name: "media failure in menu", setup: func(h *harness) { h.mediaErr = errMedia },
			wantPlayed: seq(greet, PromptMenu), wantOutcome: OutcomeAbandonedInMenu, wantErr: errMedia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, !tt.closed, nil)
			tt.setup(h)
			res, c := h.call(t, "13800000001", tt.script...)
			if tt.wantPlayed != nil && !slices.Equal(c.played, tt.wantPlayed) {
				t.Errorf("played\n got %v\nwant %v", c.played, tt.wantPlayed)
			}
			if tt.wantPrefix != nil {
				n := len(tt.wantPrefix)
				if len(c.played) < n || !slices.Equal(c.played[:n], tt.wantPrefix) {
					t.Errorf("played\n got %v\nwant it to start %v", c.played, tt.wantPrefix)
				} else if tt.wantHold && (len(c.played) == n || !strings.HasPrefix(c.played[n], "hold→")) {
					t.Errorf("played %v: want hold music after %v", c.played, tt.wantPrefix)
				}
				if slices.Contains(c.played, PromptSorryError) {
					t.Errorf("played %v: the call was ended with an apology", c.played)
				}
			}
			if got := testutil.ToFloat64(h.flow.m.announceFailures); got != tt.wantAnnounceFailures {
				t.Errorf("announcement failures %v, want %v", got, tt.wantAnnounceFailures)
			}
			if res.Outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q (err %v)", res.Outcome, tt.wantOutcome, res.Err)
			}
			if (tt.wantErr == nil) != (res.Err == nil) || (tt.wantErr != nil && !errors.Is(res.Err, tt.wantErr)) {
				t.Errorf("Err = %v, want %v", res.Err, tt.wantErr)
			}
			if len(h.q.removed) != tt.wantRemoved || slices.ContainsFunc(h.q.removeErrs, func(e error) bool { return e != nil }) {
				t.Errorf("removed %v (ctx errors %v), want %d removals on a live context",
					h.q.removed, h.q.removeErrs, tt.wantRemoved)
			}
		})
	}
}

// A queued caller's call gets queue_media_timeout while they wait (a phone
// in a call sends RTP all the time, so a silent one has gone) and its own
// default back when they leave the queue: before the callback request, and
// before the staff number once an agent answered.
func TestQueueMediaTimeout(t *testing.T) {
	parse := func(t *testing.T, s string) (string, int) {
		t.Helper()
		var d string
		var n int
		if _, err := fmt.Sscanf(strings.Replace(s, "@", " ", 1), "%s %d", &d, &n); err != nil {
			t.Fatalf("timeout note %q: %v", s, err)
		}
		return d, n
	}
	edit := func(c *Config) { c.QueueMediaTimeout = configs.Duration(45 * time.Second) }
	t.Run("callback", func(t *testing.T) {
		h := newHarness(t, true, edit)
		h.q.positions = []int{5, 4, 3, 2}
		_, c := h.call(t, "13800000001", key('1'), key('1'))
		if len(c.timeouts) != 2 {
			t.Fatalf("SetMediaTimeout calls %v, want the queue's, then the default back", c.timeouts)
		}
		d, at := parse(t, c.timeouts[0])
		if d != "45s" || at != slices.Index(c.played, PromptQueueEntered) {
			t.Errorf("first SetMediaTimeout %q, want 45s as the caller is queued (before %s)", c.timeouts[0], PromptQueueEntered)
		}
		d, at = parse(t, c.timeouts[1])
		if d != "0s" || at > slices.Index(c.played, PromptCallbackConfirmed) {
			t.Errorf("second SetMediaTimeout %q, want 0s (default) before %s; played %v", c.timeouts[1], PromptCallbackConfirmed, c.played)
		}
	})
	t.Run("agent answers", func(t *testing.T) {
		h := newHarness(t, true, edit)
		h.q.positions = []int{1}
		ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
		ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry}
		h.build(t, ag, nil)
		_, c := h.call(t, "13800000001", key('1'))
		if len(c.timeouts) != 2 {
			t.Fatalf("SetMediaTimeout calls %v, want the queue's, then the default back", c.timeouts)
		}
		if d, _ := parse(t, c.timeouts[0]); d != "45s" {
			t.Errorf("first SetMediaTimeout %q, want 45s", c.timeouts[0])
		}
		d, at := parse(t, c.timeouts[1])
		if d != "0s" || at > slices.Index(c.played, PromptAgentNumberPrefix) {
			t.Errorf("second SetMediaTimeout %q, want 0s before the staff number; played %v", c.timeouts[1], c.played)
		}
	})
}
