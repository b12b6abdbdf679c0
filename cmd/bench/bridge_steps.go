package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// bridgeRateStep is one rate of bridged calls.
type bridgeRateStep struct {
	Rate       float64      `json:"rate"`
	Calls      int          `json:"calls"`
	Agents     int          `json:"agents"`
	Achieved   float64      `json:"achieved_rate"`
	SIPp       sippStats    `json:"sipp_callers"`
	UASCalls   int          `json:"agent_calls_ok"`     // the UAS's successful calls during the step
	UASFailed  int          `json:"agent_calls_failed"` // and failed ones
	Counts     bridgeCounts `json:"calls_judged"`
	Offers     offerStats   `json:"offers"`
	Relay      relayDelta   `json:"server"`
	Peer       *genWindow   `json:"go_peer,omitempty"` // what the bench's RTP peer measured
	Records    recordWrites `json:"record_writes"`
	Media      mediaDelta   `json:"media"` // the pacer (prompts) over the step
	Cores      cores        `json:"cores"` // while the callers' SIPp ran
	ServerCPU  float64      `json:"server_cpu_s"`
	CPUPerCall float64      `json:"cpu_s_per_call"` // server CPU ÷ bridged calls
	Success    float64      `json:"sipp_success"`   // SIPp successful ÷ calls
	Bridged    float64      `json:"bridged_rate"`   // bridged ÷ calls
	Warnings   []string     `json:"server_warnings,omitempty"`
	// After is the pool's agents by state once the server is idle again:
	// any not available are stuck (on_call with no caller, not_responding).
	After map[string]int `json:"agents_after"`
	Pass  bool           `json:"pass"`
	Err   string         `json:"error,omitempty"`
}

// bridgeRateSweep is the highest rate with ≥ 99.9% of calls bridged.
type bridgeRateSweep struct {
	Steps   []bridgeRateStep `json:"steps"`
	MaxRate float64          `json:"max_rate"`
	Limit   string           `json:"limited_by"`
}

// bridgeCallLength is a bridged caller's call: greeting, key, queue and
// staff number, talk.
func bridgeCallLength(keyAt, talk time.Duration) time.Duration {
	return keyAt + bridgeKeyToBridge + talk
}

// agentsFor is how many agents a call-rate step needs: each agent is taken
// from the caller's key (matched while the caller hears the queue prompts)
// until the caller hangs up, then in wrap-up (benchWrapUp, ended by the ACD's
// sweep at its deadline), plus a second of margin; callers arrive for
// duration.
func agentsFor(rate float64, duration, talk time.Duration) int {
	busy := bridgeKeyToBridge + talk + benchWrapUp + time.Second
	return int(math.Ceil(rate*min(busy, duration).Seconds()*(1+agentMargin))) + 20
}

// stepFailure is a failed step of a sweep and what limited it.
type stepFailure struct {
	at    float64
	limit string
}

// sweepLimit says what limited a sweep whose best passing step is best: the
// first failure above it, and any failures below it (with -keep-going a
// sweep goes on after a failure, and a later step may pass).
func sweepLimit(best float64, fails []stepFailure, unit, notReached string) string {
	var limit string
	var below []string
	for _, f := range fails {
		switch {
		case f.at > best && limit == "":
			limit = f.limit
		case f.at < best:
			below = append(below, fmt.Sprintf("%.0f%s: %s", f.at, unit, f.limit))
		}
	}
	if limit == "" {
		limit = notReached
	}
	if len(below) > 0 {
		limit += fmt.Sprintf(" (a lower step failed too — %s)", strings.Join(below, "; "))
	}
	return limit
}

