package ivr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// errNoChoice: the caller gave no valid key in max_retries attempts.
var errNoChoice = errors.New("no valid menu choice")

// choose offers a menu with barge-in until the caller picks a queue or
// callback item. A missing key (menu_timeout) says no_input, an unknown key
// says invalid_choice, and either counts towards max_retries; repeat (0),
// priority (9, S7) and a language key (the menu again in that language) do
// not count.
func (r *visit) choose(ctx context.Context, m menu, typed rune) (MenuItem, error) {
	prompts := append(append([]string{}, m.intro...), m.prompts...)
	for failures := 0; failures < r.f.cfg.MaxRetries; {
		key := typed // a key typed ahead during the greeting answers the first menu
		typed = 0
		if key == 0 {
			var err error
			if key, err = r.ask(ctx, prompts, time.Duration(r.f.cfg.MenuTimeout)); err != nil {
				return MenuItem{}, err
			}
		}
		item, ok := m.items[key]
		switch {
		case key == 0:
			r.f.m.timeouts.Inc()
			failures++
			prompts = append([]string{PromptNoInput}, m.prompts...)
		case !ok && r.switchByKey(key):
			prompts = append(append([]string{}, m.intro...), m.prompts...)
		case !ok:
			r.f.m.invalid.Inc()
			failures++
			prompts = append([]string{PromptInvalidChoice}, m.prompts...)
			r.log.Debug("invalid menu key", "key", string(key))
		case item.Action == ActionRepeat:
			prompts = m.prompts
		case item.Action == ActionPriority:
			r.markPriority(prioritySourceKey)
			prompts = append([]string{PromptPriorityAck}, m.prompts...)
		default:
			r.log.Debug("menu choice", "key", string(key), "action", item.Action, "category", item.Category)
			return item, nil
		}
	}
	return MenuItem{}, errNoChoice
}

// afterHours runs the after-hours part (S9): the closed message and a menu
// offering a callback and the emergency queue, which never closes (S6). A
// key that queues in both menus, typed during the greeting, answers the menu
// at once (typed).
func (r *visit) afterHours(ctx context.Context, typed rune) error {
	item, err := r.choose(ctx, r.f.afterHours, typed)
	switch {
	case errors.Is(err, errNoChoice):
		return r.end(ctx, OutcomeAfterHours)
	case err != nil:
		return err
	case item.Action == ActionCallback:
		return r.requestCallback(ctx, ReasonAfterHours)
	default:
		return r.enterQueue(ctx, item.Category)
	}
}

// requestCallback stores the caller's callback request and confirms it. The
// caller has asked by pressing the key, so a hang-up from here on must not
// lose the request: it is stored on a context that outlives the call.
func (r *visit) requestCallback(ctx context.Context, reason string) error {
	if err := r.storeCallback(ctx, reason); err != nil {
		return err
	}
	return r.end(ctx, OutcomeCallback, PromptCallbackConfirmed)
}

// storeCallback stores the caller's callback request (S9).
func (r *visit) storeCallback(ctx context.Context, reason string) error {
	req := configs.CallbackRequest{CallID: r.call.ID(), Caller: r.call.Caller(), Category: r.res.Category,
		Reason: reason, RequestedAt: r.f.clk.Now()}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedTimeout)
	defer cancel()
	if err := r.f.records.RequestCallback(sctx, req); err != nil {
		return fmt.Errorf("store callback request (%s): %w", reason, err)
	}
	r.f.m.callbacks.WithLabelValues(reason).Inc()
	r.log.Info("callback requested", "reason", reason, "category", req.Category)
	return nil
}
