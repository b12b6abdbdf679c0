package main

import (
	"fmt"
	"strings"
	"time"
)

// The bridged-call targets.
const (
	targetBridgeRate = 250
	targetBridged    = 1000
	targetMatchMS    = 5
)

// bestHold is the largest passing concurrency step, or the first one.
func (br *bridgeResult) bestHold() (bridgeHoldStep, bool) {
	return br.bestHoldBy(func(st bridgeHoldStep) bool { return st.Pass })
}

// bestHoldBy is the largest step that passed by pass.
func (br *bridgeResult) bestHoldBy(pass func(bridgeHoldStep) bool) (bridgeHoldStep, bool) {
	for i := len(br.Hold.Steps) - 1; i >= 0; i-- {
		if pass(br.Hold.Steps[i]) {
			return br.Hold.Steps[i], true
		}
	}
	if len(br.Hold.Steps) > 0 {
		return br.Hold.Steps[0], false
	}
	return bridgeHoldStep{}, false
}

// figureRows adds the rows to the figures table for the parts run.
func (br *bridgeResult) figureRows(w func(string, ...any), has func(string) bool) {
	if has("bridge-rate") {
		br.rateRow(w)
	}
	if has("bridge-hold") {
		br.holdRows(w)
	}
	if m := br.Match; m != nil {
		br.matchRows(w, m)
	}
}

func (br *bridgeResult) rateRow(w func(string, ...any)) {
	w("| max bridged call rate, ≥ 99.9%% of calls bridged with audio both ways (talk %s) | %.0f calls/s | ≥ %d | %s |",
		br.Talk, br.Rate.MaxRate, targetBridgeRate, met(br.Rate.MaxRate >= targetBridgeRate))
}

func (br *bridgeResult) holdRows(w func(string, ...any)) {
	best, ok := br.bestHold()
	held := 0
	if ok {
		held = int(best.Bridged)
	}
	w("| max concurrent bridged calls, added jitter p99 < 5 ms | %d calls (step of %d) | ≥ %d | %s |",
		held, best.Calls, targetBridged, met(held >= targetBridged))
	w("| added jitter at that step: p50 / p99, share within 5 ms | %s / %s ms, %s | p99 < 5 ms | %s |",
		num(best.Relay.JitterP50), num(best.Relay.JitterP99), pct(best.Relay.JitterWithin), met(ok && best.Relay.JitterWithin >= relayShare))
	lbest, lok := br.bestHoldBy(func(st bridgeHoldStep) bool { return st.LatencyPass })
	lheld := 0
	if lok {
		lheld = int(lbest.Bridged)
	}
	w("| stricter: max concurrent bridged calls with the relay latency itself p99 < 5 ms (p50 / p99 at that step) | %d calls (%s / %s ms) | — | |",
		lheld, num(lbest.Relay.LatencyP50), num(lbest.Relay.LatencyP99))
}

func (br *bridgeResult) matchRows(w func(string, ...any), m *matchStep) {
	cond := fmt.Sprintf("queue %.0f → %.0f waiting, %d agents", m.QueueStart, m.QueueEnd, m.Agents)
	if !m.Condition {
		cond += ", **condition not met**"
	}
	w("| matching p99, server (hotline_agents_match_seconds; %s) | %s ms (%s within 5 ms) | ≤ %d ms | %s |",
		cond, num(m.Relay.MatchP99), pct(m.Relay.MatchWithin), targetMatchMS, met(m.Pass))
	g := br.GoMatch
	if g.Err == "" {
		w("| matching p99, Redis alone (`%s`: 1,000 waiting, 200 agents) | %.2f ms (p50 %.2f) | ≤ %d ms | %s |",
			g.Command, g.P99, g.P50, targetMatchMS, met(g.P99 <= targetMatchMS))
	} else {
		w("| matching p99, Redis alone (`%s`) | not measured: %s | ≤ %d ms | |", g.Command, strings.ReplaceAll(g.Err, "|", "/"), targetMatchMS)
	}
}

func (br *bridgeResult) limits(w func(string, ...any)) {
	if br.Err != "" {
		w("Bridged calls: **error** %s.", br.Err)
	}
	if br.Rate.Limit != "" {
		w("Bridged call rate: %s.", br.Rate.Limit)
	}
	if br.Hold.Limit != "" {
		w("Bridged concurrency: %s.", br.Hold.Limit)
	}
	if br.Match != nil && br.Match.Err != "" {
		w("Matching: **error** %s.", br.Match.Err)
	}
}

