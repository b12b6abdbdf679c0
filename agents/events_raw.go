package agents

import (
	"context"
	"fmt"
)

// SubscribeRaw delivers the events of every node as published, undecoded,
// until ctx is done, then closes the channel. It is for readers that pass
// events on (the panels' live updates): fields added to Event later reach
// them without a change here. The channel holds 256 events; a reader that
// falls behind holds up only its own subscription.
func (a *ACD) SubscribeRaw(ctx context.Context) (<-chan []byte, error) {
	return subscribe(ctx, a, a.key("events"), "event", 256, func(p string) ([]byte, error) { return []byte(p), nil })
}

// subscribe delivers the messages of one Redis channel, decoded, in a
// channel of buf until ctx is done, then closes it. A message that does not
// decode is logged as an undecodable what and skipped.
func subscribe[T any](ctx context.Context, a *ACD, channel, what string, buf int, decode func(string) (T, error)) (<-chan T, error) {
	sub := a.rdb.Subscribe(ctx, channel)
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", channel, err)
	}
	out := make(chan T, buf)
	go func() {
		defer close(out)
		defer sub.Close()
		msgs := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				v, err := decode(m.Payload)
				if err != nil {
					a.log.Warn("undecodable "+what, "err", err)
					continue
				}
				select {
				case out <- v:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
