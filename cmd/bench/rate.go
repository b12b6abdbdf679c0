package main

import (
	"context"
	"fmt"
	"time"
)

// The short IVR call of answer, press a key, 2 s, BYE. The key comes
// -key-at after the answer (b.keyAt): by default 1 s, during the 4.1 s
// greeting, where a caller who knows the menu types it (S3 type-ahead: the
// greeting stops and the key is the choice); -key-at 5s presses it as the
// menu starts, where a first-time caller does.
const (
	shortAfterKey = 2 * time.Second
	// successTarget is the share of calls that must succeed at a rate.
	successTarget = 0.999
	menuKey       = '1'
	menuCategory  = "inquiry"
	// holdKey queues the concurrency callers as emergencies: an emergency
	// is never offered a callback (S6), so it hears prompts and hold music
	// all the time. An inquiry caller with no agent logged in is offered a
	// callback at once and waits callback_timeout in silence for the key,
	// which would leave a share of the "prompt-hearing" calls silent.
	holdKey = '3'
)

// rateStep is one call rate of a sweep.
type rateStep struct {
	Scenario    string         `json:"scenario"`
	Rate        float64        `json:"rate"`
	Calls       int            `json:"calls"`
	Achieved    float64        `json:"achieved_rate"` // calls created ÷ time to create them
	SIPp        sippStats      `json:"sipp"`
	Records     int            `json:"records"`            // call records in PostgreSQL
	Queued      int            `json:"queued"`             // records that reached the inquiry queue
	Outcomes    map[string]int `json:"outcomes"`           // records by outcome
	Media       mediaDelta     `json:"media"`              // the server's media counters over the step
	ServerCPU   float64        `json:"server_cpu_s"`       // server CPU seconds over the step
	ServerCores float64        `json:"server_cores"`       // server CPU while SIPp ran ÷ its run time
	SIPpCores   float64        `json:"sipp_cores"`         // SIPp CPU ÷ its run time
	OtherCores  float64        `json:"other_cores"`        // the rest of the machine meanwhile
	CPUPerCall  float64        `json:"cpu_s_per_call"`     // ServerCPU ÷ successful calls
	Success     float64        `json:"sipp_success"`       // successful ÷ calls
	RecordShare float64        `json:"record_queued_rate"` // queued records ÷ calls
	Pass        bool           `json:"pass"`
	// OnTime: the step passed and the prompts kept the send interval
	// (p1 and p99 of the server's send intervals within 20 ± 2 ms, the
	// concurrency steps' rule).
	OnTime bool   `json:"prompts_on_time"`
	Err    string `json:"error,omitempty"`
}

// rateSweep is the result of one scenario over the rate ladder.
type rateSweep struct {
	Scenario string     `json:"scenario"`
	Steps    []rateStep `json:"steps"`
	KeyAt    string     `json:"key_at"`   // when the callers press the key after the answer
	MaxRate  float64    `json:"max_rate"` // highest passing rate; 0 when none passed
	// OnTimeRate is the highest passing rate whose prompts were on time.
	OnTimeRate float64 `json:"max_rate_prompts_on_time"`
	CPU        float64 `json:"server_cpu_s"`
	Calls      int     `json:"successful_calls"`
	Limit      string  `json:"limited_by"`
}

// runRateSweep steps through rates until one fails.
func (b *bench) runRateSweep(ctx context.Context, scenario string, rates []float64) rateSweep {
	sw := rateSweep{Scenario: scenario, KeyAt: b.keyAt.String()}
	for _, rate := range rates {
		if ctx.Err() != nil {
			break
		}
		var passes, onTime []bool
		var failed rateStep
		for run := range b.repeat {
			if ctx.Err() != nil {
				break
			}
			b.run = run
			st := b.rateStep(ctx, scenario, rate)
			sw.Steps = append(sw.Steps, st)
			sw.CPU += st.ServerCPU
			sw.Calls += st.SIPp.Successful
			b.progress("rate %-9s %4.0f/s%s: %s", scenario, rate, runLabel(run, b.repeat), st.summary())
			passes, onTime = append(passes, st.Pass), append(onTime, st.OnTime)
			if !st.Pass && failed.Rate == 0 {
				failed = st
			}
		}
		all, any := rungPassed(passes)
		if all {
			sw.MaxRate = rate
		}
		if ok, _ := rungPassed(onTime); ok {
			sw.OnTimeRate = rate
		}
		if !all && sw.Limit == "" && failed.Rate > 0 {
			sw.Limit = b.limitOf(failed)
		}
		if !any {
			break
		}
	}
	if sw.Limit == "" && len(sw.Steps) > 0 {
		sw.Limit = "not reached: every rate up to -max-rate passed"
	}
	return sw
}