func (br *bridgeResult) tables(w func(string, ...any), has func(string) bool) {
	w("")
	w("## Bridged calls")
	w("")
	w("Callers (SIPp, `bridge_caller.xml`) dial 12345, press 1 by SIP INFO %v after the answer (bridge-hold: 5 s), wait in the inquiry queue "+
		"(the queue-entered prompt, position and wait), and are bridged once an agent answered and the staff number was said; "+
		"%v after the key (the bridge is due at %v) they start streaming a 440 Hz PCMU tone (SIPp `rtp_stream`) and hang up %v later. "+
		"Agents are created in the directory, REGISTER with MD5 digest and log in with `*1` (SIPp, `agent_register.xml`, `agent_feature.xml`); "+
		"their Contacts all point at one SIPp UAS (`agent_uas.xml`) that answers at once and streams the same tone. "+
		"Wrap-up ends by `acd.wrap_up_max` = %v (no ticket is entered). Calls are recorded (S19) as configured.",
		br.KeyAt, bridgeKeyToBridge-bridgeAudioLead, bridgeKeyToBridge, bridgeAudioLead+mustDuration(br.Talk), benchWrapUp)
	w("")
	w("A call counts as **bridged** when its record says answered with an agent and the server logged its bridge stopping " +
		"with audio relayed both ways (`bridge stopped`, caller_to_agent and agent_to_caller > 0). " +
		"**Relay latency** is `hotline_media_relay_latency_seconds`: from the packet's arrival in one leg's " +
		"socket (the kernel's SO_TIMESTAMPNS stamp, so the wait in the socket while the shared receiver reads others counts) to the " +
		"send call on the other leg returning. **Added jitter** is `hotline_media_relay_jitter_seconds`: how much that latency changed from " +
		"the leg's previous packet (|D(i-1,i)| of RFC 3550 section 6.4.1 with the relay as the path; a steady delay adds none). " +
		"Pass: added jitter p99 < 5 ms, i.e. ≥ 99%% of the changes within 5 ms; the relay latency's own p99 < 5 ms is shown as a " +
		"stricter figure (the latency bounds the jitter). The worst packet of each bridge (logged when it stops) is shown too.")
	if br.RTP == "go" {
		w("")
		w("RTP (`-rtp go`): SIPp only signals; both legs' audio comes from the bench's own RTP peer (`cmd/bench/rtpgen.go`): the callers' " +
			"and the agents' SDP name one socket each, the peer answers every server port that sends to it from that socket (symmetric RTP), " +
			"paced by a 1 ms timer wheel (each leg keeps its slot: 1,000 bridges are 50 packets a millisecond, not one burst every 20 ms) " +
			"and sent with sendmmsg, and the callers talk when SIPp's would have. Its packets carry their send time, so the other leg's " +
			"receiver (kernel arrival stamps) measures the latency through the server, its change from packet to packet (added jitter) " +
			"and the worst gap per leg: the **go peer** column, beside the server's own histograms, which stay the pass criterion. " +
			"It measures 1 leg in `-rtp-sample` (by the server port): a socket filter drops the other legs' relayed packets in the " +
			"kernel before they are queued, but for 1 in 16 that keep each leg known, so reading costs the peer a fraction of sending; " +
			"the server still sends every packet. " +
			"Its sender runs at normal priority, behind the server's real-time threads, and a step where it offered under 99%% of the " +
			"packets due fails on the peer; with `-rtp-realtime` it runs at the server's RTP priority and always offers them, " +
			"taking its CPU from the server (the go peer column says which). " +
			"**bench cores** is this process (the peer and the scrapes). The bridge-hold real-peer check is one step of the first rung " +
			"whose callers stream with SIPp (`rtp sipp callers, go agents`), listed first and not counted in the figure.")
	}
	if has("bridge-hold") {
		br.holdTable(w)
	}
	if has("bridge-rate") {
		br.rateTable(w)
	}
	if br.Match != nil {
		br.matchTable(w, br.Match)
	}
	if len(br.Setups) > 0 {
		w("")
		w("Agent set-up (register + `*1`, %d calls/s):", agentSetupRate)
		for _, s := range br.Setups {
			line := fmt.Sprintf("%s agents %d–%d in %.1f s", s.Pool, s.From, s.To-1, s.Took)
			if s.Err != "" {
				line += " — error: " + s.Err
			}
			w("- %s", line)
		}
	}
	w("")
	w("Agents' UAS over the run: %d calls ok, %d failed. %s", br.UAS.Successful, br.UAS.Failed, br.UAS.Errors)
}