// rateSweep steps through the rates until one fails (with keepGoing, to the
// end: the result is then the highest passing rate).
func (r *bridgeRun) rateSweep(ctx context.Context, rates []float64, talk time.Duration, keepGoing bool) {
	sw := &r.res.Rate
	var fails []stepFailure
	for _, rate := range rates {
		if ctx.Err() != nil {
			break
		}
		var passes []bool
		for run := range r.b.repeat {
			if ctx.Err() != nil {
				break
			}
			r.b.run = run
			st := r.rateStep(ctx, rate, talk)
			sw.Steps = append(sw.Steps, st)
			r.b.progress("bridge rate %4.0f/s%s: %s", rate, runLabel(run, r.b.repeat), st.summary())
			r.b.env.clearRecordings()
			passes = append(passes, st.Pass)
			if !st.Pass && (len(fails) == 0 || fails[len(fails)-1].at != rate) {
				fails = append(fails, stepFailure{rate, r.b.bridgeRateLimit(st, talk)})
			}
		}
		all, any := rungPassed(passes)
		if all {
			sw.MaxRate = rate
		}
		if !any && !keepGoing {
			break
		}
	}
	if len(sw.Steps) > 0 {
		sw.Limit = sweepLimit(sw.MaxRate, fails, "/s", "not reached: every rate up to -max-bridge-rate passed")
	}
}

func (r *bridgeRun) rateStep(ctx context.Context, rate float64, talk time.Duration) bridgeRateStep {
	b := r.b
	calls := int(rate * b.duration.Seconds())
	st := bridgeRateStep{Rate: rate, Calls: calls}
	fail := func(err error) bridgeRateStep { st.Err = err.Error(); return st }
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return fail(err)
	}
	var err error
	if st.Agents, err = r.grow(ctx, agentsFor(rate, b.duration, talk)); err != nil {
		return fail(err)
	}
	m0, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		return fail(err)
	}
	if err := r.cursor.skip(); err != nil {
		return fail(err)
	}
	uas0, _ := r.uas.stats()
	callLen := bridgeCallLength(b.keyAt, talk)
	caller := fmt.Sprintf("1385%d%05d", r.b.run, int(rate))
	run := sippRun{
		Scenario: "bridge_caller.xml", Target: b.srv.sipAddr, Service: b.service, Caller: caller,
		Key: menuKey, Calls: calls, Rate: rate, Limit: int(rate*(callLen.Seconds()+10)) + 100,
		AnswerWait: b.keyAt, Audio: r.audio,
		Data: map[string]int64{
			"AudioAtMS": (bridgeKeyToBridge - bridgeAudioLead).Milliseconds(),
			"RestMS":    (bridgeAudioLead + talk).Milliseconds(),
		},
		Timeout: b.duration*3 + callLen + 60*time.Second,
	}
	r.useGoPeer(&run)
	c0 := b.mark(nil, r.uas)
	x0, _ := b.env.pgCommits(ctx)
	p, err := startSIPp(ctx, run)
	if err != nil {
		return fail(err)
	}
	st.SIPp, err = p.wait()
	if err != nil {
		return fail(err)
	}
	st.Cores = b.since(c0, nil, r.uas, st.SIPp.CPU)
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return fail(err)
	}
	m1, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		return fail(err)
	}
	cpu1, err := b.srv.cpu()
	if err != nil {
		return fail(err)
	}
	st.ServerCPU = (cpu1 - c0.server).Seconds()
	st.Relay = newRelayDelta(m0, m1)
	st.Peer = r.peerWindow(run)
	x1, _ := b.env.pgCommits(ctx)
	st.Records = newRecordWrites(m0, m1, x1-x0, time.Since(c0.at))
	if uas1, err := r.uas.stats(); err == nil {
		st.UASCalls, st.UASFailed = uas1.Successful-uas0.Successful, uas1.Failed-uas0.Failed
	}
	chunk, err := r.cursor.read()
	if err != nil {
		return fail(err)
	}
	st.Warnings = chunk.top(5)
	recs, err := b.env.records(ctx, caller)
	if err != nil {
		return fail(err)
	}
	st.Counts = countBridges(recs, chunk.Bridges)
	// With every caller gone, agents still on a call are stuck there.
	st.After, _ = b.waitPool(ctx, r.pool, 30*time.Second)
	st.Media = newMediaDelta(m0, m1)
	if st.Offers, err = b.env.offerStats(ctx, caller); err != nil {
		st.Offers.Calls = -1
	}
	st.fill()
	return st
}

func (st *bridgeRateStep) fill() {
	st.Achieved = st.SIPp.Achieved
	st.Success = float64(st.SIPp.Successful) / float64(st.Calls)
	st.Bridged = float64(st.Counts.Bridged) / float64(st.Calls)
	if st.Counts.Bridged > 0 {
		st.CPUPerCall = (st.ServerCPU + st.Relay.KernelCPU) / float64(st.Counts.Bridged)
	}
	st.Pass = st.Err == "" && st.Success >= successTarget && st.Bridged >= successTarget && st.Records.Spooled == 0
}