func (b *bench) rateStep(ctx context.Context, scenario string, rate float64) rateStep {
	calls := int(rate * b.duration.Seconds())
	st := rateStep{Scenario: scenario, Rate: rate, Calls: calls}
	fail := func(err error) rateStep { st.Err = err.Error(); return st }
	m0, err := b.srv.waitIdle(ctx, 60*time.Second)
	if err != nil {
		return fail(err)
	}
	caller := fmt.Sprintf("139%s%d%04d", map[string]string{"ivr_pcap": "1", "ivr_info": "2"}[scenario], b.run, int(rate))
	callLen := b.keyAt + shortAfterKey
	run := sippRun{
		Scenario: scenario + ".xml", Target: b.srv.sipAddr, Service: b.service, Caller: caller,
		Key: menuKey, Calls: calls, Rate: rate, Limit: int(rate*(callLen.Seconds()+10)) + 100,
		AnswerWait: b.keyAt, AfterKey: shortAfterKey,
		Timeout: b.duration*3 + callLen + 60*time.Second,
	}
	cpu0, err := b.srv.cpu()
	if err != nil {
		return fail(err)
	}
	meter := startMeter()
	p, err := startSIPp(ctx, run)
	if err != nil {
		return fail(err)
	}
	st.SIPp, err = p.wait()
	if err != nil {
		return fail(err)
	}
	machine, self := meter.cores()
	cpuRun, err := b.srv.cpu()
	if err != nil {
		return fail(err)
	}
	m1, err := b.srv.waitIdle(ctx, 60*time.Second)
	if err != nil {
		return fail(err)
	}
	st.Media = newMediaDelta(m0, m1)
	cpu1, err := b.srv.cpu()
	if err != nil {
		return fail(err)
	}
	if st.Outcomes, st.Queued, err = b.env.outcomes(ctx, caller, menuCategory); err != nil {
		return fail(err)
	}
	for _, n := range st.Outcomes {
		st.Records += n
	}
	st.fill(cpu1-cpu0, cpuRun-cpu0)
	st.OtherCores = max(0, machine-self-st.ServerCores-st.SIPpCores)
	return st
}

// fill derives the ratios and the verdict: serverCPU is the server's CPU over
// the whole step (until its last record is written), duringRun the part while
// SIPp ran.
func (st *rateStep) fill(serverCPU, duringRun time.Duration) {
	st.ServerCPU = serverCPU.Seconds()
	if w := st.SIPp.Wall.Seconds(); w > 0 {
		st.ServerCores = duringRun.Seconds() / w
		st.SIPpCores = st.SIPp.CPU.Seconds() / w
	}
	st.Achieved = st.SIPp.Achieved
	if st.SIPp.Successful > 0 {
		st.CPUPerCall = st.ServerCPU / float64(st.SIPp.Successful)
	}
	st.Success = float64(st.SIPp.Successful) / float64(st.Calls)
	st.RecordShare = float64(st.Queued) / float64(st.Calls)
	st.Pass = st.Err == "" && st.Success >= successTarget && st.RecordShare >= successTarget
	st.OnTime = st.Pass && intervalsOK(st.Media.IntervalP01, st.Media.IntervalP99)
}

func (st rateStep) summary() string {
	if st.Err != "" && st.SIPp.Created == 0 {
		return "ERROR " + st.Err
	}
	verdict := verdictOf(st.Pass)
	return fmt.Sprintf("%s  sipp %d/%d ok (%.2f%%, %d failed, %d retrans) achieved %.0f/s; records %d, queued %d %v; %s; server %.2f cores %.2f ms/call, sipp %.2f cores, other %.2f cores",
		verdict, st.SIPp.Successful, st.Calls, 100*st.Success, st.SIPp.Failed, st.SIPp.Retransmissions,
		st.Achieved, st.Records, st.Queued, st.Outcomes, st.Media, st.ServerCores, 1000*st.CPUPerCall, st.SIPpCores, st.OtherCores)
}

