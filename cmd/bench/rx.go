package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// rxSummary is the receiving side: a few Go callers dialled beside SIPp that
// timestamp every RTP packet they get (SIPp does not measure this).
type rxSummary struct {
	Dialled int     `json:"dialled"`
	Heard   int     `json:"heard"` // calls with at least 100 audio packets
	P50     float64 `json:"inter_arrival_p50_ms"`
	// P99Median and P99Worst are the median and the largest of the calls'
	// inter-arrival p99s. A call's gaps include the few prompt boundaries.
	P99Median float64 `json:"inter_arrival_p99_median_ms"`
	P99Worst  float64 `json:"inter_arrival_p99_worst_ms"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func (r rxSummary) brief() string {
	if r.Heard == 0 {
		return fmt.Sprintf("n/a (%d/%d calls heard)", r.Heard, r.Dialled)
	}
	return fmt.Sprintf("%.2f ms median, %.2f worst of %d calls", r.P99Median, r.P99Worst, r.Heard)
}

// receivers are the sample calls of one step.
type receivers struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	stats  []siptest.PacketStats
	errs   []error
	n      int
	caller *siptest.Caller
}

// startReceivers dials b.sampleCalls calls spread over the ramp. Each presses
// the menu key by RFC 4733 after the greeting and listens until `until`
// after the start, then hangs up.
func (b *bench) startReceivers(ctx context.Context, ramp, until time.Duration) *receivers {
	r := &receivers{n: b.sampleCalls}
	if r.n == 0 {
		return r
	}
	c, err := siptest.NewCaller("hotline-bench-rx", nil)
	if err != nil {
		r.errs = append(r.errs, err)
		return r
	}
	r.caller = c
	start := time.Now()
	for i := range r.n {
		at := time.Duration(i) * ramp / time.Duration(r.n)
		r.wg.Go(func() { r.one(ctx, b.srv.sipAddr, b.service, i, start.Add(at), start.Add(until)) })
	}
	return r
}

func (r *receivers) one(ctx context.Context, sipAddr, service string, i int, at, until time.Time) {
	record := func(st siptest.PacketStats, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.errs = append(r.errs, err)
			return
		}
		r.stats = append(r.stats, st)
	}
	if err := sleepCtx(ctx, time.Until(at)); err != nil {
		record(siptest.PacketStats{}, err)
		return
	}
	call, err := r.caller.Dial(ctx, siptest.DialOptions{
		Target: "sip:" + service + "@" + sipAddr,
		From:   fmt.Sprintf("sip:136%08d@%s", i, loopback),
	})
	if err != nil {
		record(siptest.PacketStats{}, fmt.Errorf("dial: %w", err))
		return
	}
	defer func() {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = call.Hangup(hctx)
	}()
	if err := sleepCtx(ctx, holdAnswerWait); err != nil {
		record(siptest.PacketStats{}, err)
		return
	}
	if err := call.SendDTMF(holdKey); err != nil {
		record(siptest.PacketStats{}, fmt.Errorf("dtmf: %w", err))
		return
	}
	if err := sleepCtx(ctx, time.Until(until)); err != nil {
		record(siptest.PacketStats{}, err)
		return
	}
	record(call.PacketStats(), nil)
}

// wait collects the sample calls' statistics and closes the caller.
func (r *receivers) wait() rxSummary {
	r.wg.Wait()
	if r.caller != nil {
		_ = r.caller.Close()
	}
	s := rxSummary{Dialled: r.n, Errors: len(r.errs)}
	if len(r.errs) > 0 {
		s.FirstErr = r.errs[0].Error()
	}
	var p50, p99 []float64
	for _, st := range r.stats {
		if st.AudioPackets < 100 {
			continue
		}
		s.Heard++
		p50 = append(p50, ms(st.InterArrivalP50))
		p99 = append(p99, ms(st.InterArrivalP99))
	}
	if s.Heard > 0 {
		slices.Sort(p50)
		slices.Sort(p99)
		s.P50, s.P99Median, s.P99Worst = p50[len(p50)/2], p99[len(p99)/2], p99[len(p99)-1]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
