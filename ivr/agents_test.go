package ivr

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

type fakeAgents struct {
	offers  chan AgentOffer
	rings   []string
	fail    map[string]bool // agents whose ring is not connected
	stopped bool
	talks   int  // conversations whose Talk ran
	leave   bool // the caller hangs up as the agent answers
	opened  int  // Offers calls
}

func (a *fakeAgents) Offers(string) (<-chan AgentOffer, func()) {
	a.opened++
	return a.offers, func() { a.stopped = true }
}

// Ring answers with the offered agent, or with the last agent of a
// ring-all group not in fail.
func (a *fakeAgents) Ring(_ context.Context, call Call, o AgentOffer) (Conversation, error) {
	a.rings = append(a.rings, o.AgentIDs())
	who, ok := o, !a.fail[o.AgentID]
	if len(o.Group) > 0 {
		ok = false
		for _, g := range o.Group {
			if !a.fail[g.AgentID] {
				who, ok = g, true
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("no answer: %w", ErrNotConnected)
	}
	if a.leave {
		call.(*fakeCall).cancel()
	}
	return fakeConversation{who: who, talks: &a.talks}, nil
}

type fakeConversation struct {
	who   AgentOffer
	talks *int
}

func (c fakeConversation) Agent() AgentOffer { return c.who }

func (c fakeConversation) Talk(context.Context) (TalkResult, error) {
	if c.talks != nil {
		*c.talks++
	}
	return TalkResult{AgentHungUp: true}, nil
}

func (a *fakeAgents) AnyServing(context.Context, string) (bool, error) { return true, nil }

func (a *fakeAgents) RingNumber(context.Context, Call, string) (Conversation, error) {
	return fakeConversation{}, nil
}

// A match can run the moment the caller is in the queue (another caller's
// poke, another node): the offer must find the caller listening, so the flow
// opens its offers before Enqueue. Opened after, the dispatcher took the
// caller for gone and dropped them from the queue (bench: 2-6 % of callers
// left waiting until max_wait).
func TestOfferMadeAsTheCallerIsQueuedIsTaken(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
	h.q.onEnqueue = func() {
		if ag.opened == 0 {
			t.Error("Enqueue ran before the flow opened its offers")
			return
		}
		ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry}
	}
	h.build(t, ag, nil)
	res, _ := h.call(t, "13800000001", key('1'))
	if res.Outcome != OutcomeAnswered || res.AgentID != "1001" {
		t.Fatalf("outcome %q agent %q (err %v), want answered by 1001", res.Outcome, res.AgentID, res.Err)
	}
	if ag.opened != 1 || !ag.stopped {
		t.Errorf("offers opened %d times, stopped %v; want once, then stopped", ag.opened, ag.stopped)
	}
}

// An agent free at once is rung without the queue-entry prompt or a
// position announcement (S8 is for callers who wait): the caller goes from
// the menu to the staff number.
func TestAgentFreeAtOnceSkipsQueuePrompts(t *testing.T) {
	h := newHarness(t, true, nil)
	ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry}
	h.build(t, ag, nil)
	res, c := h.call(t, "13800000001", key('1'))
	if res.Outcome != OutcomeAnswered || res.AgentID != "1001" {
		t.Fatalf("outcome %q agent %q (err %v), want answered by 1001", res.Outcome, res.AgentID, res.Err)
	}
	want := seq(greet, PromptMenu, PromptAgentNumberPrefix)
	if len(c.played) < len(want) || !slices.Equal(c.played[:len(want)], want) {
		t.Errorf("played %v, want it to start %v", c.played, want)
	}
	if slices.Contains(c.played, PromptQueueEntered) || slices.Contains(c.played, PromptQueuePositionPrefix) {
		t.Errorf("played %v: queue prompts to a caller an agent was free for", c.played)
	}
}