// limitOf says which side most likely limited a failed step: the machine has
// b.cpus cores shared by SIPp and the server.
func (b *bench) limitOf(st rateStep) string {
	cores := float64(b.cpus)
	switch {
	case st.Err != "" && st.SIPp.Created == 0:
		return "error: " + st.Err
	case st.Achieved > 0 && st.Achieved < 0.9*st.Rate:
		return fmt.Sprintf("SIPp could not create calls at %.0f/s (achieved %.0f/s; SIPp %.2f cores, server %.2f cores of %d)",
			st.Rate, st.Achieved, st.SIPpCores, st.ServerCores, b.cpus)
	case st.Success >= successTarget && st.Outcomes["abandoned_in_menu"] > st.Calls-st.Queued-st.Calls/1000-1:
		return fmt.Sprintf("the server got the keys (%.0f digits) but %d calls ended in the menu with the key %v after the answer: "+
			"the prompts played late (pacer lateness p99 %s ms, %s late, %.0f skipped ticks). "+
			"CPU: server %.2f, SIPp %.2f, other processes %.2f cores of %d",
			st.Media.DigitsRFC4733+st.Media.DigitsINFO, st.Outcomes["abandoned_in_menu"], b.keyAt, num(st.Media.LatenessP99), pct(st.Media.LateShare),
			st.Media.SkippedTicks, st.ServerCores, st.SIPpCores, st.OtherCores, b.cpus)
	case st.ServerCores+st.SIPpCores+st.OtherCores >= 0.85*cores:
		return fmt.Sprintf("CPU: the machine is saturated (server %.2f, SIPp %.2f, other processes %.2f cores of %d); %s",
			st.ServerCores, st.SIPpCores, st.OtherCores, b.cpus, biggest(st.ServerCores, st.SIPpCores, st.OtherCores))
	case st.SIPpCores >= 0.9:
		return fmt.Sprintf("SIPp's single-threaded main loop (%.2f cores) while the server used %.2f of %d", st.SIPpCores, st.ServerCores, b.cpus)
	default:
		return fmt.Sprintf("calls failed below CPU saturation (server %.2f, SIPp %.2f cores of %d): see the failure counts and the server log",
			st.ServerCores, st.SIPpCores, b.cpus)
	}
}

// biggest names the largest CPU consumer of a saturated step.
func biggest(server, sipp, other float64) string {
	switch {
	case server >= sipp && server >= other:
		return "the server used the most"
	case sipp >= other:
		return "SIPp used the most"
	default:
		return "processes outside the bench used the most"
	}
}

// mediaDelta is what the server's media engine counted during a step: where
// the keys went (RFC 4733 or INFO) and the RTP it received or dropped.
type mediaDelta struct {
	DigitsRFC4733 float64            `json:"digits_rfc4733"`
	DigitsINFO    float64            `json:"digits_sip_info"`
	RTPIn         float64            `json:"rtp_in"`
	Dropped       map[string]float64 `json:"dropped"`
	SendErrors    float64            `json:"send_errors"`
	SkippedTicks  float64            `json:"skipped_ticks"`
	LatenessP99   float64            `json:"lateness_p99_ms"`
	LateShare     float64            `json:"late_share"`
	IntervalP01   float64            `json:"interval_p01_ms"`
	IntervalP99   float64            `json:"interval_p99_ms"`
}

func newMediaDelta(m0, m1 metrics) mediaDelta {
	d := func(series string) float64 { return m1.value(series) - m0.value(series) }
	md := mediaDelta{
		DigitsRFC4733: d(`hotline_media_digits_total{source="rfc4733"}`),
		DigitsINFO:    d(`hotline_media_digits_total{source="sip_info"}`),
		RTPIn:         d("hotline_media_packets_received_total"),
		SendErrors:    d("hotline_media_send_errors_total"),
		SkippedTicks:  d("hotline_media_skipped_ticks_total"),
		Dropped:       map[string]float64{},
	}
	late := since(m0, m1, "hotline_media_send_lateness_seconds")
	md.LatenessP99 = 1000 * late.quantile(0.99)
	iv := since(m0, m1, "hotline_media_send_interval_seconds")
	md.IntervalP01, md.IntervalP99 = 1000*iv.quantile(0.01), 1000*iv.quantile(0.99)
	if sent := d("hotline_media_packets_sent_total"); sent > 0 {
		md.LateShare = d("hotline_media_late_packets_total") / sent
	}
	for _, reason := range []string{"rtcp", "invalid", "foreign", "bad_pt", "socket_full"} {
		if n := d(`hotline_media_packets_dropped_total{reason="` + reason + `"}`); n > 0 {
			md.Dropped[reason] = n
		}
	}
	return md
}

func (md mediaDelta) String() string {
	return fmt.Sprintf("digits rfc4733 %.0f info %.0f, rtp in %.0f, dropped %v, send errors %.0f; pacer lateness p99 %s ms, late %s, skipped ticks %.0f, send interval p1/p99 %s/%s ms",
		md.DigitsRFC4733, md.DigitsINFO, md.RTPIn, md.Dropped, md.SendErrors, num(md.LatenessP99), pct(md.LateShare), md.SkippedTicks,
		num(md.IntervalP01), num(md.IntervalP99))
}
