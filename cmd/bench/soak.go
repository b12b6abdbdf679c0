package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The soak (-only soak): mixed traffic for -soak-duration at -soak-load of
// the measured capacity, half of it short IVR calls (SIPp ivr_pcap: answer,
// key by RFC 4733, 2 s, BYE) and half bridged calls (SIPp bridge_caller and
// the agents' UAS), while one hostile source (127.0.0.2, outside
// sip.trusted) floods INVITEs it never ACKs and REGISTERs with made-up
// nonces. Every soakSample the server's RSS, goroutines, open descriptors
// and RTP ports in use are sampled; the report compares the first quarter of
// the run (after soakWarmup) with the last, and counts the legitimate calls
// lost (SIPp failures and calls without a record).
const (
	// soakWarmup is left out of the first quarter: the calls in progress
	// climb to their steady number over one call length.
	soakWarmup = 30 * time.Second
	// soakGrowth is how much a figure may grow from the first quarter to
	// the last and still count as flat (allocator and pool noise), with
	// soakSlack of each absolute figure beside it.
	soakGrowth = 1.25
	// soakHostileSource is the flooding address: loopback, but not in the
	// bench's sip.trusted (127.0.0.1/32).
	soakHostileSource = "127.0.0.2"
	// soakTalk is how long a bridged caller of the soak talks.
	soakTalk = 3 * time.Second
)

// soakSlack is the absolute growth each figure may show besides soakGrowth.
var soakSlack = map[string]float64{"rss_mb": 32, "heap_live_mb": 16, "goroutines": 50, "fds": 20, "rtp_ports": 20}

// soakFigures are the sampled figures; soakJudged those the verdict rests
// on. RSS is reported but not judged: with runtime.gc_percent 1000 the heap
// grows to ten times the live heap before each collection, so RSS climbs
// for minutes before its plateau and the runtime returns pages slowly; the
// live heap at the last collection is what a leak would grow.
var (
	soakFigures = []string{"rss_mb", "heap_live_mb", "goroutines", "fds", "rtp_ports"}
	soakJudged  = []string{"heap_live_mb", "goroutines", "fds", "rtp_ports"}
)

type soakOptions struct {
	duration   time.Duration
	load       float64       // share of the mixed capacity, split evenly between IVR and bridged calls
	probeStep  time.Duration // each step of the mixed-capacity probe; 0 skips the probe
	ivrCap     float64       // short IVR calls/s the server passes alone
	bridgeCap  float64       // bridged calls/s the server passes alone
	hostile    float64       // hostile datagrams/s
	sampleEach time.Duration
}

// soakProbeStep is one step of the mixed-capacity probe.
type soakProbeStep struct {
	Share        float64 `json:"share"`
	IVRRate      float64 `json:"ivr_rate"`
	BridgeRate   float64 `json:"bridge_rate"`
	Lost         int     `json:"lost"`
	IVRFailed    int     `json:"ivr_failed"`
	BridgeFailed int     `json:"bridge_failed"`
	Err          string  `json:"error,omitempty"`
}

// soakSample is one sample of the server.
type soakSample struct {
	At          float64 `json:"t_s"`
	RSSMB       float64 `json:"rss_mb"`
	HeapLiveMB  float64 `json:"heap_live_mb"` // at the last GC: next_gc ÷ (1 + GOGC/100)
	Goroutines  float64 `json:"goroutines"`
	FDs         float64 `json:"fds"`
	RTPPorts    float64 `json:"rtp_ports"`
	ActiveCalls float64 `json:"active_calls"`
	// SIPUDPDrops are the SIP datagrams the kernel dropped on the server's
	// socket since it started: a lost ACK lets the caller's INFO key
	// overtake it.
	SIPUDPDrops float64 `json:"sip_udp_drops"`
}

// soakTrend compares one figure's first and last quarter.
type soakTrend struct {
	First float64 `json:"first_quarter_mean"`
	Last  float64 `json:"last_quarter_mean"`
	Max   float64 `json:"max"`
	Flat  bool    `json:"flat"`
}

