package main

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Concurrency steps ramp at rampRate calls/s, wait until every call is in the
// queue hearing prompts or hold music, and measure the pacer over plateau.
const (
	rampRate       = 200
	holdAnswerWait = 5 * time.Second
	plateau        = 10 * time.Second
	settle         = 3 * time.Second // after the last call's key, before the first scrape
	// The target is "the p99 send interval within 20 ± 2 ms": the
	// 99th percentile of the intervals lies in [18 ms, 22 ms], and so does
	// the 1st (a packet sent early is as far off as one sent late). The
	// share of all intervals inside the window is reported beside it.
	intervalLo, intervalHi = 0.018, 0.022
)

// intervalsOK reports whether the plateau's p1 and p99 send intervals (ms)
// both lie within 20 ± 2 ms.
func intervalsOK(p01, p99 float64) bool {
	in := func(v float64) bool { return !math.IsNaN(v) && v >= 1000*intervalLo && v <= 1000*intervalHi }
	return in(p01) && in(p99)
}

// holdStep is one number of concurrent calls.
type holdStep struct {
	Calls         int       `json:"calls"`
	ActiveCalls   float64   `json:"active_calls"`   // server's gauge at the first scrape
	ActiveStreams float64   `json:"active_streams"` // playbacks at the first scrape
	Packets       float64   `json:"packets"`        // sent during the plateau
	IntervalP01   float64   `json:"interval_p01_ms"`
	IntervalP50   float64   `json:"interval_p50_ms"`
	IntervalP99   float64   `json:"interval_p99_ms"`
	WithinShare   float64   `json:"interval_within_2ms"` // share of intervals in [18, 22] ms
	LatenessP99   float64   `json:"lateness_p99_ms"`
	LateShare     float64   `json:"late_share"` // packets > 2 ms after their slot
	SkippedTicks  float64   `json:"skipped_ticks"`
	ServerCores   float64   `json:"server_cores"` // during the plateau
	SIPpCores     float64   `json:"sipp_cores"`
	OtherCores    float64   `json:"other_cores"` // the rest of the machine during the plateau
	SIPp          sippStats `json:"sipp"`
	Receiver      rxSummary `json:"receiver"`
	Pass          bool      `json:"pass"`
	Err           string    `json:"error,omitempty"`
}

// holdSweep is the concurrency result.
type holdSweep struct {
	Steps   []holdStep `json:"steps"`
	MaxHeld int        `json:"max_concurrent"` // largest passing N; 0 when none
	Limit   string     `json:"limited_by"`
}

func (b *bench) runHoldSweep(ctx context.Context, ns []int) holdSweep {
	var sw holdSweep
	for _, n := range ns {
		if ctx.Err() != nil {
			break
		}
		var passes []bool
		for run := range b.repeat {
			if ctx.Err() != nil {
				break
			}
			b.run = run
			st := b.holdStep(ctx, n)
			sw.Steps = append(sw.Steps, st)
			b.progress("hold %5d calls%s: %s", n, runLabel(run, b.repeat), st.summary())
			passes = append(passes, st.Pass)
			if !st.Pass && sw.Limit == "" {
				sw.Limit = holdLimit(st, b.cpus)
			}
		}
		all, any := rungPassed(passes)
		if all {
			sw.MaxHeld = n
		}
		if !any {
			break
		}
	}
	if sw.Limit == "" && len(sw.Steps) > 0 {
		sw.Limit = "not reached: every step up to -max-concurrent passed"
	}
	return sw
}

func (b *bench) holdStep(ctx context.Context, n int) holdStep {
	st := holdStep{Calls: n}
	fail := func(err error) holdStep { st.Err = err.Error(); return st }
	if _, err := b.srv.waitIdle(ctx, 90*time.Second); err != nil {
		return fail(err)
	}
	if busy := waitQuiet(ctx, time.Minute); busy >= quietCores {
		b.progress("hold %d calls: the machine is still busy (%.2f cores) after a minute; measuring anyway", n, busy)
	}
	ramp := time.Duration(float64(n) / rampRate * float64(time.Second))
	measureAt := ramp + holdAnswerWait + settle
	hold := ramp + settle + plateau + 5*time.Second // every call outlasts the plateau
	run := sippRun{
		Scenario: "hold_info.xml", Target: b.srv.sipAddr, Service: b.service,
		Caller: fmt.Sprintf("1370%d%06d", b.run, n), Key: holdKey, Calls: n, Rate: rampRate, Limit: n,
		AnswerWait: holdAnswerWait, AfterKey: hold, Timeout: measureAt + plateau + 2*time.Minute,
	}
	start := time.Now()
	p, err := startSIPp(ctx, run)
	if err != nil {
		return fail(err)
	}
	rx := b.startReceivers(ctx, ramp, measureAt+plateau)
	if err := sleepCtx(ctx, time.Until(start.Add(measureAt))); err != nil {
		_, _ = p.wait()
		return fail(err)
	}
	m0, s0, c0, err := b.sample(p)
	meter := startMeter()
	if err == nil {
		err = sleepCtx(ctx, plateau)
	}
	var m1 metrics
	var s1, c1 time.Duration
	if err == nil {
		m1, s1, c1, err = b.sample(p)
	}
	machine, self := meter.cores()
	st.Receiver = rx.wait()
	var werr error
	st.SIPp, werr = p.wait()
	if err != nil {
		return fail(err)
	}
	if werr != nil {
		return fail(werr)
	}
	st.ActiveCalls, st.ActiveStreams = m0.value("hotline_sip_active_calls"), m0.value("hotline_media_active_streams")
	st.ServerCores = (s1 - s0).Seconds() / plateau.Seconds()
	st.SIPpCores = (c1 - c0).Seconds() / plateau.Seconds()
	st.OtherCores = max(0, machine-self-st.ServerCores-st.SIPpCores)
	st.fill(m0, m1)
	return st
}

