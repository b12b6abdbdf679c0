package sip

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
)

// Every INVITE that reaches the server is handed to the call handler exactly
// once, so it leaves a call record (S11) — also when the caller's CANCEL
// ends the transaction before the server has made the dialog (sipgo then
// answers 487 itself). INVITE and CANCEL are sent back to back, so which
// happens first is up to the scheduler; none may be lost either way, and
// none is answered (a 200 without our peer's ACK does not count).
func TestCancelledInviteAlwaysReachesHandler(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var answered []string
	srv := testServer(t, func(o *Options) {
		o.Config.AnswerDelay = configs.Duration(time.Second) // ring, so the CANCEL comes before any answer
		// A CANCEL that overtakes its INVITE is answered 481 and the call goes
		// on; we never ACK its 200, so it ends at the ACK wait.
		o.ackWait = 500 * time.Millisecond
		o.Handler = func(_ context.Context, c *Call) {
			mu.Lock()
			defer mu.Unlock()
			seen[c.SIPCallID()]++
			if c.Answered() {
				answered = append(answered, c.SIPCallID())
			}
		}
	})
	p := newRawPeer(t, "127.0.0.1", srv)
	const rounds, perRound = 3, 12 // the test server has 21 RTP ports
	for r := range rounds {
		var ids []string
		for i := range perRound {
			id := "cancel-race-" + strconv.Itoa(r) + "-" + strconv.Itoa(i)
			ids = append(ids, id)
			p.send(withBody(p.request("INVITE", "12345", id, 1), p.offerSDP(40010)))
			p.send(withBody(p.request("CANCEL", "12345", id, 1), ""))
		}
		poll.Until(t, "every cancelled INVITE handled", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] == 0 {
					return false
				}
			}
			return true
		})
	}
	time.Sleep(200 * time.Millisecond) // a second hand-over would come now
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("call %s handed to the handler %d times, want once", id, n)
		}
	}
	if len(answered) != 0 {
		t.Errorf("cancelled calls answered: %v", answered)
	}
}
