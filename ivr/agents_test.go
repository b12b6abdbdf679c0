package ivr

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

type fakeAgents struct {
	offers  chan AgentOffer
	rings   []string
	fail    map[string]bool // agents whose ring is not connected
	stopped bool
}

func (a *fakeAgents) Offers(string) (<-chan AgentOffer, func()) {
	return a.offers, func() { a.stopped = true }
}

func (a *fakeAgents) Ring(_ context.Context, _ Call, o AgentOffer) (Conversation, error) {
	a.rings = append(a.rings, o.AgentID)
	if a.fail[o.AgentID] {
		return nil, fmt.Errorf("no answer: %w", ErrNotConnected)
	}
	return fakeConversation{}, nil
}

type fakeConversation struct{}

func (fakeConversation) Talk(context.Context) (bool, error) { return true, nil }

// S1, S2: an agent who does not answer leaves the caller in place; the next
// offered agent answers, the caller hears the staff number, then talks.
func TestQueueConnectsToAgent(t *testing.T) {
	h := newHarness(t, true, nil)
	h.q.positions = []int{1}
	ag := &fakeAgents{offers: make(chan AgentOffer, 2), fail: map[string]bool{"1002": true}}
	ag.offers <- AgentOffer{AgentID: "1002", StaffNumber: "1002", Category: CategoryInquiry}
	ag.offers <- AgentOffer{AgentID: "1001", StaffNumber: "1001", Category: CategoryInquiry}
	h.flow.SetAgents(ag)
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
}