type soakResult struct {
	Duration    string               `json:"duration"`
	Load        float64              `json:"load"`
	Capacity    float64              `json:"mixed_capacity_share"` // highest probe step that lost no call
	Probe       []soakProbeStep      `json:"probe,omitempty"`
	IVRRate     float64              `json:"ivr_rate"`
	BridgeRate  float64              `json:"bridge_rate"`
	Agents      int                  `json:"agents"`
	IVR         sippStats            `json:"ivr_sipp"`
	IVRCalls    int                  `json:"ivr_calls"`
	IVRRecords  int                  `json:"ivr_records"`
	Bridged     sippStats            `json:"bridge_sipp"`
	BrCalls     int                  `json:"bridge_calls"`
	BrRecords   int                  `json:"bridge_records"`
	BrAnswered  int                  `json:"bridge_answered"`
	BrOutcomes  map[string]int       `json:"bridge_outcomes"` // the bridged callers' records by outcome
	Lost        int                  `json:"legitimate_calls_lost"`
	Hostile     hostileStats         `json:"hostile"`
	Samples     []soakSample         `json:"samples"`
	Idle        soakSample           `json:"idle_after"`
	Trends      map[string]soakTrend `json:"trends"`
	Flat        bool                 `json:"flat"`
	Err         string               `json:"error,omitempty"`
	ServerWarns []string             `json:"server_warnings,omitempty"`
}

// soakRates are the IVR and bridged rates for a share of the capacities
// measured apart: half the share each.
func soakRates(o soakOptions, share float64) (ivr, bridge float64) {
	return math.Round(share / 2 * o.ivrCap), math.Round(share / 2 * o.bridgeCap)
}

// soakProbeShares are the steps of the mixed-capacity probe, as shares of
// "half each of the two capacities measured apart". The two were measured
// with the whole machine each (SIPp beside the server), so together they do
// not simply add up: the soak's 70 % is taken of the highest step that
// passes with no call lost.
var soakProbeShares = []float64{0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}

// soakMix is one run of mixed traffic and what became of it.
type soakMix struct {
	ivrRate, bridgeRate float64
	duration            time.Duration
	hostile             float64
	sampleEach          time.Duration
	ivrCaller, brCaller string // the records are counted by caller number
}

func (b *bench) runSoak(ctx context.Context, o soakOptions) *soakResult {
	res := &soakResult{Duration: o.duration.String(), Load: o.load}
	fail := func(err error) *soakResult { res.Err = err.Error(); b.progress("soak: ERROR %v", err); return res }
	r := &bridgeRun{b: b, res: &bridgeResult{}, audio: talkAudio(), cursor: &logCursor{path: b.srv.logPath}}
	if err := r.startAgents(ctx); err != nil {
		return fail(err)
	}
	defer func() { _, _ = r.uas.stop(10 * time.Second) }()
	_, topBridge := soakRates(o, 1)
	var err error
	if res.Agents, err = r.grow(ctx, agentsFor(topBridge, o.duration, soakTalk)); err != nil {
		return fail(err)
	}
	share := 1.0
	if o.probeStep > 0 {
		if share, err = b.soakProbe(ctx, r, o, res); err != nil {
			return fail(err)
		}
	}
	res.Capacity = share
	res.IVRRate, res.BridgeRate = soakRates(o, o.load*share)
	if res.IVRRate < 1 || res.BridgeRate < 1 {
		return fail(fmt.Errorf("no mixed load passed the probe (lowest step %.0f%%)", soakProbeShares[0]*100))
	}
	// As between bridged steps: agents left unusable (stuck, not
	// responding) by the probe are replaced before the soak.
	if res.Agents, err = r.grow(ctx, agentsFor(res.BridgeRate, o.duration, soakTalk)); err != nil {
		return fail(err)
	}
	b.progress("soak: %s at %.0f%% of the mixed capacity: %.0f IVR calls/s, %.0f bridged calls/s (%d agents), %.0f hostile datagrams/s from %s",
		o.duration, o.load*100, res.IVRRate, res.BridgeRate, res.Agents, o.hostile, soakHostileSource)
	if err := b.soakMixed(ctx, r, res, soakMix{ivrRate: res.IVRRate, bridgeRate: res.BridgeRate, duration: o.duration,
		hostile: o.hostile, sampleEach: o.sampleEach, ivrCaller: "1397", brCaller: "1398"}); err != nil {
		return fail(err)
	}
	res.Trends, res.Flat = soakTrends(res.Samples, o.duration)
	b.progress("soak: %s", res.summary())
	return res
}

