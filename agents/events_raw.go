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
	sub := a.rdb.Subscribe(ctx, a.key("events"))
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe to %sevents: %w", a.prefix, err)
	}
	out := make(chan []byte, 256)
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
				select {
				case out <- []byte(m.Payload):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
