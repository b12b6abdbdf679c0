package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// machineCPU is the machine's busy CPU time so far, from the "cpu" line of
// /proc/stat (user, nice, system, irq, softirq, steal; idle and iowait left out).
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat field %d: %w", i, err)
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// cpuMeter measures, over one interval, the cores used by the whole machine,
// so that load from outside the bench (other jobs on a shared machine) shows.
type cpuMeter struct {
	at      time.Time
	machine time.Duration
	self    time.Duration
}

func startMeter() cpuMeter {
	m, _ := machineCPU()
	s, _ := procCPU(os.Getpid())
	return cpuMeter{at: time.Now(), machine: m, self: s}
}

// cores returns the machine's and this process's average cores since start.
func (c cpuMeter) cores() (machine, self float64) {
	w := time.Since(c.at).Seconds()
	if w <= 0 {
		return 0, 0
	}
	m, _ := machineCPU()
	s, _ := procCPU(os.Getpid())
	return (m - c.machine).Seconds() / w, (s - c.self).Seconds() / w
}

// baseline is the machine before any call: its background load and how late
// a single Go timer on a 20 ms grid wakes up (the floor under the pacer).
type baseline struct {
	BusyCores     float64 `json:"busy_cores"`
	TimerLateP50  float64 `json:"timer_late_p50_ms"`
	TimerLateP99  float64 `json:"timer_late_p99_ms"`
	TimerLateMax  float64 `json:"timer_late_max_ms"`
	TimerIntervOK float64 `json:"timer_interval_within_2ms"` // share of wake-ups 20 ± 2 ms apart
}

// measureBaseline sleeps to each slot of a 20 ms grid for d, like the pacer's
// clock, with nothing else of the bench running.
func measureBaseline(ctx context.Context, d time.Duration) baseline {
	meter := startMeter()
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var late []time.Duration
	ok, prev := 0, start
	for n := 1; time.Since(start) < d; n++ {
		due := start.Add(time.Duration(n) * 20 * time.Millisecond)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return baseline{}
		case <-timer.C:
		}
		now := time.Now()
		late = append(late, now.Sub(due))
		if iv := now.Sub(prev); iv >= 18*time.Millisecond && iv <= 22*time.Millisecond {
			ok++
		}
		prev = now
	}
	var b baseline
	b.BusyCores, _ = meter.cores()
	if len(late) == 0 {
		return b
	}
	slices.Sort(late)
	at := func(q float64) float64 { return ms(late[min(len(late)-1, int(q*float64(len(late))))]) }
	b.TimerLateP50, b.TimerLateP99, b.TimerLateMax = at(0.5), at(0.99), ms(late[len(late)-1])
	b.TimerIntervOK = float64(ok) / float64(len(late))
	return b
}

func (b baseline) String() string {
	return fmt.Sprintf("%.2f cores busy before the bench; a lone 20 ms Go timer wakes p50 %.2f / p99 %.2f / max %.2f ms late, %.1f%% of its intervals within 20±2 ms",
		b.BusyCores, b.TimerLateP50, b.TimerLateP99, b.TimerLateMax, 100*b.TimerIntervOK)
}

// quietCores is the machine load under which a concurrency step may start.
const quietCores = 0.3

// waitQuiet waits, up to limit, until the whole machine is busy with fewer
// than quietCores over a second: a concurrency step right after an
// overloaded call-rate step otherwise measures the server draining it
// (spooled records, PostgreSQL catching up). It returns the last reading.
func waitQuiet(ctx context.Context, limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		meter := startMeter()
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
		busy, _ := meter.cores()
		if busy < quietCores || time.Now().After(deadline) {
			return busy
		}
	}
}
