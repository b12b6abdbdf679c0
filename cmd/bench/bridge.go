package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest"
)

// Bridged calls. A caller dials, presses 1 by SIP INFO -key-at
// after the answer (during the greeting by default: type-ahead, S3), is queued (queue_entered, then position and wait), an agent is
// rung and answers at once (SIPp UAS), the caller hears the staff number and
// is bridged; both sides stream a PCMU tone; the caller hangs up after
// talking.
const (
	// bridgeKeyToBridge is how long a caller waits from the key to the
	// bridge when agents are free: an agent free at once is rung without
	// the queue prompts and the SIPp agents answer at once, then the staff
	// number (about 2.7 s); 2 s more for the ACD under load. The callers
	// start their audio a second before and hang up talk after it; the
	// report shows the measured times.
	bridgeKeyToBridge = 5 * time.Second
	// bridgeAudioLead: callers start streaming this long before the bridge
	// is due.
	bridgeAudioLead = time.Second
	// agentMargin is the spare share of agents in a call-rate step.
	agentMargin = 0.10
	// bridgeRampRate is the arrival rate of a concurrency step: below what
	// the ACD can offer (an offered caller keeps its place at the head of
	// the queue for the ~6.5 s of its queue prompts, and Match looks at the
	// first 200 callers: about 30 offers/s), so that every caller is bridged
	// and the step measures relaying.
	bridgeRampRate = 25
	// relayTolerance is the "p99 added jitter under 5 ms": the p99 of
	// the added jitter (the change in relay latency between consecutive
	// packets of a leg) under 5 ms, i.e. 99% of those changes within it; the
	// relay latency itself is held to the same bound as a stricter figure:
	// 99% of
	// relayed packets must be handed on within 5 ms of their arrival.
	relayTolerance = 0.005
	relayShare     = 0.99
	// packetsPerSecond is one PCMU stream at 20 ms.
	packetsPerSecond = 50
)

// Matching ("the matching latency p99 with 1,000 waiting callers and
// 200 agents"): 200 agents who talk matchTalk and hang up themselves, and
// enough callers that about 1,000 wait while agents free up and are matched.
const (
	matchAgents  = 200
	matchWaiting = 1000
	matchExtra   = 150 // callers matched during the plateau
	matchRamp    = 150 // calls/s
	matchTalk    = 20 * time.Second
	matchPlateau = 15 * time.Second
	// matchKeyToAnswer: an agent free at once is rung without the queue
	// prompts, and the SIPp agents answer at once; the first agents answer
	// about this long after the key.
	matchKeyToAnswer = 500 * time.Millisecond
	// matchLead: the plateau starts this long before the first agents free
	// up, so that it holds their burst of matches (they talk 20 s, longer
	// than the plateau, and free up within the 1.3 s the first 200 callers
	// took to arrive).
	matchLead   = 2 * time.Second
	matchTarget = 0.005 // matching p99 ≤ 5 ms
)

// Agent pools: staff numbers of four digits (said digit by digit, S2).
const (
	bridgeStaffBase, bridgeStaffMax = 1000, 8999
	matchStaffBase, matchStaffMax   = 9000, 9999
)

type bridgeOptions struct {
	parts     parts
	rates     []float64
	counts    []int
	talk      time.Duration
	keepGoing bool // run every step even after one failed
	// goRTP: the bench's own RTP peer (rtpgen.go) streams for both legs
	// instead of SIPp; one extra concurrency step whose callers stream with
	// SIPp is the real-peer check.
	goRTP bool
	// rtpSample: the Go peer measures 1 leg in rtpSample (a power of two).
	rtpSample int
	// rtpRealtime: the Go peer's sender runs at the server's real-time
	// RTP priority (rtpgen.go's send).
	rtpRealtime bool
}

// bridgeResult is the bridged-call part of the report.
type bridgeResult struct {
	Talk     string          `json:"talk"`
	RTP      string          `json:"rtp_peer"` // go or sipp
	KeyAt    string          `json:"key_at"`
	Match    *matchStep      `json:"matching,omitempty"`
	GoMatch  goMatchBench    `json:"matching_go_benchmark"`
	Rate     bridgeRateSweep `json:"call_rate"`
	Hold     bridgeHoldSweep `json:"concurrency"`
	Setups   []agentSetup    `json:"agent_setups"`
	UAS      sippStats       `json:"agents_uas"`
	UASError string          `json:"agents_uas_error,omitempty"`
	Err      string          `json:"error,omitempty"`
}

