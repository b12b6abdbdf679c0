package sip

import (
	"sync"

	"github.com/emiago/sipgo/sip"
)

// dialogs finds a call or an agent leg by its dialog id (Call-ID and both
// tags); callers' calls and agents' legs each have one.
type dialogs[T comparable] struct {
	mu sync.Mutex
	m  map[string]T
	// uac: we sent the dialog's INVITE (agent legs), so a request's From-tag
	// is the peer's; otherwise (callers' calls) it is ours.
	uac bool
}

func newDialogs[T comparable](uac bool) *dialogs[T] {
	return &dialogs[T]{m: make(map[string]T), uac: uac}
}

func (d *dialogs[T]) add(id string, v T) {
	d.mu.Lock()
	d.m[id] = v
	d.mu.Unlock()
}

// remove forgets id if it still names v.
func (d *dialogs[T]) remove(id string, v T) {
	d.mu.Lock()
	if d.m[id] == v {
		delete(d.m, id)
	}
	d.mu.Unlock()
}

func (d *dialogs[T]) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

func (d *dialogs[T]) all() []T {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]T, 0, len(d.m))
	for _, v := range d.m {
		out = append(out, v)
	}
	return out
}

func (d *dialogs[T]) get(id string, err error) (T, bool) {
	var zero T
	if err != nil {
		return zero, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[id]
	return v, ok
}

// byRequest matches an in-dialog request (ACK, BYE, INFO, re-INVITE, REFER).
func (d *dialogs[T]) byRequest(req *sip.Request) T {
	var v T
	if d.uac {
		v, _ = d.get(sip.DialogIDFromRequestUAC(req))
	} else {
		v, _ = d.get(sip.DialogIDFromRequestUAS(req))
	}
	return v
}

// byResponse matches a response within a dialog we started.
func (d *dialogs[T]) byResponse(res *sip.Response) T {
	v, _ := d.get(sip.DialogIDFromResponse(res))
	return v
}