// S1, S2: an agent who does not answer leaves the caller in place; the next
// offered agent answers, the caller hears the staff number, then talks.
func TestQueueConnectsToAgent(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 2), fail: map[string]bool{"1002": true}}
	ag.offers <- AgentOffer{AgentID: "1002", StaffNumber: "1002", Category: configs.CategoryInquiry}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry}
	h.build(t, ag, nil)
	h.flow.m = NewMetrics(nil)
	res, c := h.call(t, "13800000001", key('1'))
	if !slices.Equal(ag.rings, []string{"1002", "1001"}) {
		t.Fatalf("rang %v, want 1002 then 1001", ag.rings)
	}
	wantTail := seq(PromptAgentNumberPrefix, "num_1", "num_0", "num_0", "num_1", PromptAgentNumberSuffix)
	if len(c.played) < len(wantTail) || !slices.Equal(c.played[len(c.played)-len(wantTail):], wantTail) {
		t.Fatalf("played %v, want it to end with the staff number %v", c.played, wantTail)
	}
	if res.Outcome != OutcomeAnswered || res.AgentID != "1001" || !res.AgentHungUp || res.ConnectedAt.IsZero() || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	if !ag.stopped {
		t.Error("offers not stopped after the call")
	}
	if len(h.q.removed) != 0 {
		t.Errorf("removed %v: the ACD removes an answered caller, the flow must not", h.q.removed)
	}
	// S1: one stay in the inquiry queue, answered, its wait observed once.
	m := h.flow.m
	if got := testutil.ToFloat64(m.offered.WithLabelValues("inquiry")); got != 1 {
		t.Errorf("offered = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.outcomes.WithLabelValues("inquiry", stintAnswered)); got != 1 {
		t.Errorf("answered = %v, want 1", got)
	}
	var hist dto.Metric
	if err := m.answerWait.WithLabelValues("inquiry").(prometheus.Histogram).Write(&hist); err != nil {
		t.Fatal(err)
	}
	if h := hist.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != res.ConnectedAt.Sub(res.QueuedAt).Seconds() {
		t.Errorf("answer wait: %d observations, sum %v; want 1, %v", h.GetSampleCount(), h.GetSampleSum(), res.ConnectedAt.Sub(res.QueuedAt).Seconds())
	}
}

type fakeTickets struct {
	nuisance map[string]bool
}

func (fakeTickets) ReserveRef(context.Context) (string, error) { return "T20261123-000042", nil }

func (f fakeTickets) IsNuisance(_ context.Context, n string) (bool, error) { return f.nuisance[n], nil }

// S17, S18: after the agent hangs up, a complaint caller hears the ticket
// reference, then rates the service with one key.
func TestComplaintReferenceAndSurvey(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 1)}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "7", Category: configs.CategoryComplaint}
	h.build(t, ag, fakeTickets{})
	res, c := h.call(t, "13800000001", key('2'), key('3'))
	digits := SayDigits("20261123000042")
	want := seq(PromptAgentNumberPrefix, "num_7", PromptAgentNumberSuffix, PromptTicketNumberPrefix, digits,
		PromptSurvey, PromptSurveyThanks, PromptGoodbye)
	if len(c.played) < len(want) || !slices.Equal(c.played[len(c.played)-len(want):], want) {
		t.Fatalf("played %v\nwant it to end with %v", c.played, want)
	}
	if res.Outcome != OutcomeAnswered || res.TicketRef != "T20261123-000042" || res.SurveyScore != 3 || res.Category != configs.CategoryComplaint {
		t.Fatalf("result %+v", res)
	}
}

// S21: a flagged number hears the short message and is not queued.
func TestNuisanceNotQueued(t *testing.T) {
	h := newHarness(t, true, nil)
	h.build(t, nil, fakeTickets{nuisance: map[string]bool{"13300000000": true}})
	res, c := h.call(t, "13300000000")
	if !slices.Equal(c.played, []string{PromptNuisance}) || res.Outcome != OutcomeNuisance || res.QueuedAt != (time.Time{}) {
		t.Fatalf("played %v, result %+v", c.played, res)
	}
}