// bridgeRun is the state of the bridged part while it runs.
type bridgeRun struct {
	b      *bench
	res    *bridgeResult
	pool   *agentPool
	uas    *sippProc
	audio  []byte
	cursor *logCursor
	gen    *rtpGen // nil: SIPp streams
}

// runBridge runs the matching step, the bridged concurrency sweep and the
// bridged call-rate sweep, each stopping at its first failing step.
func (b *bench) runBridge(ctx context.Context, o bridgeOptions) *bridgeResult {
	res := &bridgeResult{Talk: o.talk.String(), KeyAt: b.keyAt.String(), RTP: "sipp"}
	r := &bridgeRun{b: b, res: res, audio: talkAudio(), cursor: &logCursor{path: b.srv.logPath}}
	if o.goRTP && (o.parts.bridgeHold || o.parts.bridgeRate) {
		gen, err := newRTPGen(o.rtpSample, o.rtpRealtime)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		defer gen.close()
		r.gen, res.RTP = gen, "go"
	}
	if o.parts.match {
		res.Match = &matchStep{}
		if err := r.matching(ctx); err != nil {
			res.Match.Err = err.Error()
			b.progress("matching: ERROR %v", err)
		}
		if ctx.Err() == nil {
			res.GoMatch = b.goMatchBenchmark(ctx)
			b.progress("matching (go test -bench Match ./agents, Redis only): %s", res.GoMatch.summary())
		}
	}
	if ctx.Err() == nil && (o.parts.bridgeHold || o.parts.bridgeRate) {
		if err := r.startAgents(ctx); err != nil {
			res.Err = err.Error()
			b.progress("bridge: ERROR %v", err)
			return res
		}
		// Every agent either sweep needs logs in now, on an idle server:
		// a feature-code call whose answer fails under load crashes the
		// server (see agent_feature.xml).
		need := 0
		if o.parts.bridgeRate {
			need = agentsFor(o.rates[len(o.rates)-1], b.duration, o.talk)
		}
		if o.parts.bridgeHold {
			need = max(need, holdAgents(o.counts[len(o.counts)-1]))
		}
		if _, err := r.grow(ctx, need); err != nil {
			res.Err = err.Error()
			b.progress("bridge: ERROR %v", err)
		}
		// Concurrency first: the call-rate sweep's failures leave agents stuck.
		if o.parts.bridgeHold && ctx.Err() == nil && res.Err == "" {
			r.holdSweep(ctx, o.counts, bridgeRampRate, o.keepGoing)
		}
		if o.parts.bridgeRate && ctx.Err() == nil && res.Err == "" {
			r.rateSweep(ctx, o.rates, o.talk, o.keepGoing)
		}
		res.UAS, _ = r.uas.stop(10 * time.Second)
	}
	return res
}

// talkAudio is what both sides of a bridged call say: a 440 Hz PCMU tone of
// one second, looped by SIPp's rtp_stream.
func talkAudio() []byte {
	return media.PCMU.Encode(nil, siptest.Tone(440, time.Second, 8000))
}

// startUAS starts the SIPp that answers for every agent of a pool; agents
// still on a call after talk hang up themselves.
func (b *bench) startUAS(ctx context.Context, audio []byte, talk time.Duration, mediaPort int) (*sippProc, int, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, 0, err
	}
	left := overallLimit
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	run := sippRun{Scenario: "agent_uas.xml", UAS: true, SIPPort: port, Audio: audio,
		Data: map[string]int64{"TalkMS": talk.Milliseconds()}, Timeout: left}
	if mediaPort != 0 {
		run.Audio, run.Data["MediaPort"] = nil, int64(mediaPort)
	}
	p, err := startSIPp(ctx, run)
	if err != nil {
		return nil, 0, err
	}
	// SIPp binds its port at once; give it a moment before agents register there.
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return p, port, err
	}
	select {
	case <-p.done:
		_, err := p.wait()
		return nil, 0, fmt.Errorf("agents' UAS exited at start: %v: %s", err, lastLines(p.out.String(), 3))
	default:
	}
	return p, port, nil
}

