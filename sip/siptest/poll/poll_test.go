package poll

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records Fatalf and ends its goroutine the way testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls until on a fatalTB in a goroutine of its own and returns the
// Fatalf message ("" when until returned).
func run(timeout time.Duration, what string, cond func() bool) string {
	tb := &fatalTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		until(tb, timeout, what, cond)
	}()
	<-done
	return tb.msg
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	msg := run(time.Second, "the third call", func() bool { return calls.Add(1) == 3 })
	if msg != "" {
		t.Fatalf("until failed: %s", msg)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3 (until stops checking once it holds)", n)
	}
}

func TestUntilFailsNamingWhatItWaitedFor(t *testing.T) {
	start := time.Now()
	msg := run(50*time.Millisecond, "the agent to go idle", func() bool { return false })
	if !strings.Contains(msg, "timed out") || !strings.Contains(msg, "the agent to go idle") {
		t.Errorf("Fatalf message %q, want one saying it timed out waiting for the agent to go idle", msg)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("failed after %s, before the 50ms timeout", waited)
	}
}

func TestUntilAcceptsAConditionTrueAtOnce(t *testing.T) {
	if msg := run(0, "nothing", func() bool { return true }); msg != "" {
		t.Errorf("a condition already true failed: %s", msg)
	}
}
