// Command bench is the load benchmark (`make bench`, not a pass/fail
// test). It starts its own `bin/hotline serve` on loopback with a private
// config (temp data_dir, always-open calendar, Redis prefix
// hotline-bench-<pid>:, database hotline_bench_<pid>), drives it with SIPp and
// reports:
//
//   - the highest call rate at which ≥ 99.9% of short IVR calls (answer, press
//     a key by RFC 4733, 2 s, BYE) succeed, by SIPp and by the call records;
//   - the most concurrent calls hearing prompts whose RTP send interval stays
//     p1 and p99 within 20 ± 2 ms (the server's pacer histogram);
//   - the server's CPU seconds per call;
//
// and the bridged calls (-only bridge; bridge*.go, agents.go): SIPp
// agents registered with digest auth and logged in with *1, all answering on
// one SIPp UAS, SIPp callers bridged to them:
//
//   - the matching latency with about 1,000 waiting callers and 200 agents
//     (hotline_agents_match_seconds), and agents.BenchmarkMatch (Redis alone);
//   - the highest rate at which ≥ 99.9% of calls are bridged, judged by the
//     call records and the server's bridge log lines;
//   - the most concurrent bridged calls whose relay latency (the server's
//     added jitter) has p99 < 5 ms;
//
// and, only when named (-only panels; panels.go), -panels open browser
// panels (event streams of agents signed in) during bridged calls at
// -panels-rate: the delay from a state change in Redis to its event at the
// panel, and the time of the page and data calls;
//
// and, only when named and alone (-only callbacks; callbacks.go), the
// callbacks placed per minute with 50 agents and 1,000 pending requests
// through a SIPp trunk, and the time from a freed agent to the callee's
// phone ringing;
//
// and, only when named (-only soak; soak*.go), a soak: -soak-duration of
// mixed IVR and bridged calls at -soak-load of the capacity plus a hostile
// flood from 127.0.0.2, with the server's memory, goroutines, descriptors
// and RTP ports sampled and the legitimate calls lost counted.
//
// Run it from the repository root after `go build -o bin/hotline ./cmd/hotline`:
//
//	go run ./cmd/bench -duration 10s -max-rate 800 -max-concurrent 3000 -out bench-results.md
//	go run ./cmd/bench -only bridge -duration 10s -max-bridge-rate 300 -max-bridged 1500
//	go run ./cmd/bench -only soak -soak-duration 30m
//	go run ./cmd/bench -only panels -duration 20s -panels 500 -panels-rate 100
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// overallLimit bounds a whole run, whatever the flags.
const overallLimit = 60 * time.Minute

// bench holds what every step needs.
type bench struct {
	env         *env
	srv         *server
	service     string
	duration    time.Duration
	cpus        int
	sampleCalls int
	started     time.Time
	// keyAt is when, after the answer, the rate, bridge-rate and matching
	// callers press their key: during the greeting it is type-ahead (S3).
	keyAt time.Duration
	// repeat is how many times each step runs (-repeat); run is the
	// step's run now (0…repeat-1, realPeerRun for the real-peer check),
	// part of its callers' numbers so that each run reads its own records.
	repeat, run int
}

type options struct {
	duration      time.Duration
	maxRate       float64
	minRate       float64
	minBridgeRate float64
	maxConcurrent int
	out           string
	binary        string
	samples       int
	keepDB        bool
	keepDir       bool
	only          string
	parts         parts
	pprof         bool
	maxBridgeRate float64
	maxBridged    int
	minBridged    int
	talk          time.Duration
	keepGoing     bool
	keyAt         time.Duration
	soak          soakOptions
	panels        panelsOptions
	rtp           string
	rtpSample     int
	rtpRealtime   bool
	sets          []string
	repeat        int
}

// parts are the sweeps -only selects. "bridge" is the three parts:
// match, bridge-hold and bridge-rate, which can also be named alone.
type parts struct{ rate, hold, match, bridgeHold, bridgeRate, scrape, soak, panels, callbacks bool }

// partNames are -only's names in the order the bench runs them.
var partNames = []string{"rate", "hold", "match", "bridge-hold", "bridge-rate", "scrape", "soak", "panels", "callbacks"}