func (st bridgeRateStep) summary() string {
	if st.Err != "" && st.SIPp.Created == 0 {
		return "ERROR " + st.Err
	}
	verdict := verdictOf(st.Pass)
	c := st.Counts
	return fmt.Sprintf("%s  %d agents; sipp %d/%d ok (%d failed, %d retrans) achieved %.0f/s; records %d %v, bridged %d (%s); queue→offer p50 %s p99 %s s, offer→answer p50 %s s, peak %d offered at once; queue→answer p50 %s p99 %s s, staff number %s s, talk p50 %s min %s s; pacer lateness p99 %s ms, late %s; agents' UAS %d ok %d failed; %s; %s, %s ms/call; agents after %v",
		verdict, st.Agents, st.SIPp.Successful, st.Calls, st.SIPp.Failed, st.SIPp.Retransmissions, st.Achieved,
		c.Records, c.Outcomes, c.Bridged, pct(st.Bridged), num(st.Offers.QueueToOfferP50), num(st.Offers.QueueToOfferP99),
		num(st.Offers.OfferToAnswerP50), st.Offers.PeakOffered, num(c.QueueToAnswerP50), num(c.QueueToAnswerP99),
		num(c.StaffNumberP50), num(c.TalkP50), num(c.TalkMin), num(st.Media.LatenessP99), pct(st.Media.LateShare),
		st.UASCalls, st.UASFailed, st.Relay, st.Cores,
		num(1000*st.CPUPerCall), st.After) + "; " + st.Records.String() + peerText(st.Peer)
}

func peerText(w *genWindow) string {
	if w == nil {
		return ""
	}
	return "; " + w.String()
}

// bridgeRateLimit says what most likely stopped the bridged call rate.
func (b *bench) bridgeRateLimit(st bridgeRateStep, talk time.Duration) string {
	c, cpus := st.Counts, float64(b.cpus)
	total := st.Cores.Server + st.Cores.SIPp + st.Cores.UAS + st.Cores.Redis.Cores + st.Cores.Other
	cpu := fmt.Sprintf("CPU: server %.2f, SIPp callers %.2f, SIPp agents %.2f, Redis %.2f (busy executing commands %s of the time), other processes %.2f cores of %d",
		st.Cores.Server, st.Cores.SIPp, st.Cores.UAS, st.Cores.Redis.Cores, pct(st.Cores.Redis.Busy), st.Cores.Other, b.cpus)
	why := ""
	switch {
	case st.Err != "" && st.SIPp.Created == 0:
		return "error: " + st.Err
	case st.Err != "":
		why = "error: " + st.Err
	case st.Achieved > 0 && st.Achieved < 0.9*st.Rate:
		why = fmt.Sprintf("SIPp could not create calls at %.0f/s (achieved %.0f/s)", st.Rate, st.Achieved)
	case c.Outcomes["failed"] > 0 && c.Outcomes["failed"] >= st.Calls-c.Bridged-st.Calls/1000:
		why = fmt.Sprintf("the server failed %d calls (outcome failed, hung up by the system) before their bridge", c.Outcomes["failed"])
	case c.Answered < c.Records && c.Outcomes["abandoned_in_queue"] > 0:
		why = fmt.Sprintf("%d callers hung up in the queue before an agent answered: queue → agent answer p99 %s s, while a caller waits %v after the key (bridge due at %v, then %v of talk)",
			c.Outcomes["abandoned_in_queue"], num(c.QueueToAnswerP99), bridgeKeyToBridge+talk, bridgeKeyToBridge, talk)
	case c.Bridged < c.Answered:
		why = fmt.Sprintf("%d answered calls were not bridged with audio both ways before the caller hung up (staff number p50 %s s, talk min %s s)",
			c.Answered-c.Bridged, num(c.StaffNumberP50), num(c.TalkMin))
	case st.Success < successTarget:
		why = fmt.Sprintf("SIPp callers failed %d calls (%s)", st.SIPp.Failed, st.SIPp.Errors)
	default:
		why = "calls failed: see the outcomes and the server log"
	}
	if total >= 0.85*cpus {
		why += "; the machine is saturated (" + cpu + ")"
	} else {
		why += "; " + cpu
	}
	if rl := st.Cores.Redis; rl.Busy >= 0.5 {
		why += fmt.Sprintf("; Redis executed commands %s of the time (Lua scripts %s; the ACD's Match steps took %.1f s of it): its one thread is the bottleneck",
			pct(rl.Busy), pct(rl.ScriptShare), st.Relay.MatchSec)
	}
	if n := st.After["on_call"]; n > 0 {
		why += fmt.Sprintf("; %d agents were left on_call after every caller had hung up (their caller left during the staff number: the agent leg is never hung up, the agent never goes to wrap-up)", n)
	}
	if st.SIPp.Errors != "" && st.Err == "" {
		why += "; SIPp callers: " + st.SIPp.Errors
	}
	if len(st.Warnings) > 0 {
		why += fmt.Sprintf("; server warnings: %v", st.Warnings)
	}
	return why
}