func (br *bridgeResult) rateTable(w func(string, ...any)) {
	w("")
	w("### Bridged call rate")
	w("")
	w("Each step: rate × duration callers; agents = rate × min(duration, key→bridge + talk + wrap-up + 1 s) + %.0f%% + 20. "+
		"Pass: ≥ 99.9%% of calls SIPp-successful and bridged. Times: queued → offered (the ACD reserved an agent, state ringing; from the "+
		"agents' state history), offered → answered (the agent's phone rings only once the caller's queue prompts ended), queued → answered "+
		"(call record), answered → bridged (the staff number, S2), bridge talk. Peak offered: the most callers offered and not yet answered "+
		"at once; an offered caller keeps its place at the head of the queue and Match looks at the first 200 callers of a queue.", 100*agentMargin)
	w("")
	w("| rate/s | achieved/s | calls | agents | SIPp ok | bridged | outcomes | queued→offered p50 / p99 s | offered→answered p50 s | peak offered, unanswered | queued→answered p50 / p99 s | staff number s | pacer lateness p99 ms | talk p50 / min s | relayed pkts | relay p99 ms | within 5 ms | worst packet per bridge p50 / p99 / max ms | match p99 ms / time in Match s | go peer: latency p99, added jitter p99 ms, within 5 ms, worst gap max ms | server cores | bench cores | SIPp callers / agents cores | Redis cores / busy | other cores | server ms/call | agents after | pass |")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range br.Rate.Steps {
		c := st.Counts
		w("| %.0f | %.0f | %d | %d | %d (%s) | %d (%s) | %v | %s / %s | %s | %d | %s / %s | %s | %s | %s / %s | %.0f | %s | %s | %s / %s / %s | %s / %.1f | %s | %.2f | %.2f | %.2f / %.2f | %.2f / %s | %.2f | %s | %v | %s |",
			st.Rate, st.Achieved, st.Calls, st.Agents, st.SIPp.Successful, pct(st.Success), c.Bridged, pct(st.Bridged), c.Outcomes,
			num(st.Offers.QueueToOfferP50), num(st.Offers.QueueToOfferP99), num(st.Offers.OfferToAnswerP50), st.Offers.PeakOffered,
			num(c.QueueToAnswerP50), num(c.QueueToAnswerP99), num(c.StaffNumberP50), num(st.Media.LatenessP99), num(c.TalkP50), num(c.TalkMin),
			st.Relay.Relayed, num(st.Relay.LatencyP99), pct(st.Relay.Within), num(c.WorstP50), num(c.WorstP99), num(c.WorstMax),
			num(st.Relay.MatchP99), st.Relay.MatchSec, peerCell(st.Peer),
			st.Cores.Server, st.Cores.Bench, st.Cores.SIPp, st.Cores.UAS, st.Cores.Redis.Cores, pct(st.Cores.Redis.Busy), st.Cores.Other,
			num(1000*st.CPUPerCall), st.After, passText(st.Pass, st.Err))
	}
}