// soakProbe runs the mixed traffic for probeStep at each of
// soakProbeShares until a step loses a call, and returns the highest share
// that lost none (0 when none did). Its steps have no hostile source: the
// flood's cost is part of what the soak then shows the margin absorbs.
func (b *bench) soakProbe(ctx context.Context, r *bridgeRun, o soakOptions, res *soakResult) (float64, error) {
	best := 0.0
	for i, share := range soakProbeShares {
		ivrRate, bridgeRate := soakRates(o, share)
		if _, err := r.grow(ctx, agentsFor(bridgeRate, o.probeStep, soakTalk)); err != nil {
			return best, err
		}
		step := &soakResult{}
		err := b.soakMixed(ctx, r, step, soakMix{ivrRate: ivrRate, bridgeRate: bridgeRate, duration: o.probeStep,
			sampleEach: o.probeStep, ivrCaller: fmt.Sprintf("13%02d7", i), brCaller: fmt.Sprintf("13%02d8", i)})
		if err != nil {
			return best, err
		}
		p := soakProbeStep{Share: share, IVRRate: ivrRate, BridgeRate: bridgeRate, Lost: step.Lost,
			IVRFailed: step.IVR.Failed, BridgeFailed: step.Bridged.Failed, Err: step.Err}
		res.Probe = append(res.Probe, p)
		b.progress("soak probe: %.0f%% (%.0f IVR/s + %.0f bridged/s for %s): lost %d (IVR %d/%d records, %d SIPp failures; bridged records by outcome %v, %d SIPp failures)%s",
			share*100, ivrRate, bridgeRate, o.probeStep, step.Lost, step.IVRRecords, step.IVRCalls, step.IVR.Failed,
			step.BrOutcomes, step.Bridged.Failed, errSuffix(step.Err))
		if step.Lost > 0 || step.Err != "" {
			break
		}
		best = share
	}
	return best, nil
}