func (p *parts) flag(name string) *bool {
	return map[string]*bool{"rate": &p.rate, "hold": &p.hold, "match": &p.match,
		"bridge-hold": &p.bridgeHold, "bridge-rate": &p.bridgeRate, "scrape": &p.scrape, "soak": &p.soak,
		"panels": &p.panels, "callbacks": &p.callbacks}[name]
}

// parseParts reads -only: a comma list of rate (IVR call rate), hold (IVR
// concurrency) and bridge (the bridged calls and matching) or its parts.
func parseParts(s string) (parts, error) {
	var p parts
	for f := range strings.SplitSeq(s, ",") {
		switch name := strings.TrimSpace(f); {
		case name == "":
		case name == "bridge":
			p.match, p.bridgeHold, p.bridgeRate = true, true, true
		case p.flag(name) != nil:
			*p.flag(name) = true
		default:
			return parts{}, fmt.Errorf("-only: unknown part %q (want rate, hold, bridge or %s)", name, strings.Join(partNames[2:], ", "))
		}
	}
	if p == (parts{}) {
		return parts{}, errors.New("-only names no part (want a comma list of rate, hold, bridge)")
	}
	if p.callbacks && p != (parts{callbacks: true}) {
		// Its agents take the matching pool's staff numbers (S2: unique).
		return parts{}, errors.New("-only callbacks runs alone")
	}
	return p, nil
}

// bridge says whether any of the parts runs.
func (p parts) bridge() bool { return p.match || p.bridgeHold || p.bridgeRate }