// Concurrency steps of bridged calls.
const (
	bridgePlateau = 10 * time.Second
	bridgeSettle  = 3 * time.Second
)

// bridgeHoldStep is one number of concurrent bridged calls.
type bridgeHoldStep struct {
	Calls        int        `json:"calls"`
	Agents       int        `json:"agents"`
	Ramp         float64    `json:"ramp_rate"`
	ActiveCalls  float64    `json:"active_calls"`
	BridgesStart float64    `json:"active_bridges_start"`
	BridgesEnd   float64    `json:"active_bridges_end"`
	Bridged      float64    `json:"bridged"`          // the fewer of the two gauges
	Plateau      float64    `json:"plateau_s"`        // between the two scrapes' answers
	ScrapeMax    float64    `json:"metrics_scrape_s"` // the slower /metrics answer
	Relay        relayDelta `json:"plateau"`
	RTP          string     `json:"rtp_peer"`          // go, or sipp callers (the real-peer check)
	Peer         *genWindow `json:"go_peer,omitempty"` // what the bench's RTP peer measured over the plateau
	Expected     float64    `json:"expected_packets"`  // Nominal, or what the Go peer sent in its place
	Nominal      float64    `json:"nominal_packets"`   // 2 directions × 50/s × bridged × plateau
	Due          float64    `json:"due_packets"`       // what the senders owed over their own window (the Go peer's, when it streams)
	RelayedShare float64    `json:"relayed_share"`
	Cores        cores      `json:"cores"` // during the plateau
	// ServerCPU is the server process's CPU time (user and system, from
	// /proc) over the plateau, in seconds; CPUPerPacket that plus the kernel
	// relay program's run time, divided by the packets relayed meanwhile,
	// in µs: the relay's cost, recording included, read from CPU time
	// rather than wall time.
	ServerCPU    float64 `json:"server_cpu_s"`
	CPUPerPacket float64 `json:"server_cpu_per_relayed_packet_us"`
	// JitterAt says where Relay's added jitter was measured: the server's
	// relay (empty), or the Go peer when the kernel forwarded most packets.
	JitterAt string    `json:"jitter_measured_at,omitempty"`
	SIPp     sippStats `json:"sipp_callers"`
	// Counts judges every call of the step by its record and the bridge log.
	Counts   bridgeCounts   `json:"calls_judged"`
	Warnings []string       `json:"server_warnings,omitempty"`
	After    map[string]int `json:"agents_after"`
	// Pass: bridged, relayed, and added jitter p99 under 5 ms;
	// LatencyPass: the same with the relay latency itself under 5 ms.
	Pass        bool   `json:"pass"`
	LatencyPass bool   `json:"latency_pass"`
	Err         string `json:"error,omitempty"`
}

// bridgeHoldSweep is the most concurrent bridged calls relayed within 5 ms
// for 99% of packets.
type bridgeHoldSweep struct {
	// RealPeer is the -rtp go sweep's real-peer check: one step of the
	// first rung whose callers stream with SIPp (the agents with the Go
	// peer), beside the sweep, not counted in its figure.
	RealPeer *bridgeHoldStep  `json:"real_peer_check,omitempty"`
	Steps    []bridgeHoldStep `json:"steps"`
	MaxHeld  int              `json:"max_concurrent"`
	Limit    string           `json:"limited_by"`
}