// agentPatience: an agent of the bridged steps hangs up a call still up
// after this long. Callers hang up first (a concurrency step's calls last
// under a minute); only a leg the server left up lasts this long.
const agentPatience = 2 * time.Minute

// startAgents starts the UAS of the bridged steps and its agent pool.
func (r *bridgeRun) startAgents(ctx context.Context) error {
	mediaPort := 0
	if r.gen != nil {
		mediaPort = r.gen.port(sideAgent)
	}
	uas, port, err := r.b.startUAS(ctx, r.audio, agentPatience, mediaPort)
	if err != nil {
		return err
	}
	r.uas = uas
	r.pool, err = newAgentPool("bridge", "b", bridgeStaffBase, bridgeStaffMax, port)
	return err
}

// grow waits for the bridged pool's agents to settle after the last step and
// makes sure need of them are available, logging more in (beyond those left
// unusable: stuck on a call, not responding). It returns the number available.
func (r *bridgeRun) grow(ctx context.Context, need int) (int, error) {
	if _, err := r.b.waitPool(ctx, r.pool, 60*time.Second); err != nil {
		return 0, err
	}
	if target := need + r.pool.unusable; target > r.pool.loggedIn {
		set, err := r.b.growAgents(ctx, r.pool, target)
		if err != nil {
			set.Err = err.Error()
		}
		r.res.Setups = append(r.res.Setups, set)
		if err != nil {
			return 0, err
		}
		r.b.progress("bridge agents %d-%d registered and logged in (%.1f s)", set.From, set.To-1, set.Took)
		if _, err := r.b.waitPool(ctx, r.pool, 60*time.Second); err != nil {
			return 0, err
		}
	}
	return r.pool.loggedIn - r.pool.unusable, nil
}

// relayDelta is what the server's bridges did between two scrapes.
type relayDelta struct {
	Relayed       float64            `json:"relayed_packets"` // both directions
	CallerToAgent float64            `json:"caller_to_agent"`
	AgentToCaller float64            `json:"agent_to_caller"`
	Dropped       map[string]float64 `json:"relay_dropped"` // held, prompt, codec, closed
	SendErrors    float64            `json:"send_errors"`
	Transcoded    float64            `json:"transcoded"`
	// Kernel is how many of Relayed the kernel relay forwarded; KernelCPU
	// its program's CPU seconds meanwhile, which no process is charged for
	// (it runs in the sender's system call).
	Kernel    float64 `json:"kernel_relayed_packets"`
	KernelCPU float64 `json:"kernel_relay_cpu_s"`
	// Latency is receive on one leg → handed to the kernel on the other
	// (hotline_media_relay_latency_seconds), in ms.
	LatencyP50 float64 `json:"relay_latency_p50_ms"`
	LatencyP99 float64 `json:"relay_latency_p99_ms"`
	// Within is the share of relayed packets handed on within 5 ms.
	Within float64 `json:"relay_within_5ms"`
	// Jitter is the added jitter, the change in relay latency from one
	// packet of a leg to the next (hotline_media_relay_jitter_seconds), in
	// ms; JitterWithin the share of those changes under 5 ms.
	JitterP50    float64 `json:"relay_jitter_p50_ms"`
	JitterP99    float64 `json:"relay_jitter_p99_ms"`
	JitterWithin float64 `json:"relay_jitter_within_5ms"`
	// MatchP50/P99 are the ACD's Match steps (hotline_agents_match_seconds), in
	// ms; MatchWithin the share within 5 ms; Matches the callers offered.
	MatchCalls  float64 `json:"match_calls"`
	MatchSec    float64 `json:"match_seconds"` // time spent in Match steps (Redis Lua)
	Matches     float64 `json:"matches"`
	MatchP50    float64 `json:"match_p50_ms"`
	MatchP99    float64 `json:"match_p99_ms"`
	MatchWithin float64 `json:"match_within_5ms"`
}