// soakMixed offers m's mixed traffic (and m.hostile datagrams/s from the
// hostile source), samples the server meanwhile and fills res with what
// happened: SIPp's figures, the records, the calls lost.
func (b *bench) soakMixed(ctx context.Context, r *bridgeRun, res *soakResult, m soakMix) error {
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return err
	}
	if err := r.cursor.skip(); err != nil {
		return err
	}
	hctx, stopHostile := context.WithCancel(ctx)
	defer stopHostile()
	var flood *hostile
	if m.hostile > 0 {
		var err error
		if flood, err = startHostile(hctx, b.srv.sipAddr, m.hostile); err != nil {
			return err
		}
	}
	res.IVRCalls = int(m.ivrRate * m.duration.Seconds())
	res.BrCalls = int(m.bridgeRate * m.duration.Seconds())
	ivrLen := b.keyAt + shortAfterKey
	brLen := bridgeCallLength(b.keyAt, soakTalk)
	ivr, err := startSIPp(ctx, sippRun{Scenario: "ivr_pcap.xml", Target: b.srv.sipAddr, Service: b.service, Caller: m.ivrCaller,
		Key: menuKey, Calls: res.IVRCalls, Rate: m.ivrRate, Limit: int(m.ivrRate*(ivrLen.Seconds()+10)) + 100,
		AnswerWait: b.keyAt, AfterKey: shortAfterKey, Timeout: m.duration + ivrLen + 5*time.Minute})
	if err != nil {
		return err
	}
	br, err := startSIPp(ctx, sippRun{Scenario: "bridge_caller.xml", Target: b.srv.sipAddr, Service: b.service, Caller: m.brCaller,
		Key: menuKey, Calls: res.BrCalls, Rate: m.bridgeRate, Limit: int(m.bridgeRate*(brLen.Seconds()+10)) + 100,
		AnswerWait: b.keyAt, Audio: r.audio,
		Data: map[string]int64{
			"AudioAtMS": (bridgeKeyToBridge - bridgeAudioLead).Milliseconds(),
			"RestMS":    (bridgeAudioLead + soakTalk).Milliseconds(),
		},
		Timeout: m.duration + brLen + 5*time.Minute})
	if err != nil {
		_, _ = ivr.stop(5 * time.Second)
		return err
	}
	start := time.Now()
	res.Samples = b.sampleUntil(ctx, start, m.sampleEach, ivr.done, br.done)
	res.IVR, _ = ivr.wait()
	res.Bridged, _ = br.wait()
	stopHostile()
	if flood != nil {
		res.Hostile = flood.wait()
	}
	if _, err := b.srv.waitIdle(ctx, 2*time.Minute); err != nil {
		res.Err = err.Error()
	}
	res.Idle, _ = b.sampleServer(start)
	if chunk, err := r.cursor.read(); err == nil {
		res.ServerWarns = chunk.top(5)
	}
	if err := b.soakRecords(ctx, res, m.ivrCaller, m.brCaller); err != nil && res.Err == "" {
		res.Err = err.Error()
	}
	return nil
}

// soakRecords counts the calls' records and the legitimate calls lost: those
// SIPp saw fail and those without a record.
func (b *bench) soakRecords(ctx context.Context, res *soakResult, ivrCaller, brCaller string) error {
	outcomes, _, err := b.env.outcomes(ctx, ivrCaller, menuCategory)
	if err != nil {
		return err
	}
	for _, n := range outcomes {
		res.IVRRecords += n
	}
	brOutcomes, _, err := b.env.outcomes(ctx, brCaller, menuCategory)
	if err != nil {
		return err
	}
	for _, n := range brOutcomes {
		res.BrRecords += n
	}
	res.BrAnswered = brOutcomes["answered"]
	res.BrOutcomes = brOutcomes
	res.Lost = max(res.IVR.Failed, res.IVRCalls-res.IVRRecords) + max(res.Bridged.Failed, res.BrCalls-res.BrAnswered)
	return nil
}