// holdAgents is how many agents a concurrency step of n calls needs.
func holdAgents(n int) int { return n + n/20 + 20 }

func (r *bridgeRun) holdSweep(ctx context.Context, counts []int, ramp float64, keepGoing bool) {
	sw := &r.res.Hold
	var fails []stepFailure
	if r.gen != nil && len(counts) > 0 && ctx.Err() == nil {
		r.b.run = realPeerRun
		st := r.holdStep(ctx, counts[0], ramp, true)
		sw.RealPeer = &st
		r.b.progress("bridge hold %5d calls, real-peer check (SIPp callers stream): %s", counts[0], st.summary())
		r.b.env.clearRecordings()
	}
	for _, n := range counts {
		if ctx.Err() != nil {
			break
		}
		var passes []bool
		for run := range r.b.repeat {
			if ctx.Err() != nil {
				break
			}
			r.b.run = run
			st := r.holdStep(ctx, n, ramp, false)
			sw.Steps = append(sw.Steps, st)
			r.b.progress("bridge hold %5d calls%s: %s", n, runLabel(run, r.b.repeat), st.summary())
			r.b.env.clearRecordings()
			passes = append(passes, st.Pass)
			if !st.Pass && (len(fails) == 0 || fails[len(fails)-1].at != float64(n)) {
				fails = append(fails, stepFailure{float64(n), bridgeHoldLimit(st, r.b.cpus)})
			}
		}
		all, any := rungPassed(passes)
		if all {
			sw.MaxHeld = n
		}
		if !any && !keepGoing {
			break
		}
	}
	if len(sw.Steps) > 0 {
		sw.Limit = sweepLimit(float64(sw.MaxHeld), fails, " calls", "not reached: every step up to -max-bridged passed")
	}
}

func (r *bridgeRun) holdStep(ctx context.Context, n int, rampRate float64, realPeer bool) bridgeHoldStep {
	b := r.b
	st := bridgeHoldStep{Calls: n, Ramp: rampRate, RTP: "sipp"}
	fail := func(err error) bridgeHoldStep { st.Err = err.Error(); return st }
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return fail(err)
	}
	var err error
	if st.Agents, err = r.grow(ctx, holdAgents(n)); err != nil {
		return fail(err)
	}
	if err := r.cursor.skip(); err != nil {
		return fail(err)
	}
	ramp := time.Duration(float64(n) / rampRate * float64(time.Second))
	measureAt := ramp + holdAnswerWait + bridgeKeyToBridge + bridgeSettle
	// Every call outlasts the plateau: the first one hangs up last of all
	// relative to its start.
	afterKey := ramp + bridgeKeyToBridge + bridgeSettle + bridgePlateau + 5*time.Second
	caller := fmt.Sprintf("1386%d%05d", r.b.run, n)
	run := sippRun{
		Scenario: "bridge_caller.xml", Target: b.srv.sipAddr, Service: b.service, Caller: caller,
		Key: menuKey, Calls: n, Rate: rampRate, Limit: n, AnswerWait: holdAnswerWait, Audio: r.audio,
		Data: map[string]int64{
			"AudioAtMS": (bridgeKeyToBridge - bridgeAudioLead).Milliseconds(),
			"RestMS":    (afterKey - bridgeKeyToBridge + bridgeAudioLead).Milliseconds(),
		},
		Timeout: measureAt + bridgePlateau + 2*time.Minute,
	}
	if r.gen != nil {
		st.RTP = "sipp callers, go agents" // the real-peer check
		if !realPeer {
			r.useGoPeer(&run)
			st.RTP = "go"
		}
	}
	start := time.Now()
	p, err := startSIPp(ctx, run)
	if err != nil {
		return fail(err)
	}
	var m0, m1 metrics
	if err = sleepCtx(ctx, time.Until(start.Add(measureAt))); err == nil {
		// CPU over the plateau even when a scrape fails. The server has been
		// seen to answer /metrics only after many seconds under this load:
		// the scrapes wait up to 30 s, their time is reported, and the
		// plateau is the time between their answers.
		c0 := b.mark(p, r.uas)
		if r.gen != nil {
			r.gen.reset()
		}
		var err0, err1 error
		var d0, d1 time.Duration
		m0, d0, err0 = scrapeTimed(b.srv.http+"/metrics", slowScrape)
		t0 := time.Now()
		err = sleepCtx(ctx, time.Until(c0.at.Add(bridgePlateau)))
		st.Cores = b.since(c0, p, r.uas, 0)
		if cpu1, cerr := b.srv.cpu(); cerr == nil && c0.server > 0 {
			st.ServerCPU = (cpu1 - c0.server).Seconds()
		}
		if r.gen != nil {
			w := r.gen.snapshot()
			st.Peer = &w
		}
		m1, d1, err1 = scrapeTimed(b.srv.http+"/metrics", slowScrape)
		st.Plateau = time.Since(t0).Seconds()
		st.ScrapeMax = max(d0, d1).Seconds()
		err = cmp.Or(err, err0, err1)
	}
	var werr error
	st.SIPp, werr = p.wait()
	if err != nil {
		return fail(err)
	}
	if werr != nil {
		return fail(werr)
	}
	st.ActiveCalls = m0.value("hotline_sip_active_calls")
	st.BridgesStart, st.BridgesEnd = m0.value("hotline_media_active_bridges"), m1.value("hotline_media_active_bridges")
	st.Relay = newRelayDelta(m0, m1)
	if _, err := b.srv.waitIdle(ctx, 120*time.Second); err != nil {
		return fail(err)
	}
	if chunk, err := r.cursor.read(); err == nil {
		st.Warnings = chunk.top(5)
		if recs, err := b.env.records(ctx, caller); err == nil {
			st.Counts = countBridges(recs, chunk.Bridges)
		}
	}
	st.After, _ = b.waitPool(ctx, r.pool, 30*time.Second)
	st.fill()
	return st
}