func newRelayDelta(m0, m1 metrics) relayDelta {
	d := func(series string) float64 { return m1.value(series) - m0.value(series) }
	rd := relayDelta{
		CallerToAgent: d(`hotline_media_relayed_packets_total{direction="caller_to_agent"}`),
		AgentToCaller: d(`hotline_media_relayed_packets_total{direction="agent_to_caller"}`),
		SendErrors:    d("hotline_media_send_errors_total"),
		Transcoded:    d("hotline_media_transcoded_packets_total"),
		Kernel:        d("hotline_media_kernel_relayed_packets_total"),
		KernelCPU:     d("hotline_media_kernel_relay_cpu_seconds_total"),
		Dropped:       map[string]float64{},
	}
	rd.Relayed = rd.CallerToAgent + rd.AgentToCaller
	for _, reason := range []string{"held", "prompt", "codec", "closed", "late"} {
		if n := d(`hotline_media_relay_dropped_total{reason="` + reason + `"}`); n > 0 {
			rd.Dropped[reason] = n
		}
	}
	lat := since(m0, m1, "hotline_media_relay_latency_seconds")
	rd.LatencyP50, rd.LatencyP99, rd.Within = 1000*lat.quantile(0.5), 1000*lat.quantile(0.99), lat.cdf(relayTolerance)
	jit := since(m0, m1, "hotline_media_relay_jitter_seconds")
	rd.JitterP50, rd.JitterP99, rd.JitterWithin = 1000*jit.quantile(0.5), 1000*jit.quantile(0.99), jit.cdf(relayTolerance)
	match := since(m0, m1, "hotline_agents_match_seconds")
	rd.MatchCalls = match.total()
	rd.MatchSec = m1.value("hotline_agents_match_seconds_sum") - m0.value("hotline_agents_match_seconds_sum")
	rd.MatchP50, rd.MatchP99, rd.MatchWithin = 1000*match.quantile(0.5), 1000*match.quantile(0.99), match.cdf(matchTarget)
	rd.Matches = sumSeries(m1, "hotline_agents_matches_total{") - sumSeries(m0, "hotline_agents_matches_total{")
	return rd
}

// sumSeries adds every series whose text starts with prefix (all label values).
func sumSeries(m metrics, prefix string) float64 {
	var s float64
	for k, v := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			s += v
		}
	}
	return s
}

func (rd relayDelta) String() string {
	return fmt.Sprintf("relayed %.0f (c→a %.0f, a→c %.0f), dropped %v, send errors %.0f; relay latency p50 %s p99 %s ms, %s within 5 ms; added jitter p99 %s ms; match p99 %s ms (%s within 5 ms, %.0f steps taking %.1f s, %.0f matches)",
		rd.Relayed, rd.CallerToAgent, rd.AgentToCaller, rd.Dropped, rd.SendErrors, num(rd.LatencyP50), num(rd.LatencyP99), pct(rd.Within),
		num(rd.JitterP99), num(rd.MatchP99), pct(rd.MatchWithin), rd.MatchCalls, rd.MatchSec, rd.Matches)
}

// callRecord is the part of a call record the bridged steps check.
type callRecord struct {
	ID          string
	Outcome     string
	Agent       bool
	QueuedAt    time.Time
	ConnectedAt time.Time
}

