package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
)

// ErrTransferForbidden: the target an agent named is not on the allowlist.
var ErrTransferForbidden = errors.New("transfer target not allowed")

// TransferTarget resolves what an agent's REFER names, from an allowlist
// only (S10): "queue-<category>", a configured specialist, or another
// enabled agent. A caller-supplied URI is never dialled.
func (r *Router) TransferTarget(ctx context.Context, agentID, target string) (ivr.Transfer, error) {
	if cat, ok := strings.CutPrefix(target, "queue-"); ok && slices.Contains(configs.QueueCategories(), cat) {
		return ivr.Transfer{Kind: ivr.TransferQueue, Target: cat}, nil
	}
	if _, ok := r.o.Specialists[target]; ok {
		return ivr.Transfer{Kind: ivr.TransferNumber, Target: target}, nil
	}
	ag, err := r.o.Directory.Get(ctx, target)
	switch {
	case err == nil && ag.Enabled && ag.ID != agentID:
		return ivr.Transfer{Kind: ivr.TransferAgent, Target: ag.ID}, nil
	case err != nil && !errors.Is(err, agents.ErrAgentNotFound):
		return ivr.Transfer{}, err
	}
	return ivr.Transfer{}, fmt.Errorf("%q: %w", target, ErrTransferForbidden)
}

// RingNumber rings a configured specialist line for a transfer (S10); the
// number was resolved from the allowlist, never taken from a SIP message.
func (r *Router) RingNumber(ctx context.Context, call ivr.Call, number string) (ivr.Conversation, error) {
	uri, ok := r.o.Specialists[number]
	if !ok {
		return nil, fmt.Errorf("specialist %q is not configured", number)
	}
	leg, err := r.o.Phones.Dial(ctx, call, Dial{Who: number, Contact: uri, Timeout: r.o.RingTimeout})
	if err != nil {
		return nil, fmt.Errorf("ring specialist %s: %w", number, err)
	}
	return r.newConversation(call, leg, ivr.AgentOffer{}, true), nil
}
