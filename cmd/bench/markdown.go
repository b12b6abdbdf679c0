package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// markdown renders the report: summary with the targets, then every step.
func (r *result) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	m := r.Machine
	w("# hotline benchmark")
	w("")
	w("Command: `%s` (step duration %s)  ", r.Command, r.Duration)
	if r.Repeat > 1 {
		w("Each step ran %d times; a figure is the worst of them (a rung passes only when every run passed).  ", r.Repeat)
	}
	w("Machine: %d CPUs, %s, %s, %s, %s; SIPp and the server share the machine over loopback.", m.CPUs, m.CPUModel, m.Kernel, m.Go, m.SIPp)
	w("Baseline: %s. Other load on a shared machine shows as \"other cores\" below.", r.Baseline)
	w("Calibration: %s.", r.Calibration)
	if r.Interrupted {
		w("")
		w("**Interrupted**: only the steps finished before the interruption are reported.")
	}
	w("")
	w("## Figures")
	w("")
	w("| figure | result | target | |")
	w("|---|---|---|---|")
	if r.hasPart("rate") {
		w("| max call rate, ≥ 99.9%% short IVR calls ok (key by RFC 4733 pcap) | %.0f calls/s | ≥ %d | %s |",
			r.PCAP.MaxRate, targetRate, met(r.PCAP.MaxRate >= targetRate))
		w("| same, prompts on time (server send interval p1 and p99 within 20 ± 2 ms) | %.0f calls/s | ≥ %d | %s |",
			r.PCAP.OnTimeRate, targetRate, met(r.PCAP.OnTimeRate >= targetRate))
		if r.Info != nil {
			w("| max call rate, same calls with the key as SIP INFO (no RTP from SIPp) | %.0f calls/s | ≥ %d | %s |",
				r.Info.MaxRate, targetRate, met(r.Info.MaxRate >= targetRate))
			w("| same, prompts on time (server send interval p1 and p99 within 20 ± 2 ms) | %.0f calls/s | ≥ %d | %s |",
				r.Info.OnTimeRate, targetRate, met(r.Info.OnTimeRate >= targetRate))
		}
	}
	best, ok := r.bestHold()
	if r.hasPart("hold") {
		held := 0
		if ok {
			held = best.Calls
		}
		w("| max concurrent prompt-hearing calls, send interval p99 within 20 ± 2 ms | %d calls | ≥ %d | %s |",
			held, targetConcurrent, met(held >= targetConcurrent))
		w("| send interval at that step: p1 / p99, share within 20 ± 2 ms, late share | %s / %s ms, %s, %s | p99 20 ± 2 ms | %s |",
			num(best.IntervalP01), num(best.IntervalP99), pct(best.WithinShare), pct(best.LateShare),
			met(ok && intervalsOK(best.IntervalP01, best.IntervalP99)))
	}
	if r.hasPart("rate") {
		w("| server CPU per short IVR call (call-rate run) | %s ms | — | |", num(1000*r.cpuPerCall()))
	}
	if br := r.Bridge; br != nil {
		br.figureRows(w, r.hasPart)
	}
	if r.Panels != nil {
		r.Panels.rows(w)
	}
	if r.Scrape != nil {
		r.Scrape.row(w)
	}
	if r.Callbacks != nil {
		r.Callbacks.row(w)
	}
	w("")
	if r.hasPart("rate") {
		w("Limits: call rate (RFC 4733): %s.", r.PCAP.Limit)
		if r.Info != nil {
			w("Call rate (SIP INFO): %s.", r.Info.Limit)
		}
	}
	if r.hasPart("hold") {
		w("Concurrency: %s.", r.Hold.Limit)
	}
	if br := r.Bridge; br != nil {
		br.limits(w)
	}
	if r.hasPart("rate") {
		r.rateTable(w, r.PCAP)
		if r.Info != nil {
			r.rateTable(w, *r.Info)
		}
	}
	if r.hasPart("hold") {
		r.holdTable(w)
	}
	if br := r.Bridge; br != nil {
		br.tables(w, r.hasPart)
	}
	if r.Soak != nil {
		r.Soak.markdown(w)
	}
	if r.Repeat > 1 {
		r.Repeats = r.repeats()
		repeatTable(w, r.Repeat, r.Repeats)
	}
	w("")
	w("Server log lines by level: %v. Commonest warnings/errors: %s", r.ServerLog.Levels, strings.Join(r.ServerLog.Top, "; "))
	return b.String()
}