// sampleUntil samples the server every each until every done channel is
// closed (or ctx ends).
func (b *bench) sampleUntil(ctx context.Context, start time.Time, each time.Duration, done ...chan struct{}) []soakSample {
	var out []soakSample
	t := time.NewTicker(each)
	defer t.Stop()
	for {
		if s, err := b.sampleServer(start); err == nil {
			out = append(out, s)
			if len(out)%max(1, int(time.Minute/each)) == 0 {
				b.progress("soak: %.0f MB RSS, %.0f goroutines, %.0f fds, %.0f RTP ports, %.0f calls",
					s.RSSMB, s.Goroutines, s.FDs, s.RTPPorts, s.ActiveCalls)
			}
		}
		all := true
		for _, d := range done {
			select {
			case <-d:
			default:
				all = false
			}
		}
		if all {
			return out
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// sample reads the server's RSS and descriptors from /proc, its goroutines
// and calls from /metrics, and the RTP ports bound in the bench's range.
func (b *bench) sampleServer(start time.Time) (soakSample, error) {
	pid := b.srv.cmd.Process.Pid
	s := soakSample{At: time.Since(start).Seconds()}
	rss, err := procRSS(pid)
	if err != nil {
		return s, err
	}
	s.RSSMB = rss / (1 << 20)
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return s, fmt.Errorf("descriptors of %d: %w", pid, err)
	}
	s.FDs = float64(len(fds))
	m, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		return s, err
	}
	s.Goroutines, s.ActiveCalls = m.value("go_goroutines"), m.value("hotline_sip_active_calls")
	s.SIPUDPDrops = m.value("hotline_sip_udp_receive_drops_total")
	gogc := m.value("go_gc_gogc_percent")
	if gogc <= 0 {
		gogc = 100
	}
	s.HeapLiveMB = m.value("go_memstats_next_gc_bytes") / (1 + gogc/100) / (1 << 20)
	lo, hi := portRange(benchRTPPorts)
	ports, err := udpPortsBound(lo, hi)
	if err != nil {
		return s, err
	}
	s.RTPPorts = float64(ports)
	return s, nil
}

// procRSS is the resident set of a process in bytes (VmRSS).
func procRSS(pid int) (float64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("rss of %d: %q", pid, rest)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("rss of %d: no VmRSS line", pid)
}

func portRange(s string) (int, int) {
	a, b, _ := strings.Cut(s, "-")
	lo, _ := strconv.Atoi(a)
	hi, _ := strconv.Atoi(b)
	return lo, hi
}

// udpPortsBound counts the IPv4 UDP sockets bound to a port in [lo, hi]:
// in the bench only the server's RTP pool lies there (SIPp and the sample
// callers bind ephemeral ports above it).
func udpPortsBound(lo, hi int) (int, error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0, fmt.Errorf("udp sockets: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue // the header line
		}
		port, err := strconv.ParseInt(hexPort, 16, 32)
		if err == nil && int(port) >= lo && int(port) <= hi {
			n++
		}
	}
	return n, sc.Err()
}

// soakTrends compares the first quarter of the samples after soakWarmup
// with the last quarter, for each figure.
func soakTrends(samples []soakSample, d time.Duration) (map[string]soakTrend, bool) {
	var steady []soakSample
	for _, s := range samples {
		if s.At >= soakWarmup.Seconds() && s.At <= d.Seconds() {
			steady = append(steady, s)
		}
	}
	out := map[string]soakTrend{}
	q := len(steady) / 4
	if q == 0 {
		return out, false
	}
	figures := map[string]func(soakSample) float64{
		"rss_mb":       func(s soakSample) float64 { return s.RSSMB },
		"heap_live_mb": func(s soakSample) float64 { return s.HeapLiveMB },
		"goroutines":   func(s soakSample) float64 { return s.Goroutines },
		"fds":          func(s soakSample) float64 { return s.FDs },
		"rtp_ports":    func(s soakSample) float64 { return s.RTPPorts },
	}
	flat := true
	for name, f := range figures {
		mean := func(ss []soakSample) float64 {
			sum := 0.0
			for _, s := range ss {
				sum += f(s)
			}
			return sum / float64(len(ss))
		}
		tr := soakTrend{First: mean(steady[:q]), Last: mean(steady[len(steady)-q:])}
		for _, s := range steady {
			tr.Max = max(tr.Max, f(s))
		}
		tr.Flat = tr.Last <= tr.First*soakGrowth+soakSlack[name]
		flat = flat && (tr.Flat || !slices.Contains(soakJudged, name))
		out[name] = tr
	}
	return out, flat
}

func (r *soakResult) summary() string {
	if r.Err != "" && len(r.Samples) == 0 {
		return "error: " + r.Err
	}
	var parts []string
	for _, name := range soakFigures {
		tr := r.Trends[name]
		parts = append(parts, fmt.Sprintf("%s %.0f→%.0f", name, tr.First, tr.Last))
	}
	verdict := "flat"
	if !r.Flat {
		verdict = "NOT flat"
	}
	drops := 0.0
	if len(r.Samples) > 0 {
		drops = r.Idle.SIPUDPDrops - r.Samples[0].SIPUDPDrops
	}
	return fmt.Sprintf("%s (%s); IVR %d/%d ok, %d records; bridged %d/%d ok, %d answered; lost %d; SIP UDP drops %.0f; hostile %s",
		verdict, strings.Join(parts, ", "), r.IVR.Successful, r.IVRCalls, r.IVRRecords,
		r.Bridged.Successful, r.BrCalls, r.BrAnswered, r.Lost, drops, r.Hostile)
}