func (p parts) String() string {
	var out []string
	for _, name := range partNames {
		if *p.flag(name) {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "arrival time of each call-rate step (calls = rate × duration)")
	flag.Float64Var(&o.maxRate, "max-rate", 800, "highest call rate tried (calls/s)")
	flag.Float64Var(&o.minRate, "min-rate", 0, "lowest call rate tried (calls/s): the ladder's rungs below it are skipped")
	flag.IntVar(&o.maxConcurrent, "max-concurrent", 3000, "most concurrent calls tried")
	flag.StringVar(&o.out, "out", "bench-results.md", "report file (markdown; the JSON goes beside it with .json)")
	flag.StringVar(&o.binary, "hotline", "bin/hotline", "server binary to benchmark")
	flag.IntVar(&o.samples, "sample-calls", 20, "Go callers measuring RTP arrival beside SIPp in each concurrency step (0: none)")
	flag.BoolVar(&o.keepDB, "keep-db", false, "keep the run's hotline_bench_<pid> database after the run")
	flag.BoolVar(&o.keepDir, "keep-dir", false, "keep the bench's temp folder (server log, config, recordings) after the run")
	flag.StringVar(&o.only, "only", "rate,hold,bridge,scrape", "parts to run, comma list: rate (IVR call rate), hold (IVR concurrency), bridge (match, bridge-hold and bridge-rate, each also alone), scrape (CPU per /metrics scrape), soak and panels (only when named), callbacks (only when named, alone)")
	flag.BoolVar(&o.pprof, "pprof", false, "turn on the server's /debug/pprof/ (http.pprof) on its ops port")
	flag.Float64Var(&o.minBridgeRate, "min-bridge-rate", 0, "lowest bridged call rate tried (calls/s): the ladder's rungs below it are skipped")
	flag.Float64Var(&o.maxBridgeRate, "max-bridge-rate", 300, "highest bridged call rate tried (calls/s)")
	flag.IntVar(&o.maxBridged, "max-bridged", 1500, "most concurrent bridged calls tried")
	flag.IntVar(&o.minBridged, "min-bridged", 0, "fewest concurrent bridged calls tried: the ladder's rungs below it are skipped")
	flag.IntVar(&o.panels.count, "panels", 500, "open panels (event streams) of the panels part")
	flag.Float64Var(&o.panels.rate, "panels-rate", 100, "bridged calls per second while the panels are open")
	flag.DurationVar(&o.talk, "talk", 3*time.Second, "how long a bridged caller talks to the agent in the call-rate steps")
	flag.BoolVar(&o.keepGoing, "keep-going", false, "bridged sweeps: run every step even after one failed (the figures are then the best passing step; failures below it are listed)")
	flag.DurationVar(&o.keyAt, "key-at", time.Second, "when the call-rate, bridged call-rate and matching callers press their key after the answer: "+
		"1s is the short call (answer, press a key, 2 s, BYE), typed during the greeting (S3 type-ahead); 5s waits for the menu, as a first-time caller does")
	flag.Func("set", "override the server's config for an experiment, section.key=value (the value read as YAML; repeatable), e.g. -set sip.rtp_priority=normal; the report's command line shows it", func(v string) error {
		if _, _, ok := strings.Cut(v, "="); !ok {
			return fmt.Errorf("want section.key=value")
		}
		o.sets = append(o.sets, v)
		return nil
	})
	flag.IntVar(&o.rtpSample, "rtp-sample", 8, "the Go RTP peer measures 1 leg in this many (a power of two; 1: every leg): the kernel drops the other legs' relayed packets before they are queued, but for 1 in 16 that keep the leg known, so the peer's reading costs an eighth; the server still relays every packet")
	flag.BoolVar(&o.rtpRealtime, "rtp-realtime", false, "the Go RTP peer's sender runs on a real-time thread at the server's RTP priority (root or CAP_SYS_NICE): it then offers every packet due on a full machine, taking its CPU from the server; default: normal priority, the server's real-time threads first, and a step the peer fell behind in fails on the peer")
	flag.StringVar(&o.rtp, "rtp", "go", "who streams the bridged calls' audio: go (the bench's own RTP peer, SIPp only signals; bridge-hold first runs one step of its first rung with SIPp callers streaming, the real-peer check, reported beside the sweep) or sipp (SIPp's rtp_stream on both sides)")
	flag.IntVar(&o.repeat, "repeat", 1, "run each step of the rate, hold, bridge-hold and bridge-rate ladders this many times (1-9): a rung passes only when every run passed, and the report gives each rung's pass count, median and worst")
	flag.DurationVar(&o.soak.duration, "soak-duration", 30*time.Minute, "soak: how long the mixed traffic runs")
	flag.Float64Var(&o.soak.load, "soak-load", 0.7, "soak: share of the mixed capacity offered, half as short IVR calls, half as bridged calls")
	flag.DurationVar(&o.soak.probeStep, "soak-probe-step", time.Minute, "soak: length of each step of the mixed-capacity probe run first (0: no probe, the capacity is the two measured apart)")
	flag.Float64Var(&o.soak.ivrCap, "soak-ivr-capacity", 800, "soak: short IVR calls/s the server passes alone (BENCHMARKS.md; the rate part's figure when it runs first)")
	flag.Float64Var(&o.soak.bridgeCap, "soak-bridge-capacity", 250, "soak: bridged calls/s the server passes alone (BENCHMARKS.md; the bridge-rate part's figure when it runs first)")
	flag.Float64Var(&o.soak.hostile, "soak-hostile-rate", 400, "soak: datagrams/s the hostile source (127.0.0.2, untrusted) sends, INVITEs and REGISTERs in turn")
	flag.DurationVar(&o.soak.sampleEach, "soak-sample", 5*time.Second, "soak: how often the server's memory, goroutines, descriptors and RTP ports are sampled")
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
	case o.minRate < 0 || o.minRate > o.maxRate:
		return errors.New("-min-rate must be between 0 and -max-rate")
	case o.minBridgeRate < 0 || o.minBridgeRate > o.maxBridgeRate:
		return errors.New("-min-bridge-rate must be between 0 and -max-bridge-rate")
	case o.maxConcurrent < 1 || o.maxConcurrent > 8000:
		return errors.New("-max-concurrent must be between 1 and 8000 (the RTP port range holds 11,384 calls)")
	case o.samples < 0 || o.samples > 200:
		return errors.New("-sample-calls must be between 0 and 200")
	case o.maxBridgeRate < 1 || o.maxBridgeRate > 1000:
		return errors.New("-max-bridge-rate must be between 1 and 1000 calls/s")
	case o.minBridged < 0 || o.minBridged > o.maxBridged:
		return errors.New("-min-bridged must be between 0 and -max-bridged")
	case o.maxBridged < 1 || o.maxBridged > 4000:
		return errors.New("-max-bridged must be between 1 and 4000 (two RTP ports per bridged call, and their agents)")
	case o.talk < time.Second || o.talk > time.Minute:
		return errors.New("-talk must be between 1s and 1m")
	case o.keyAt < 500*time.Millisecond || o.keyAt > 20*time.Second:
		return errors.New("-key-at must be between 500ms and 20s")
	case o.rtp != "go" && o.rtp != "sipp":
		return errors.New("-rtp must be go or sipp")
	case o.repeat < 1 || o.repeat > realPeerRun:
		return errors.New("-repeat must be between 1 and 9 (a digit of the callers' numbers)")
	case o.soak.duration < time.Minute || o.soak.duration > 50*time.Minute:
		return errors.New("-soak-duration must be between 1m and 50m (the whole run is bounded by an hour)")
	case o.soak.probeStep != 0 && (o.soak.probeStep < 20*time.Second || o.soak.probeStep > 3*time.Minute):
		return errors.New("-soak-probe-step must be 0 or between 20s and 3m")
	case o.panels.count < 1 || o.panels.count > 4000:
		return errors.New("-panels must be between 1 and 4000")
	case o.panels.rate <= 0 || o.panels.rate > 500:
		return errors.New("-panels-rate must be above 0 and at most 500 calls/s")
	case o.soak.load <= 0 || o.soak.load > 1:
		return errors.New("-soak-load must be above 0 and at most 1")
	case o.soak.ivrCap < 1 || o.soak.bridgeCap < 1:
		return errors.New("-soak-ivr-capacity and -soak-bridge-capacity must be at least 1 call/s")
	case o.soak.hostile < 0 || o.soak.hostile > 5000:
		return errors.New("-soak-hostile-rate must be between 0 and 5000 datagrams/s")
	case o.soak.sampleEach < time.Second || o.soak.sampleEach > time.Minute:
		return errors.New("-soak-sample must be between 1s and 1m")
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
	var err error
	if o.parts, err = parseParts(o.only); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, overallLimit)
	defer cancel()

	b := &bench{duration: o.duration, cpus: runtime.NumCPU(), sampleCalls: o.samples, started: time.Now(), keyAt: o.keyAt, repeat: o.repeat}
	mach := describeMachine()
	b.progress("machine: %d CPUs (%s), %s; open files limit %d", mach.CPUs, mach.CPUModel, mach.Kernel, mach.OpenFiles)
	base := measureBaseline(ctx, 5*time.Second)
	b.progress("baseline: %s", base)
	cal, err := measureCalibration(os.TempDir())
	if err != nil {
		return err
	}
	b.progress("calibration: %s", cal)
	trunkPort := 0
	if o.parts.callbacks {
		if trunkPort, err = freeUDPPort(); err != nil {
			return err
		}
	}
	e, err := newEnv(ctx, o.binary, o.pprof, trunkPort, o.sets)
	if err != nil {
		return err
	}
	b.env = e
	defer e.close(o.keepDB, o.keepDir)
	if err := b.startServer(ctx, o.binary, o.pprof); err != nil {
		return err
	}
	res := b.sweeps(ctx, o)
	b.srv.stop()
	res.Machine, res.Baseline, res.Calibration, res.ServerLog = mach, base, cal, summarizeLog(b.srv.logPath)
	res.Interrupted = ctx.Err() != nil
	b.progress("done in %v", time.Since(b.started).Round(time.Second))
	md := res.markdown()
	if err := res.write(o.out, md); err != nil {
		return err
	}
	fmt.Print("\n" + md)
	fmt.Printf("\nreport written to %s and %s\n", o.out, jsonPath(o.out))
	if res.Interrupted {
		return errors.New("interrupted: the report holds the steps finished so far")
	}
	return nil
}

