// Package poll is the one way tests wait for a condition that something
// running beside them makes true: Until checks it every few milliseconds and
// fails the test, naming what it waited for, when it never comes.
//
// It imports only the standard library and lives under sip, the lowest layer,
// so the tests of every package, sip/media included, import it without a
// cycle.
package poll

import (
	"testing"
	"time"
)

// Timeout is how long Until waits: long enough for a loaded machine running
// the race detector, short enough that a broken test fails soon.
const Timeout = 10 * time.Second

// interval is the pause between two checks.
const interval = 5 * time.Millisecond

// Until calls cond until it returns true, and fails the test with "timed out
// waiting for <what>" if that takes longer than Timeout. It must be called
// from the test's goroutine (it ends the test with Fatalf).
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	until(t, Timeout, what, cond)
}

func until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Within calls cond until it returns true or timeout has passed, and says
// whether it did: for a test that reports more than "timed out" (the state
// it found) or waits longer than Timeout for something slow by design.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}