// hostileStats counts what the hostile source sent and got back.
type hostileStats struct {
	Invites   int            `json:"invites"`
	Registers int            `json:"registers"`
	Responses map[string]int `json:"responses"` // by status code
	Err       string         `json:"error,omitempty"`
}

func (h hostileStats) String() string {
	var codes []string
	for code, n := range h.Responses {
		codes = append(codes, fmt.Sprintf("%s×%d", code, n))
	}
	return fmt.Sprintf("%d INVITEs, %d REGISTERs, responses %s", h.Invites, h.Registers, strings.Join(codes, " "))
}

// hostile is a running flood.
type hostile struct {
	mu    sync.Mutex
	stats hostileStats
	done  chan struct{}
}

func (h *hostile) wait() hostileStats {
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

func (r *soakResult) markdown(w func(string, ...any)) {
	w("")
	w("## Soak")
	w("")
	if len(r.Probe) > 0 {
		w("Mixed capacity probe (each step half short IVR calls, half bridged calls, as shares of the two capacities measured apart; no hostile source):")
		w("")
		w("| share | IVR calls/s | bridged calls/s | lost | IVR failed | bridged failed |")
		w("|---|---|---|---|---|---|")
		for _, p := range r.Probe {
			w("| %.0f%% | %.0f | %.0f | %d | %d | %d |", p.Share*100, p.IVRRate, p.BridgeRate, p.Lost, p.IVRFailed, p.BridgeFailed)
		}
		w("")
		w("Mixed capacity: %.0f%% (the highest step with no call lost).", r.Capacity*100)
		w("")
	}
	w("%s of mixed traffic at %.0f%% of the mixed capacity: %.0f short IVR calls/s and %.0f bridged calls/s (%d agents), "+
		"plus a hostile source (%s, untrusted) flooding INVITEs and REGISTERs. Flat = the last quarter's mean within "+
		"%.0f%% (plus a small absolute slack) of the first quarter's, after a %s warm-up.",
		r.Duration, r.Load*100, r.IVRRate, r.BridgeRate, r.Agents, soakHostileSource, (soakGrowth-1)*100, soakWarmup)
	if r.Err != "" {
		w("")
		w("**Error**: %s", r.Err)
	}
	w("")
	w("| figure | first quarter | last quarter | max | after (idle) | flat |")
	w("|---|---|---|---|---|---|")
	idle := map[string]float64{"rss_mb": r.Idle.RSSMB, "heap_live_mb": r.Idle.HeapLiveMB, "goroutines": r.Idle.Goroutines,
		"fds": r.Idle.FDs, "rtp_ports": r.Idle.RTPPorts}
	for _, name := range soakFigures {
		tr := r.Trends[name]
		verdict := met(tr.Flat)
		if !slices.Contains(soakJudged, name) {
			verdict = "(not judged: GOGC)"
		}
		w("| %s | %.1f | %.1f | %.0f | %.0f | %s |", name, tr.First, tr.Last, tr.Max, idle[name], verdict)
	}
	w("")
	w("Legitimate calls: IVR %d placed, %d SIPp-successful, %d records; bridged %d placed, %d SIPp-successful, %d answered records. "+
		"**Lost: %d** (target 0). Hostile source: %s.",
		r.IVRCalls, r.IVR.Successful, r.IVRRecords, r.BrCalls, r.Bridged.Successful, r.BrAnswered, r.Lost, r.Hostile)
	if len(r.ServerWarns) > 0 {
		w("")
		w("Server warnings during the soak: %s", strings.Join(r.ServerWarns, "; "))
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; error: " + e
}