// records reads the call records of one caller number.
func (e *env) records(ctx context.Context, caller string) ([]callRecord, error) {
	rows, err := e.db.Query(ctx, `SELECT id, outcome, agent_id IS NOT NULL,
		coalesce(queued_at, 'epoch'), coalesce(connected_at, 'epoch') FROM calls WHERE caller LIKE $1 || '%'`, caller)
	if err != nil {
		return nil, fmt.Errorf("read call records: %w", err)
	}
	defer rows.Close()
	var out []callRecord
	for rows.Next() {
		var r callRecord
		if err := rows.Scan(&r.ID, &r.Outcome, &r.Agent, &r.QueuedAt, &r.ConnectedAt); err != nil {
			return nil, fmt.Errorf("read call records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// bridgeCounts judges the calls of one step by their records and the
// server's bridge log lines.
type bridgeCounts struct {
	Records  int            `json:"records"`
	Outcomes map[string]int `json:"outcomes"`
	Answered int            `json:"answered"` // outcome answered with an agent on the record
	Bridged  int            `json:"bridged"`  // answered, and the bridge relayed audio both ways
	// Times in seconds: queued → the agent answered (reserved, ringing),
	// answered → bridged (the staff number, S2), bridged → stopped (talk).
	QueueToAnswerP50 float64 `json:"queue_to_answer_p50_s"`
	QueueToAnswerP99 float64 `json:"queue_to_answer_p99_s"`
	StaffNumberP50   float64 `json:"answer_to_bridge_p50_s"`
	TalkP50          float64 `json:"talk_p50_s"`
	TalkMin          float64 `json:"talk_min_s"`
	// WorstP50/P99/Max: each bridge logs the latency of its slowest relayed
	// packet; their median, p99 and maximum over the step's bridges, in ms.
	WorstP50 float64 `json:"bridge_worst_latency_p50_ms"`
	WorstP99 float64 `json:"bridge_worst_latency_p99_ms"`
	WorstMax float64 `json:"bridge_worst_latency_max_ms"`
}

func countBridges(recs []callRecord, bridges map[string]*bridgeEvent) bridgeCounts {
	c := bridgeCounts{Records: len(recs), Outcomes: map[string]int{}}
	var toAnswer, staff, talk, worst []float64
	for _, r := range recs {
		c.Outcomes[r.Outcome]++
		if r.Outcome != "answered" || !r.Agent {
			continue
		}
		c.Answered++
		if r.QueuedAt.Unix() > 0 && r.ConnectedAt.After(r.QueuedAt) {
			toAnswer = append(toAnswer, r.ConnectedAt.Sub(r.QueuedAt).Seconds())
		}
		e := bridges[r.ID]
		if e == nil || !e.talked() {
			continue
		}
		c.Bridged++
		if !e.Bridged.IsZero() {
			if r.ConnectedAt.Unix() > 0 {
				staff = append(staff, e.Bridged.Sub(r.ConnectedAt).Seconds())
			}
			talk = append(talk, e.Stopped.Sub(e.Bridged).Seconds())
		}
		worst = append(worst, float64(e.LatencyMax)/float64(time.Millisecond))
	}
	c.QueueToAnswerP50, c.QueueToAnswerP99 = quantile(toAnswer, 0.5), quantile(toAnswer, 0.99)
	c.StaffNumberP50 = quantile(staff, 0.5)
	c.TalkP50, c.TalkMin = quantile(talk, 0.5), quantile(talk, 0)
	c.WorstP50, c.WorstP99, c.WorstMax = quantile(worst, 0.5), quantile(worst, 0.99), quantile(worst, 1)
	return c
}

// quantile is the nearest-rank quantile of xs (sorted in place); NaN when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// cores is the CPU of the processes of a step over a wall time.
type cores struct {
	Server float64   `json:"server_cores"`
	Bench  float64   `json:"bench_cores"` // this process: its Go RTP peer, scrapes
	SIPp   float64   `json:"sipp_callers_cores"`
	UAS    float64   `json:"sipp_agents_cores"`
	Redis  redisLoad `json:"redis"` // the Redis server (shared with whoever else uses it)
	Other  float64   `json:"other_cores"`
}

func (c cores) String() string {
	return fmt.Sprintf("server %.2f cores, bench (Go RTP peer) %.2f, SIPp callers %.2f, SIPp agents %.2f, %s, other %.2f",
		c.Server, c.Bench, c.SIPp, c.UAS, c.Redis, c.Other)
}

// cpuMark reads the CPU time of the server, a callers' SIPp and the agents'
// UAS, and Redis's own counters.
type cpuMark struct {
	at                time.Time
	server, sipp, uas time.Duration
	redis             redisSample
	meter             cpuMeter
}

func (b *bench) mark(callers, uas *sippProc) cpuMark {
	m := cpuMark{at: time.Now(), meter: startMeter()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.redis, _ = b.env.redisSample(ctx)
	m.server, _ = b.srv.cpu()
	if callers != nil {
		m.sipp = callers.cpu()
	}
	if uas != nil {
		m.uas = uas.cpu()
	}
	return m
}

// since is the cores each used from m0 to now; callersCPU, when not zero,
// replaces the callers' /proc reading (a SIPp that has exited).
func (b *bench) since(m0 cpuMark, callers, uas *sippProc, callersCPU time.Duration) cores {
	m1 := b.mark(callers, uas)
	if callersCPU > 0 {
		m1.sipp = callersCPU
	}
	w := m1.at.Sub(m0.at).Seconds()
	if w <= 0 {
		return cores{}
	}
	machine, self := m0.meter.cores()
	c := cores{Server: (m1.server - m0.server).Seconds() / w, SIPp: max(0, (m1.sipp-m0.sipp).Seconds()/w),
		UAS: max(0, (m1.uas-m0.uas).Seconds()/w), Bench: self}
	if m0.redis.CPU > 0 && m1.redis.CPU > 0 {
		c.Redis = m0.redis.load(m1.redis, w)
	}
	c.Other = max(0, machine-self-c.Server-c.SIPp-c.UAS-c.Redis.Cores)
	return c
}

// goMatchBench is agents.BenchmarkMatch run by `go test`: Redis only, no
// server (1,000 waiting callers, 200 agents, one agent freed per Match).
type goMatchBench struct {
	Command string  `json:"command"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	N       int     `json:"matches"`
	Err     string  `json:"error,omitempty"`
}

func (g goMatchBench) summary() string {
	if g.Err != "" {
		return "ERROR " + g.Err
	}
	return fmt.Sprintf("p50 %.2f ms, p99 %.2f ms over %d matches", g.P50, g.P99, g.N)
}

// matchRounds is BenchmarkMatch's b.N: enough rounds for a p99.
const matchRounds = 3000

func (b *bench) goMatchBenchmark(ctx context.Context) goMatchBench {
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkMatch$", "-benchtime", strconv.Itoa(matchRounds) + "x", "./agents"}
	g := goMatchBench{Command: "go " + strings.Join(args, " ")}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := goCommand(ctx, b.env.redisURL, args...)
	if err != nil {
		g.Err = fmt.Sprintf("%v: %s", err, lastLines(out, 3))
		return g
	}
	g.N, g.P50, g.P99, err = parseMatchBench(out)
	if err != nil {
		g.Err = err.Error()
	}
	return g
}

// matchStep is the server's matching latency with about 1,000 callers
// waiting and 200 agents, measured over a plateau while agents free up.
type matchStep struct {
	Agents      int            `json:"agents"`
	Callers     int            `json:"callers"`
	QueueStart  float64        `json:"queue_length_start"`
	QueueEnd    float64        `json:"queue_length_end"`
	States      map[string]int `json:"agents_by_state_start"`
	Relay       relayDelta     `json:"plateau"`
	Cores       cores          `json:"cores"`
	SIPp        sippStats      `json:"sipp_callers"`
	UAS         sippStats      `json:"sipp_agents"`
	After       map[string]int `json:"agents_by_state_after"` // once every caller hung up
	Condition   bool           `json:"condition_met"`         // ≥ 90% of 1,000 waiting at both ends, 200 agents
	Pass        bool           `json:"pass"`
	Err         string         `json:"error,omitempty"`
	LogWarnings []string       `json:"server_warnings,omitempty"`
}

// matching runs the matching step with its own pool and UAS: 200 agents
// who hang up after matchTalk. They are logged out afterwards.
func (r *bridgeRun) matching(ctx context.Context) error {
	b, st := r.b, r.res.Match
	st.Agents, st.Callers = matchAgents, matchWaiting+matchAgents+matchExtra
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return err
	}
	uas, port, err := b.startUAS(ctx, r.audio, matchTalk, 0)
	if err != nil {
		return err
	}
	defer func() { st.UAS, _ = uas.stop(20 * time.Second) }()
	pool, err := newAgentPool("matching", "m", matchStaffBase, matchStaffMax, port)
	if err != nil {
		return err
	}
	set, err := b.growAgents(ctx, pool, matchAgents)
	r.res.Setups = append(r.res.Setups, set)
	if err != nil {
		return err
	}
	if _, err := b.waitPool(ctx, pool, 30*time.Second); err != nil {
		return err
	}
	ramp := time.Duration(float64(st.Callers) / matchRamp * float64(time.Second))
	// The first agents free up after the first key, the announcements, the
	// talk and the wrap-up; measure from then, while the ramp is long over.
	measureAt := b.keyAt + matchKeyToAnswer + matchTalk + benchWrapUp - matchLead
	measureAt = max(measureAt, ramp+b.keyAt+3*time.Second)
	hold := measureAt + matchPlateau + 5*time.Second - b.keyAt
	if err := r.cursor.skip(); err != nil {
		return err
	}
	start := time.Now()
	p, err := startSIPp(ctx, sippRun{
		Scenario: "bridge_caller.xml", Target: b.srv.sipAddr, Service: b.service, Caller: "1383000000",
		Key: menuKey, Calls: st.Callers, Rate: matchRamp, Limit: st.Callers, AnswerWait: b.keyAt,
		Data:    map[string]int64{"AudioAtMS": 0, "RestMS": hold.Milliseconds()},
		Timeout: hold + ramp + 2*time.Minute,
	})
	if err != nil {
		return err
	}
	err = sleepCtx(ctx, time.Until(start.Add(measureAt)))
	var m0, m1 metrics
	var c0 cpuMark
	if err == nil {
		m0, err = scrape(b.srv.http + "/metrics")
		c0 = b.mark(p, uas)
	}
	if err == nil {
		err = sleepCtx(ctx, matchPlateau)
	}
	if err == nil {
		m1, err = scrape(b.srv.http + "/metrics")
		st.Cores = b.since(c0, p, uas, 0)
	}
	var werr error
	st.SIPp, werr = p.wait()
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	q := `hotline_agents_queue_length{category="` + menuCategory + `"}`
	st.QueueStart, st.QueueEnd, st.States = m0.value(q), m1.value(q), agentStates(m0)
	st.Relay = newRelayDelta(m0, m1)
	st.Condition = st.QueueStart >= 0.9*matchWaiting && st.QueueEnd >= 0.9*matchWaiting
	st.Pass = st.Condition && st.Relay.MatchCalls > 0 && st.Relay.MatchWithin >= relayShare
	if _, err := b.srv.waitIdle(ctx, 120*time.Second); err != nil {
		return err
	}
	chunk, err := r.cursor.read()
	if err == nil {
		st.LogWarnings = chunk.top(5)
	}
	// Agents left on a call now that every caller is gone are stuck there.
	st.After, err = b.waitPool(ctx, pool, 60*time.Second)
	b.progress("matching: %s", st.summary())
	if err != nil {
		return err
	}
	// Out of the way of the bridged pool: log the matching agents out (a
	// stuck agent's *0 is refused; it is not offered calls anyway).
	if _, err := b.featureCode(ctx, pool, "*0", 0, matchAgents); err != nil {
		return err
	}
	left, err := b.poolStates(ctx, pool)
	if err == nil && left["available"] > 0 {
		err = fmt.Errorf("matching agents still available after *0: %v", left)
	}
	return err
}

func (st matchStep) summary() string {
	verdict := verdictOf(st.Pass)
	return fmt.Sprintf("%s  %d agents, queue %.0f → %.0f waiting over %v; match p50 %s p99 %s ms, %s within 5 ms (%.0f Match steps, %.0f matches); %s; sipp %d/%d ok; agents after the callers left %v",
		verdict, st.Agents, st.QueueStart, st.QueueEnd, matchPlateau, num(st.Relay.MatchP50), num(st.Relay.MatchP99),
		pct(st.Relay.MatchWithin), st.Relay.MatchCalls, st.Relay.Matches, st.Cores, st.SIPp.Successful, st.Callers, st.After)
}

// recordingsDir is where the server records bridged calls (S19); the bench
// empties it between steps so thousands of calls do not fill the disk.
func (e *env) recordingsDir() string { return filepath.Join(e.dir, "data", "recordings") }

func (e *env) clearRecordings() { _ = os.RemoveAll(e.recordingsDir()) }

// goCommand runs the go tool from the repository root with the bench's Redis.
func goCommand(ctx context.Context, redisURL string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "HOTLINE_REDIS_URL="+redisURL)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// parseMatchBench reads BenchmarkMatch's line of `go test -bench` output:
// "BenchmarkMatch-2  3000  512345 ns/op  1.20 p50_ms  2.51 p99_ms".
func parseMatchBench(out string) (n int, p50, p99 float64, err error) {
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkMatch") {
			continue
		}
		if n, err = strconv.Atoi(f[1]); err != nil {
			return 0, 0, 0, fmt.Errorf("BenchmarkMatch line %q: %w", line, err)
		}
		p50, p99 = math.NaN(), math.NaN()
		for i := 2; i < len(f); i++ {
			v, perr := strconv.ParseFloat(f[i-1], 64)
			switch {
			case perr != nil:
			case f[i] == "p50_ms":
				p50 = v
			case f[i] == "p99_ms":
				p99 = v
			}
		}
		if math.IsNaN(p50) || math.IsNaN(p99) {
			return n, p50, p99, fmt.Errorf("BenchmarkMatch line %q: no p50_ms/p99_ms", line)
		}
		return n, p50, p99, nil
	}
	return 0, 0, 0, fmt.Errorf("no BenchmarkMatch line in: %s", lastLines(out, 3))
}

// offerStats are the ACD's offers of one step's calls, from the agents'
// state history in PostgreSQL (written behind the ACD; rows dropped under
// load are missing): when the caller got an agent reserved (ringing) and
// when that agent answered (on_call).
type offerStats struct {
	Calls int `json:"calls_with_history"`
	// QueueToOffer: from the caller's queue entry to its offer, in seconds.
	QueueToOfferP50 float64 `json:"queue_to_offer_p50_s"`
	QueueToOfferP99 float64 `json:"queue_to_offer_p99_s"`
	// OfferToAnswer: the agent reserved but its phone not answered yet (it
	// rings once the caller's queue prompts end), in seconds.
	OfferToAnswerP50 float64 `json:"offer_to_answer_p50_s"`
	// PeakOffered is the most callers offered and not answered at once: an
	// offered caller keeps its place at the head of the queue, and Match
	// looks at the first 200 of a queue (agents.matchScan).
	PeakOffered int `json:"peak_offered_unanswered"`
}

func (e *env) offerStats(ctx context.Context, caller string) (offerStats, error) {
	const offers = `WITH c AS (SELECT id, queued_at FROM calls WHERE caller LIKE $1 || '%' AND queued_at IS NOT NULL),
	r AS (SELECT h.call_id, min(h.at) FILTER (WHERE h.state = 'ringing') AS offered,
	             min(h.at) FILTER (WHERE h.state = 'on_call') AS oncall
	        FROM agent_state_history h JOIN c ON c.id = h.call_id GROUP BY h.call_id)`
	var o offerStats
	var p50, p99, ans *float64
	err := e.db.QueryRow(ctx, offers+`
		SELECT count(*),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.offered - c.queued_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM r.offered - c.queued_at)),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.oncall - r.offered))
		  FROM c JOIN r ON r.call_id = c.id WHERE r.offered IS NOT NULL`, caller).Scan(&o.Calls, &p50, &p99, &ans)
	if err != nil {
		return o, fmt.Errorf("offers from the state history: %w", err)
	}
	o.QueueToOfferP50, o.QueueToOfferP99, o.OfferToAnswerP50 = orNaN(p50), orNaN(p99), orNaN(ans)
	err = e.db.QueryRow(ctx, offers+`,
	ev AS (SELECT offered AS t, 1 AS d FROM r WHERE offered IS NOT NULL AND oncall IS NOT NULL
	       UNION ALL SELECT oncall, -1 FROM r WHERE offered IS NOT NULL AND oncall IS NOT NULL)
		SELECT coalesce(max(n), 0) FROM (SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n FROM ev) x`,
		caller).Scan(&o.PeakOffered)
	if err != nil {
		return o, fmt.Errorf("offers from the state history: %w", err)
	}
	return o, nil
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