func (br *bridgeResult) holdTable(w func(string, ...any)) {
	w("")
	w("### Concurrent bridged calls")
	w("")
	w("Each step: N callers ramp at the ramp rate and stay; once all are due to be bridged, two /metrics scrapes %v apart give the "+
		"plateau's relay figures; bridged = the fewer of the two `hotline_media_active_bridges` readings. Pass: ≥ %.0f%% of N bridged "+
		"(every call counted; the records show the others by outcome), ≥ 99%% of the expected packets (2 × 50/s × bridged × plateau; "+
		"with the Go peer, what it sent, which must itself be ≥ 99%% of that) relayed, added jitter p99 < 5 ms. The ramp (%d/s) stays below what the ACD offers (see the call-rate table's peak offered).", bridgePlateau, 100*bridgedFloor, bridgeRampRate)
	w("")
	w("| N | agents | ramp/s | active calls | bridges start / end | records by outcome | relayed / expected | jitter p50 / p99 ms | relay p50 / p99 ms | within 5 ms | worst packet per bridge p50 / p99 / max ms | dropped | send errors | RTP peer | go peer: latency p99, added jitter p99 ms, within 5 ms, worst gap max ms | server cores | bench cores | SIPp callers / agents cores | Redis cores | other cores | /metrics answer s | SIPp ok | agents after | pass |")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	steps := br.Hold.Steps
	if br.Hold.RealPeer != nil {
		steps = append([]bridgeHoldStep{*br.Hold.RealPeer}, steps...)
	}
	for _, st := range steps {
		c := st.Counts
		w("| %d | %d | %.0f | %.0f | %.0f / %.0f | %v | %.0f / %.0f (%s) | %s / %s | %s / %s | %s | %s / %s / %s | %v | %.0f | %s | %s | %.2f | %.2f | %.2f / %.2f | %.2f | %.2f | %.1f | %d | %v | %s |",
			st.Calls, st.Agents, st.Ramp, st.ActiveCalls, st.BridgesStart, st.BridgesEnd, c.Outcomes, st.Relay.Relayed, st.Expected,
			pct(st.RelayedShare), num(st.Relay.JitterP50), num(st.Relay.JitterP99), num(st.Relay.LatencyP50), num(st.Relay.LatencyP99), pct(st.Relay.Within),
			num(c.WorstP50), num(c.WorstP99), num(c.WorstMax), st.Relay.Dropped,
			st.Relay.SendErrors, st.RTP, peerCell(st.Peer), st.Cores.Server, st.Cores.Bench, st.Cores.SIPp, st.Cores.UAS, st.Cores.Redis.Cores, st.Cores.Other, st.ScrapeMax,
			st.SIPp.Successful, st.After,
			passText(st.Pass, st.Err))
	}
}

func (br *bridgeResult) matchTable(w func(string, ...any), m *matchStep) {
	w("")
	w("### Matching")
	w("")
	w("%d agents (their own UAS: they hang up %v after answering) serve inquiry; %d callers arrive at %d/s and wait. "+
		"Once the first agents free up, two scrapes %v apart give the ACD's Match steps (`hotline_agents_match_seconds`, every "+
		"Match call: on each agent freed, each caller queued, and every 500 ms). Pass: ≥ 99%% of Match steps within 5 ms with "+
		"≥ 900 callers waiting at both scrapes.", m.Agents, matchTalk, m.Callers, matchRamp, matchPlateau)
	w("")
	w("| agents | callers | waiting start → end | agents by state | Match steps (time s) | matches | p50 / p99 ms | within 5 ms | server cores | SIPp callers / agents cores | Redis cores / busy | other cores | agents after the callers left | pass |")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	w("| %d | %d | %.0f → %.0f | %v | %.0f (%.2f) | %.0f | %s / %s | %s | %.2f | %.2f / %.2f | %.2f / %s | %.2f | %v | %s |",
		m.Agents, m.Callers, m.QueueStart, m.QueueEnd, m.States, m.Relay.MatchCalls, m.Relay.MatchSec, m.Relay.Matches,
		num(m.Relay.MatchP50), num(m.Relay.MatchP99), pct(m.Relay.MatchWithin), m.Cores.Server, m.Cores.SIPp, m.Cores.UAS,
		m.Cores.Redis.Cores, pct(m.Cores.Redis.Busy), m.Cores.Other, m.After, passText(m.Pass, m.Err))
	if len(m.LogWarnings) > 0 {
		w("")
		w("Server warnings during the matching step: %s", strings.Join(m.LogWarnings, "; "))
	}
}

// mustDuration parses a duration the bench itself printed (0 if not).
func mustDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// peerCell is the Go RTP peer's figures in a table cell; "—" when SIPp streamed.
func peerCell(w *genWindow) string {
	if w == nil {
		return "—"
	}
	return fmt.Sprintf("%s, %s ms, %s, %s ms (%d legs)", num(w.LatencyP99), num(w.JitterP99), pct(w.JitterWithin), num(w.GapMax), w.Legs)
}
