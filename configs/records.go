package configs

import "time"

// QueueEntry is a caller waiting for an agent, as the call flow queues it
// and the shared queue keeps it.
type QueueEntry struct {
	CallID   string
	Caller   string
	Category string
	// Priority marks a special-group caller (S7) served ahead within the queue.
	Priority bool
	// EnqueuedAt is when the caller joined; zero means "now" by the queue's
	// clock. The queue keeps millisecond precision.
	EnqueuedAt time.Time
	// Owner is the agent offered the caller first: the owner of the caller's
	// open ticket (S16), or the agent a transfer named.
	Owner string
}

// CallbackRequest asks the centre to call the caller back (S9). Category is
// empty when the caller asked after hours without choosing one.
type CallbackRequest struct {
	CallID, Caller, Category string
	Reason                   string // after_hours, max_wait or no_agents
	RequestedAt              time.Time
}
