//go:build linux

package media

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// newGridClock returns a grid woken by whichever comes first of a timerfd
// and a Go timer.
//
// A periodic timerfd's expiry makes its descriptor readable, which the
// netpoller hears at once while a P is idle: measured on this 2-core VM over
// 2,000 ticks of 2 ms, p50 70 µs and p99 160 µs late, against 580 µs and
// 1.2 ms for a Go timer (epoll's millisecond timeout). But a P with runnable
// goroutines in its queue does not poll the network; only an idle P or
// sysmon (every 10 ms at worst) does. Timers, on the other hand, are run at
// every scheduling point and their goroutine goes next on that P. In the
// server, under SIP load, the timerfd alone let the pacer fall tens of
// milliseconds behind; racing the two keeps the timerfd's precision when the
// scheduler is idle and the timer's promptness when it is busy.
// BenchmarkPacerBusy compares them.
func newGridClock(ctx context.Context, start time.Time, period time.Duration) gridClock {
	fd, err := newTimerFDClock(ctx, start, period)
	if err != nil {
		return newTimerClock(ctx, start, period)
	}
	c := &hybridClock{timerClock: newTimerClock(ctx, start, period), fd: make(chan struct{}, 1)}
	go func() {
		for {
			if _, ok := fd.wait(); !ok {
				return
			}
			select {
			case c.fd <- struct{}{}:
			default: // the clock has not taken the last one yet
			}
		}
	}()
	return c
}

// hybridClock is a timerClock also woken by a timerfd.
type hybridClock struct {
	*timerClock
	fd chan struct{}
}

func (c *hybridClock) wait() (int64, bool) {
	for {
		// A done ctx wins over a tick that is ready too (select would
		// pick either at random).
		if c.ctx.Err() != nil {
			return 0, false
		}
		c.timer.Reset(time.Until(c.start.Add(c.next())))
		select {
		case <-c.ctx.Done():
			return 0, false
		case <-c.timer.C:
		case <-c.fd:
		}
		// Ticks are counted on the clock, whichever woke us: a timerfd
		// wake-up for a tick the timer already delivered finds none new.
		if n := c.advance(); n > 0 {
			return n, true
		}
	}
}

type timerFDClock struct {
	f   *os.File
	buf [8]byte
}

func newTimerFDClock(ctx context.Context, start time.Time, period time.Duration) (*timerFDClock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	base, err := monotonic(start)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	first := base + int64(period)
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(period)), Value: unix.NsecToTimespec(first)}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor in an os.File is read through the netpoller.
	f := os.NewFile(uintptr(fd), "pacer-timerfd")
	context.AfterFunc(ctx, func() { f.Close() }) // unblocks the Read
	return &timerFDClock{f: f}, nil
}

// monotonic returns start on CLOCK_MONOTONIC, the clock behind Go's
// monotonic time, in ns: now on that clock minus the time since start, read
// in that order so that a grid built on it can only be a few µs late, never
// early.
func monotonic(start time.Time) (int64, error) {
	since := time.Since(start)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano() - int64(since), nil
}

func (c *timerFDClock) wait() (int64, bool) {
	if _, err := c.f.Read(c.buf[:]); err != nil {
		return 0, false
	}
	// The expirations since the last read (the kernel counts them).
	return int64(binary.NativeEndian.Uint64(c.buf[:])), true
}

// realtimeClock puts the calling goroutine's worker on a real-time thread of
// its own (sip.rtp_priority realtime) and returns its grid, which sleeps in
// clock_nanosleep on that thread: the kernel wakes it on the sub-slot and
// runs it ahead of normal threads, where the hybrid clock's wake-ups wait
// for a Go thread of normal priority (and, since the receivers became
// real-time, behind them). false: not allowed; nothing changed.
func realtimeClock(ctx context.Context, start time.Time, period time.Duration, log *slog.Logger) (gridClock, bool) {
	base, err := monotonic(start)
	if err != nil || !LockRealtime() {
		return nil, false
	}
	return &sleepClock{ctx: ctx, base: base, gridTicks: gridTicks{start: start, period: period},
		guard: newDutyGuard(log, "RTP send: pacer worker")}, true
}

// sleepClock is a real-time worker's grid. The worker keeps its thread to
// the end (the thread exits with the goroutine, its priority with it).
type sleepClock struct {
	ctx  context.Context
	base int64 // start on CLOCK_MONOTONIC, ns
	gridTicks
	// guard pauses the worker once it has worked rxDutyMax of a 20 ms
	// window, as a receiver's.
	guard dutyGuard
}

func (c *sleepClock) wait() (int64, bool) {
	c.guard.worked(time.Now())
	for {
		if c.ctx.Err() != nil {
			return 0, false
		}
		due := unix.NsecToTimespec(c.base + int64(c.next()))
		if err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &due, nil); err != nil && err != unix.EINTR {
			return 0, false
		}
		if n := c.advance(); n > 0 {
			return n, true
		}
	}
}

// ThreadCPU is the calling thread's CPU time so far (user and system): the
// real-time threads' duty guard, and the bench's calibration on a locked
// thread.
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
