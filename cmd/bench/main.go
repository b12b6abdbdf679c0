// Command bench is issue 2's load benchmark (`make bench`, not a pass/fail
// test). It starts its own `bin/hotline serve` on loopback with a private
// config (temp data_dir, always-open calendar, Redis prefix hotline-bench:,
// database hotline_bench), drives it with SIPp and reports:
//
//   - the highest call rate at which ≥ 99.9% of short IVR calls (answer, press
//     a key by RFC 4733, 2 s, BYE) succeed, by SIPp and by the call records;
//   - the most concurrent calls hearing prompts whose RTP send interval stays
//     within 20 ± 2 ms for 99% of packets (the server's pacer histogram);
//   - the server's CPU seconds per call.
//
// Run it from the repository root after `go build -o bin/hotline ./cmd/hotline`:
//
//	go run ./cmd/bench -duration 10s -max-rate 800 -max-concurrent 3000 -out bench-results.md
//
// Everything stays on 127.0.0.1; SIPp and the server are stopped on exit and
// on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// overallLimit bounds a whole run, whatever the flags.
const overallLimit = 40 * time.Minute

// bench holds what every step needs.
type bench struct {
	env         *env
	srv         *server
	service     string
	duration    time.Duration
	cpus        int
	sampleCalls int
	started     time.Time
}

type options struct {
	duration      time.Duration
	maxRate       float64
	maxConcurrent int
	out           string
	binary        string
	samples       int
	keepDB        bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "arrival time of each call-rate step (calls = rate × duration)")
	flag.Float64Var(&o.maxRate, "max-rate", 800, "highest call rate tried (calls/s)")
	flag.IntVar(&o.maxConcurrent, "max-concurrent", 3000, "most concurrent calls tried")
	flag.StringVar(&o.out, "out", "bench-results.md", "report file (markdown; the JSON goes beside it with .json)")
	flag.StringVar(&o.binary, "hotline", "bin/hotline", "server binary to benchmark")
	flag.IntVar(&o.samples, "sample-calls", 20, "Go callers measuring RTP arrival beside SIPp in each concurrency step (0: none)")
	flag.BoolVar(&o.keepDB, "keep-db", false, "keep the hotline_bench database after the run")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (o options) validate() error {
	switch {
	case o.duration < time.Second || o.duration > 2*time.Minute:
		return errors.New("-duration must be between 1s and 2m")
	case o.maxRate < 1 || o.maxRate > 5000:
		return errors.New("-max-rate must be between 1 and 5000 calls/s")
	case o.maxConcurrent < 1 || o.maxConcurrent > 8000:
		return errors.New("-max-concurrent must be between 1 and 8000 (the RTP port range holds 11,384 calls)")
	case o.samples < 0 || o.samples > 200:
		return errors.New("-sample-calls must be between 0 and 200")
	}
	if _, err := os.Stat(o.binary); err != nil {
		return fmt.Errorf("%s: %w (build it: go build -o bin/hotline ./cmd/hotline)", o.binary, err)
	}
	if !siptest.HaveSIPp() {
		return fmt.Errorf("%s not found: install sip-tester (apt-get install sip-tester)", siptest.SIPpPath)
	}
	return nil
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, overallLimit)
	defer cancel()

	b := &bench{duration: o.duration, cpus: runtime.NumCPU(), sampleCalls: o.samples, started: time.Now()}
	mach := describeMachine()
	b.progress("machine: %d CPUs (%s), %s; open files limit %d", mach.CPUs, mach.CPUModel, mach.Kernel, mach.OpenFiles)
	base := measureBaseline(ctx, 5*time.Second)
	b.progress("baseline: %s", base)
	e, err := newEnv(ctx, o.binary)
	if err != nil {
		return err
	}
	b.env = e
	defer e.close(o.keepDB)
	if err := b.startServer(ctx, o.binary); err != nil {
		return err
	}
	res := b.sweeps(ctx, o)
	b.srv.stop()
	res.Machine, res.Baseline, res.ServerLog = mach, base, summarizeLog(b.srv.logPath)
	res.Interrupted = ctx.Err() != nil
	b.progress("done in %v", time.Since(b.started).Round(time.Second))
	if err := res.write(o.out); err != nil {
		return err
	}
	fmt.Print("\n" + res.markdown())
	fmt.Printf("\nreport written to %s and %s\n", o.out, jsonPath(o.out))
	if res.Interrupted {
		return errors.New("interrupted: the report holds the steps finished so far")
	}
	return nil
}

func (b *bench) startServer(ctx context.Context, binary string) error {
	sipAddr, err := freeSIPAddr()
	if err != nil {
		return err
	}
	httpAddr, err := freeTCPAddr()
	if err != nil {
		return err
	}
	b.service = "12345"
	b.srv, err = startServer(ctx, serverSetup{
		Binary: binary, ConfigPath: b.env.configPath(), LogPath: b.env.dir + "/server.log",
		SIPAddr: sipAddr, HTTPAddr: httpAddr, RTPPorts: benchRTPPorts,
		DatabaseURL: b.env.databaseURL, RedisURL: b.env.redisURL,
	})
	if err != nil {
		return err
	}
	b.progress("hotline pid %d: SIP %s, HTTP %s, database %s, redis prefix %s",
		b.srv.cmd.Process.Pid, sipAddr, httpAddr, benchDatabase, benchKeyPrefix)
	return nil
}

// sweeps runs the call-rate sweep (and its no-RTP variant when the first one
// stops early) and the concurrency sweep.
func (b *bench) sweeps(ctx context.Context, o options) *result {
	res := &result{Command: commandLine(), Duration: o.duration.String()}
	rates := ladder([]float64{50, 100, 200, 300, 400, 500, 600, 800}, o.maxRate, 200)
	res.PCAP = b.runRateSweep(ctx, "ivr_pcap", rates)
	if res.PCAP.MaxRate < rates[len(rates)-1] && ctx.Err() == nil {
		b.progress("ivr_pcap stopped below -max-rate: the same calls with the key as SIP INFO (no RTP from SIPp)")
		from := 0
		for from < len(rates)-1 && rates[from] < res.PCAP.MaxRate {
			from++
		}
		info := b.runRateSweep(ctx, "ivr_info", rates[from:])
		res.Info = &info
	}
	ns := ladder([]float64{500, 1000, 2000, 3000}, float64(o.maxConcurrent), 1000)
	counts := make([]int, len(ns))
	for i, n := range ns {
		counts[i] = int(n)
	}
	if ctx.Err() == nil {
		res.Hold = b.runHoldSweep(ctx, counts)
	}
	return res
}

// ladder keeps the rungs ≤ limit, then climbs by step to the limit itself.
func ladder(rungs []float64, limit, step float64) []float64 {
	var out []float64
	for _, r := range rungs {
		if r <= limit {
			out = append(out, r)
		}
	}
	next := rungs[len(rungs)-1] + step
	for ; next < limit; next += step {
		out = append(out, next)
	}
	if len(out) == 0 || out[len(out)-1] < limit {
		out = append(out, limit)
	}
	return out
}

// progress prints one line per step, with the time since the start.
func (b *bench) progress(format string, args ...any) {
	fmt.Printf("[%6s] %s\n", time.Since(b.started).Round(time.Second), fmt.Sprintf(format, args...))
}