type transferConversation struct {
	who AgentOffer
	to  *Transfer
}

func (c transferConversation) Agent() AgentOffer { return c.who }

func (c transferConversation) Talk(context.Context) (TalkResult, error) {
	return TalkResult{Transfer: c.to}, nil
}

type transferAgents struct {
	fakeAgents
	first bool
}

func (a *transferAgents) Ring(ctx context.Context, call Call, o AgentOffer) (Conversation, error) {
	a.rings = append(a.rings, o.AgentID)
	if !a.first {
		a.first = true
		return transferConversation{who: o, to: &Transfer{Kind: TransferQueue, Target: configs.CategoryComplaint}}, nil
	}
	return fakeConversation{who: o}, nil
}

// S10: the agent transfers the caller to the complaint queue; the caller is
// queued there and the next agent takes them; the transfer is on the result.
func TestTransferToQueue(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1, 1}
	ag := &transferAgents{fakeAgents: fakeAgents{offers: make(chan AgentOffer, 2)}}
	ag.offers <- AgentOffer{AgentID: "1001", Category: configs.CategoryInquiry}
	// The second offer waits in the channel until the caller is queued again
	// (sent from a goroutine, it raced the fake clock to max_wait).
	ag.offers <- AgentOffer{AgentID: "1002", Category: configs.CategoryComplaint}
	h.build(t, ag, nil)
	res, _ := h.call(t, "13800000001", key('1'))
	if !slices.Equal(ag.rings, []string{"1001", "1002"}) || !slices.Equal(res.Transfers, []string{"queue:complaint"}) ||
		res.Outcome != OutcomeAnswered || res.Category != configs.CategoryComplaint {
		t.Fatalf("rings %v, result %+v", ag.rings, res)
	}
}

// Ring-all: one offer rings a group; the agent who answered is on
// the result and the caller hears that agent's staff number (S2).
func TestRingAllOfferConnectsToWhoAnswered(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 2), fail: map[string]bool{"1001": true, "1003": true}}
	group := []AgentOffer{{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry},
		{AgentID: "1002", StaffNumber: "8", Category: configs.CategoryInquiry}}
	ag.offers <- AgentOffer{Category: configs.CategoryInquiry, Group: []AgentOffer{group[0], {AgentID: "1003", StaffNumber: "1003"}}}
	ag.offers <- AgentOffer{Category: configs.CategoryInquiry, Group: group}
	h.build(t, ag, nil)
	res, c := h.call(t, "13800000001", key('1'))
	if !slices.Equal(ag.rings, []string{"1001,1003", "1001,1002"}) {
		t.Fatalf("rang %v, want the group 1001,1003 (nobody answered) then 1001,1002", ag.rings)
	}
	wantTail := seq(PromptAgentNumberPrefix, "num_8", PromptAgentNumberSuffix)
	if len(c.played) < len(wantTail) || !slices.Equal(c.played[len(c.played)-len(wantTail):], wantTail) {
		t.Fatalf("played %v, want it to end with staff number 8 of the agent who answered", c.played)
	}
	if res.Outcome != OutcomeAnswered || res.AgentID != "1002" || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
}

// The caller hangs up just as the agent answers: the conversation still
// runs its Talk, which ends the agent's leg and puts the agent in wrap-up,
// instead of leaving the agent on a call nobody ends.
func TestCallerGoneDuringStaffNumber(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 1), leave: true}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: configs.CategoryInquiry}
	h.build(t, ag, nil)
	res, _ := h.call(t, "13800000001", key('1'))
	if ag.talks != 1 {
		t.Fatalf("Talk ran %d times, want once to end the agent's leg", ag.talks)
	}
	if res.Outcome != OutcomeAnswered || res.AgentID != "1001" {
		t.Fatalf("result %+v", res)
	}
}