func (b *bench) startServer(ctx context.Context, binary string, pprof bool) error {
	sipAddr, err := freeSIPAddr()
	if err != nil {
		return err
	}
	httpAddr, err := freeTCPAddr()
	if err != nil {
		return err
	}
	apiAddr, err := freeTCPAddr()
	if err != nil {
		return err
	}
	b.service = "12345"
	b.srv, err = startServer(ctx, serverSetup{
		Binary: binary, ConfigPath: b.env.configPath(), LogPath: b.env.dir + "/server.log",
		SIPAddr: sipAddr, HTTPAddr: httpAddr, APIAddr: apiAddr, RTPPorts: benchRTPPorts,
		DatabaseURL: b.env.databaseURL, RedisURL: b.env.redisURL,
	})
	if err != nil {
		return err
	}
	b.progress("hotline pid %d: SIP %s, HTTP %s, database %s, redis prefix %s",
		b.srv.cmd.Process.Pid, sipAddr, httpAddr, benchDatabase, benchKeyPrefix)
	if pprof {
		b.progress("pprof: go tool pprof %s/debug/pprof/profile?seconds=30", b.srv.http)
	}
	return nil
}

// sweeps runs the parts -only selects: the call-rate sweep (and its no-RTP
// variant when the first one stops early), the concurrency sweep, and the
// bridged calls (rate, concurrency, matching).
func (b *bench) sweeps(ctx context.Context, o options) *result {
	res := &result{Command: commandLine(), Duration: o.duration.String(), Parts: o.parts.String(), Repeat: o.repeat}
	if o.parts.rate {
		rates := from(o.minRate, ladder([]float64{50, 100, 200, 300, 400, 500, 600, 800}, o.maxRate, 200))
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
	}
	if o.parts.hold && ctx.Err() == nil {
		res.Hold = b.runHoldSweep(ctx, ints(ladder([]float64{500, 1000, 2000, 3000}, float64(o.maxConcurrent), 1000)))
	}
	if o.parts.bridge() && ctx.Err() == nil {
		res.Bridge = b.runBridge(ctx, bridgeOptions{parts: o.parts,
			rates:     from(o.minBridgeRate, ladder([]float64{50, 100, 150, 200, 250, 300}, o.maxBridgeRate, 50)),
			counts:    ints(from(float64(o.minBridged), ladder([]float64{250, 500, 750, 1000, 1250, 1500}, float64(o.maxBridged), 250))),
			talk:      o.talk,
			keepGoing: o.keepGoing,
			goRTP:     o.rtp == "go",
			rtpSample: o.rtpSample, rtpRealtime: o.rtpRealtime,
		})
	}
	if o.parts.scrape && ctx.Err() == nil {
		c := b.runScrapeCost(ctx)
		res.Scrape = &c
	}
	if o.parts.panels && ctx.Err() == nil {
		res.Panels = b.runPanels(ctx, o.panels, o.talk)
	}
	if o.parts.callbacks && ctx.Err() == nil {
		c := b.runCallbacks(ctx)
		res.Callbacks = &c
	}
	if o.parts.soak && ctx.Err() == nil {
		so := o.soak
		// Capacity measured in this run wins over the given one.
		if res.PCAP.MaxRate > 0 {
			so.ivrCap = res.PCAP.MaxRate
		}
		if res.Bridge != nil && res.Bridge.Rate.MaxRate > 0 {
			so.bridgeCap = res.Bridge.Rate.MaxRate
		}
		res.Soak = b.runSoak(ctx, so)
	}
	return res
}

func ints(fs []float64) []int {
	out := make([]int, len(fs))
	for i, f := range fs {
		out[i] = int(f)
	}
	return out
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

// from drops the rungs below lowest (-min-rate, -min-bridge-rate,
// -min-bridged).
func from(lowest float64, rungs []float64) []float64 {
	return slices.DeleteFunc(rungs, func(r float64) bool { return r < lowest })
}

// progress prints one line per step, with the time since the start.
func (b *bench) progress(format string, args ...any) {
	fmt.Printf("[%6s] %s\n", time.Since(b.started).Round(time.Second), fmt.Sprintf(format, args...))
}