// hasPart says whether -only ran part.
func (r *result) hasPart(part string) bool {
	return slices.Contains(strings.Split(r.Parts, ","), part)
}

func (r *result) rateTable(w func(string, ...any), sw rateSweep) {
	w("")
	w("## Call rate: %s", sw.Scenario)
	w("")
	w("Each step: SIPp places rate × duration calls (answer, press 1 %s after the answer, 2 s in the queue, BYE; "+
		"the greeting lasts 4.1 s, a key during it is type-ahead, S3); ", sw.KeyAt)
	w("pass = ≥ 99.9%% SIPp-successful and ≥ 99.9%% call records in PostgreSQL that reached the inquiry queue; " +
		"on time = pass and the p1 and p99 of the server's send intervals within 20 ± 2 ms (the concurrency steps' rule). ")
	w("Server CPU per call over this sweep: %s ms (%.1f CPU s ÷ %d calls).", num(1000*sw.CPU/float64(max(sw.Calls, 1))), sw.CPU, sw.Calls)
	w("")
	w("| rate/s | achieved/s | calls | SIPp ok | SIPp failed | retrans | records | queued | outcomes | server cores | SIPp cores | other cores | server ms/call | interval p1 / p99 ms | lateness p99 ms | late share | pass | on time |")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range sw.Steps {
		w("| %.0f | %.0f | %d | %d (%s) | %d | %d | %d | %d | %v | %.2f | %.2f | %.2f | %.2f | %s / %s | %s | %s | %s | %s |",
			st.Rate, st.Achieved, st.Calls, st.SIPp.Successful, pct(st.Success), st.SIPp.Failed, st.SIPp.Retransmissions,
			st.Records, st.Queued, st.Outcomes, st.ServerCores, st.SIPpCores, st.OtherCores, 1000*st.CPUPerCall,
			num(st.Media.IntervalP01), num(st.Media.IntervalP99), num(st.Media.LatenessP99), pct(st.Media.LateShare), passText(st.Pass, st.Err), verdictOf(st.OnTime))
	}
}

func (r *result) holdTable(w func(string, ...any)) {
	w("")
	w("## Concurrent calls hearing prompts")
	w("")
	w("Each step: SIPp ramps N calls at %d/s (key 3 by SIP INFO after the greeting: emergency, S6, never offered a callback, so it hears the queue prompts and hold music throughout); ", rampRate)
	w("two /metrics scrapes %v apart once all are up give the plateau's pacer histograms (server side, the primary figure). ", plateau)
	w("rx = %s", "Go callers dialled beside SIPp timing RTP arrival (whole call, so a few prompt boundaries are included). ")
	w("Pass (the target's \"p99 send interval within 20 ± 2 ms\"): the p99 and the p1 send interval both within 18–22 ms, ≥ 99.9%% SIPp-successful, every stream up.")
	w("")
	w("| N | active calls / streams | packets | interval p1 / p50 / p99 ms | within 20±2 ms | lateness p99 ms | late | skipped ticks | rx p99 median / worst ms | server cores | SIPp cores | other cores | SIPp ok | pass |")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range r.Hold.Steps {
		w("| %d | %.0f / %.0f | %.0f | %s / %s / %s | %s | %s | %s | %.0f | %s / %s (%d/%d) | %.2f | %.2f | %.2f | %d | %s |",
			st.Calls, st.ActiveCalls, st.ActiveStreams, st.Packets, num(st.IntervalP01), num(st.IntervalP50), num(st.IntervalP99),
			pct(st.WithinShare), num(st.LatenessP99), pct(st.LateShare), st.SkippedTicks,
			num(st.Receiver.P99Median), num(st.Receiver.P99Worst), st.Receiver.Heard, st.Receiver.Dialled,
			st.ServerCores, st.SIPpCores, st.OtherCores, st.SIPp.Successful, passText(st.Pass, st.Err))
	}
}

func passText(pass bool, err string) string {
	switch {
	case err != "":
		return "error: " + strings.ReplaceAll(err, "|", "/")
	case pass:
		return "yes"
	default:
		return "**no**"
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "> top bucket"
	}
	return fmt.Sprintf("%.2f", v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*v)
}