// bridgedFloor is the share of a concurrency step's calls that must be
// bridged through the plateau, every call counted (the calls the server
// failed before their bridge are shown by outcome). The step measures
// relaying; its figure is the number of calls actually bridged. A step where
// more are missing (callers failed, or lost in the menu or the queue) has
// collapsed.
const bridgedFloor = 0.99

// bridgedNeed is how many bridges a concurrency step needs to pass.
func (st *bridgeHoldStep) bridgedNeed() float64 {
	return math.Ceil(bridgedFloor * float64(st.Calls))
}

func (st *bridgeHoldStep) fill() {
	st.Bridged = min(st.BridgesStart, st.BridgesEnd)
	st.Nominal = 2 * packetsPerSecond * st.Bridged * st.Plateau
	st.Expected = st.Nominal
	due := st.Nominal // what the senders owed over their window
	// What the Go peer sent is what the server was offered: a peer that
	// fell behind (its CPU share on a busy machine) is the bench's shortfall,
	// shown as such, not the relay's. It owed packets over its own window.
	var peerDue float64
	if st.Peer != nil {
		peerDue = packetsPerSecond * st.Bridged * st.Peer.Seconds
		if peerDue == 0 {
			peerDue = st.Nominal / 2
		}
	}
	switch {
	case st.Peer != nil && st.RTP == "go":
		st.Expected = float64(st.Peer.Sent)
		due = 2 * peerDue
	case st.Peer != nil:
		st.Expected = st.Nominal/2 + float64(st.Peer.Sent)
		due = st.Nominal/2 + peerDue
	}
	st.Due = due
	if st.Expected > 0 {
		st.RelayedShare = st.Relay.Relayed / st.Expected
	}
	if st.Relay.Relayed > 0 {
		st.CPUPerPacket = 1e6 * (st.ServerCPU + st.Relay.KernelCPU) / st.Relay.Relayed
	}
	// Packets the kernel forwards give the server's jitter histogram no
	// sample: where it forwards most, the added jitter is the Go peer's
	// own measurement (send to receive), stricter since it includes the
	// peer's scheduling. SIPp's streams carry no send time: with SIPp
	// callers (the real-peer check) and the kernel forwarding, the added
	// jitter is measured nowhere and the step is judged on what was
	// bridged and relayed.
	measured := true
	if st.Relay.Relayed > 0 && st.Relay.Kernel > st.Relay.Relayed/2 {
		st.Relay.JitterP50, st.Relay.JitterP99, st.Relay.JitterWithin = 0, 0, 0
		if st.Peer != nil && st.Peer.Legs > 0 && st.RTP == "go" {
			st.JitterAt = "go peer"
			st.Relay.JitterP50, st.Relay.JitterP99, st.Relay.JitterWithin = st.Peer.JitterP50, st.Peer.JitterP99, st.Peer.JitterWithin
		} else {
			st.JitterAt = jitterNowhere
			measured = false
		}
	}
	relayed := st.Err == "" && st.Bridged > 0 && st.Bridged >= st.bridgedNeed() && st.RelayedShare >= relayShare &&
		st.Expected >= relayShare*due
	st.Pass = relayed && (!measured || st.Relay.JitterWithin >= relayShare)
	st.LatencyPass = relayed && st.Relay.Within >= relayShare
}

