package sip

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// callDialogs finds a caller's call by its dialog id (Call-ID + our tag + their tag).
type callDialogs struct {
	mu    sync.Mutex
	calls map[string]*Call
}

func newCallDialogs() *callDialogs { return &callDialogs{calls: make(map[string]*Call)} }

func (r *callDialogs) add(id string, c *Call) {
	r.mu.Lock()
	r.calls[id] = c
	r.mu.Unlock()
}

func (r *callDialogs) remove(id string) {
	r.mu.Lock()
	delete(r.calls, id)
	r.mu.Unlock()
}

func (r *callDialogs) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *callDialogs) all() []*Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Call, 0, len(r.calls))
	for _, c := range r.calls {
		out = append(out, c)
	}
	return out
}

// byRequest matches an in-dialog request (ACK, BYE, INFO, re-INVITE).
func (r *callDialogs) byRequest(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}