// sample scrapes the metrics and reads the server's and SIPp's CPU time.
func (b *bench) sample(p *sippProc) (metrics, time.Duration, time.Duration, error) {
	m, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		return nil, 0, 0, err
	}
	s, err := b.srv.cpu()
	return m, s, p.cpu(), err
}

// fill computes the plateau's pacer figures from two scrapes.
func (st *holdStep) fill(m0, m1 metrics) {
	const ms = 1000
	iv := since(m0, m1, "hotline_media_send_interval_seconds")
	late := since(m0, m1, "hotline_media_send_lateness_seconds")
	st.IntervalP01, st.IntervalP50, st.IntervalP99 = ms*iv.quantile(0.01), ms*iv.quantile(0.50), ms*iv.quantile(0.99)
	st.WithinShare = iv.between(intervalLo, intervalHi)
	st.LatenessP99 = ms * late.quantile(0.99)
	st.Packets = m1.value("hotline_media_packets_sent_total") - m0.value("hotline_media_packets_sent_total")
	if st.Packets > 0 {
		st.LateShare = (m1.value("hotline_media_late_packets_total") - m0.value("hotline_media_late_packets_total")) / st.Packets
	}
	st.SkippedTicks = m1.value("hotline_media_skipped_ticks_total") - m0.value("hotline_media_skipped_ticks_total")
	ok := float64(st.SIPp.Successful) / float64(st.Calls)
	st.Pass = st.Err == "" && intervalsOK(st.IntervalP01, st.IntervalP99) &&
		ok >= successTarget && st.ActiveStreams >= 0.99*float64(st.Calls)
}

func (st holdStep) summary() string {
	if st.Err != "" {
		return "ERROR " + st.Err
	}
	verdict := verdictOf(st.Pass)
	return fmt.Sprintf("%s  active %.0f calls/%.0f streams; send interval p1 %.2f p50 %.2f p99 %.2f ms, %.3f%% within 20±2 ms; lateness p99 %.2f ms, late %.3f%%, skipped ticks %.0f; rx p99 %s; server %.2f cores, sipp %.2f, other %.2f; sipp %d/%d ok",
		verdict, st.ActiveCalls, st.ActiveStreams, st.IntervalP01, st.IntervalP50, st.IntervalP99, 100*st.WithinShare,
		st.LatenessP99, 100*st.LateShare, st.SkippedTicks, st.Receiver.brief(), st.ServerCores, st.SIPpCores, st.OtherCores,
		st.SIPp.Successful, st.Calls)
}

func holdLimit(st holdStep, cpus int) string {
	switch {
	case st.Err != "":
		return "error: " + st.Err
	case float64(st.SIPp.Successful) < successTarget*float64(st.Calls) || st.ActiveStreams < 0.99*float64(st.Calls):
		return fmt.Sprintf("calls failed or were not all up (%d/%d successful, %.0f streams; server %.2f, SIPp %.2f cores of %d)",
			st.SIPp.Successful, st.Calls, st.ActiveStreams, st.ServerCores, st.SIPpCores, cpus)
	default:
		return fmt.Sprintf("pacing: send interval p1 %.2f / p99 %.2f ms, not both within 20±2 ms (%.2f%% of intervals within), lateness p99 %.2f ms, %.0f skipped ticks; server %.2f, SIPp %.2f, other processes %.2f cores of %d",
			st.IntervalP01, st.IntervalP99, 100*st.WithinShare, st.LatenessP99, st.SkippedTicks, st.ServerCores, st.SIPpCores, st.OtherCores, cpus)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