func (st bridgeHoldStep) summary() string {
	if st.Err != "" {
		return "ERROR " + st.Err
	}
	verdict := verdictOf(st.Pass)
	return fmt.Sprintf("%s  %d agents, ramp %.0f/s; active calls %.0f, bridges %.0f → %.0f; relayed %.0f of %.0f expected over %.1f s (%s, %s in the kernel); added jitter%s p50 %s p99 %s ms, %s within 5 ms; relay latency p50 %s p99 %s ms, %s within 5 ms; dropped %v, send errors %.0f; %s; server CPU per relayed packet: %s µs; /metrics answered in %.1f s; sipp %d/%d ok; records %v, %d bridged; agents after %v",
		verdict, st.Agents, st.Ramp, st.ActiveCalls, st.BridgesStart, st.BridgesEnd, st.Relay.Relayed, st.Expected, st.Plateau,
		pct(st.RelayedShare), pct(st.Relay.Kernel/max(st.Relay.Relayed, 1)), jitterWhere(st.JitterAt), num(st.Relay.JitterP50), num(st.Relay.JitterP99), pct(st.Relay.JitterWithin),
		num(st.Relay.LatencyP50), num(st.Relay.LatencyP99), pct(st.Relay.Within),
		st.Relay.Dropped, st.Relay.SendErrors, st.Cores, num(st.CPUPerPacket), st.ScrapeMax, st.SIPp.Successful, st.Calls, st.Counts.Outcomes, st.Counts.Bridged, st.After) +
		"; rtp " + st.RTP + peerText(st.Peer)
}

func bridgeHoldLimit(st bridgeHoldStep, cpus int) string {
	cpu := fmt.Sprintf("CPU: server %.2f, SIPp callers %.2f, SIPp agents %.2f, Redis %.2f, other processes %.2f cores of %d",
		st.Cores.Server, st.Cores.SIPp, st.Cores.UAS, st.Cores.Redis.Cores, st.Cores.Other, cpus)
	switch {
	case st.Err != "" && strings.Contains(st.Err, "/metrics"):
		return fmt.Sprintf("the server did not answer /metrics within %v during the plateau: %s; %s",
			slowScrape, st.Err, cpu)
	case st.Err != "":
		return "error: " + st.Err + "; " + cpu
	case st.Bridged < st.bridgedNeed():
		return fmt.Sprintf("fewer than %.0f%% of the calls were bridged during the plateau (%.0f → %.0f of %d; records %v; %d SIPp calls ok; server warnings %v); %s",
			100*bridgedFloor, st.BridgesStart, st.BridgesEnd, st.Calls, st.Counts.Outcomes, st.SIPp.Successful, st.Warnings, cpu)
	case st.Relay.JitterWithin < relayShare:
		return fmt.Sprintf("added jitter: %s of packet-to-packet latency changes within 5 ms (< 99%%), p99 %s ms (relay latency p99 %s ms); %s",
			pct(st.Relay.JitterWithin), num(st.Relay.JitterP99), num(st.Relay.LatencyP99), cpu)
	case st.RelayedShare < relayShare:
		return fmt.Sprintf("only %s of the expected packets were relayed (SIPp's rtp_stream threads or the server fell behind); %s",
			pct(st.RelayedShare), cpu)
	case st.Expected < relayShare*st.Due:
		return fmt.Sprintf("the bench's Go RTP peer sent only %s of the packets due (%.0f of %.0f: its CPU share on this machine), though the server relayed what it got; %s",
			pct(st.Expected/st.Due), st.Expected, st.Due, cpu)
	default:
		return fmt.Sprintf("SIPp callers: %d of %d calls ok (%s); %s", st.SIPp.Successful, st.Calls, st.SIPp.Errors, cpu)
	}
}

