//go:build !linux

package media

import (
	"errors"
	"log/slog"
	"time"
)

// Outside Linux every session reads its socket in its own goroutine.

type receiver struct {
	realtime bool
	started  chan bool
}

type rxEntry struct{}

func newReceiver(bool, bool, *slog.Logger) (*receiver, error) {
	return nil, errors.New("shared RTP receive needs Linux epoll")
}

// LockRealtime: real-time threads need Linux.
func LockRealtime() bool { return false }

func (r *receiver) batches() (bool, bool)              { return false, false }
func (r *receiver) run()                               {}
func (r *receiver) stop()                              {}
func (r *receiver) register(*Session) (*rxEntry, bool) { return nil, false }
func (e *rxEntry) unregister()                         {}

// Without SO_TIMESTAMPNS a packet's arrival is when it is read.
const rxOOB = 0

func stampArrivals(rawSocket) {}

func arrival([]byte) time.Time { return time.Now() }