// useGoPeer makes a callers' run signal only: their SDP names the bench's
// RTP peer, which talks as SIPp's rtp_stream would have (from AudioAtMS after
// the key for RestMS), and starts a new measuring window.
func (r *bridgeRun) useGoPeer(run *sippRun) {
	if r.gen == nil {
		return
	}
	run.Audio = nil
	run.Data["MediaPort"] = int64(r.gen.port(sideCaller))
	start := run.AnswerWait + time.Duration(run.Data["AudioAtMS"])*time.Millisecond
	r.gen.setPlan(start, time.Duration(run.Data["RestMS"])*time.Millisecond)
	r.gen.reset()
}

// peerWindow is what the Go peer measured since useGoPeer; nil when SIPp streamed.
func (r *bridgeRun) peerWindow(run sippRun) *genWindow {
	if r.gen == nil || run.Data["MediaPort"] == 0 {
		return nil
	}
	w := r.gen.snapshot()
	return &w
}

// recordWrites is what the server's record writer did over a step: the
// group commits (tickets.Writer), the records spooled or refused, and
// PostgreSQL's committed transactions a second (every writer of the bench
// database: records, agents' state history, tickets).
type recordWrites struct {
	Written      float64 `json:"written"`
	Spooled      float64 `json:"spooled"`
	WriteErrors  float64 `json:"write_errors"`
	DeadLettered float64 `json:"dead_lettered"`
	Commits      float64 `json:"group_commits"`
	PerCommit    float64 `json:"records_per_commit"`
	CommitP99    float64 `json:"commit_p99_ms"`
	PGCommitsPS  float64 `json:"pg_commits_per_s"`
}

func newRecordWrites(m0, m1 metrics, pgCommits int64, wall time.Duration) recordWrites {
	d := func(series string) float64 { return sumSeries(m1, series) - sumSeries(m0, series) }
	rw := recordWrites{
		Written: d("hotline_tickets_records_written_total{"), Spooled: d("hotline_tickets_records_spooled_total{"),
		WriteErrors: d("hotline_tickets_write_errors_total{"), DeadLettered: d("hotline_tickets_records_dead_lettered_total{"),
		Commits: d("hotline_tickets_write_batch_records_count"),
	}
	if rw.Commits > 0 {
		rw.PerCommit = d("hotline_tickets_write_batch_records_sum") / rw.Commits
	}
	rw.CommitP99 = 1000 * since(m0, m1, "hotline_tickets_write_batch_seconds").quantile(0.99)
	if wall > 0 {
		rw.PGCommitsPS = float64(pgCommits) / wall.Seconds()
	}
	return rw
}

func (rw recordWrites) String() string {
	return fmt.Sprintf("records written %.0f in %.0f group commits (%.1f a commit, p99 %s ms), spooled %.0f, write errors %.0f, dead-lettered %.0f; PostgreSQL %.0f commits/s",
		rw.Written, rw.Commits, rw.PerCommit, num(rw.CommitP99), rw.Spooled, rw.WriteErrors, rw.DeadLettered, rw.PGCommitsPS)
}

// pgCommits is the bench database's committed transactions so far
// (pg_stat_database, flushed by PostgreSQL about once a second).
func (e *env) pgCommits(ctx context.Context) (int64, error) {
	var n int64
	err := e.db.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// jitterWhere names where the added jitter was measured, when not in the
// server.
func jitterWhere(at string) string {
	switch at {
	case "":
		return ""
	case jitterNowhere:
		return " (measured nowhere: the kernel forwarded SIPp's streams, which carry no send time)"
	}
	return " (at the " + at + ")"
}

// jitterNowhere is bridgeHoldStep.JitterAt when nothing measured the jitter.
const jitterNowhere = "nowhere"
