package main

import (
	"context"
	"fmt"
	"time"
)

// Callbacks step (-only callbacks, only when named): callbackAgents SIPp
// agents serving one category, callbackRequests pending callback requests,
// and a SIPp UAS as the trunk's callees (callback_callee.xml: ring, answer,
// hang up callbackTalk after the answer). It reports the callbacks
// connected per minute over callbackWindow and the time from an agent
// becoming free to the callee's phone ringing (the server's
// hotline_callbacks_free_to_ring_seconds, p50/p99 from its buckets).
const (
	callbackAgents   = 50
	callbackRequests = 1000
	// callbackTalk: the callee hangs up this long after answering; the
	// first ~5 s are the intro prompt (zh-CN callback_intro).
	callbackTalk   = 8 * time.Second
	callbackWindow = 90 * time.Second
	// Staff numbers of the callbacks pool: the matching pool's range, so
	// the step runs alone (parseParts).
	callbackStaffBase, callbackStaffMax = 9000, 9999
)

// callbacksResult is the callbacks step's figures.
type callbacksResult struct {
	Agents       int     `json:"agents"`
	Requests     int     `json:"requests"`
	Window       float64 `json:"window_s"`
	Connected    int     `json:"connected"`
	Failed       int     `json:"failed"`
	PerMinute    float64 `json:"connected_per_minute"`
	FreeToRingN  float64 `json:"free_to_ring_samples"`
	FreeToRing50 float64 `json:"free_to_ring_p50_ms"`
	FreeToRing99 float64 `json:"free_to_ring_p99_ms"`
	CPUPerCall   float64 `json:"server_cpu_ms_per_callback"`
	Err          string  `json:"error,omitempty"`
}

func (b *bench) runCallbacks(ctx context.Context) callbacksResult {
	r, err := b.measureCallbacks(ctx)
	if err != nil {
		r.Err = err.Error()
		b.progress("callbacks: %v", err)
		return r
	}
	b.progress("callbacks: %d connected in %.0f s = %.0f per minute with %d agents; free → ringing p50 %.0f ms, p99 %.0f ms",
		r.Connected, r.Window, r.PerMinute, r.Agents, r.FreeToRing50, r.FreeToRing99)
	return r
}

func (b *bench) measureCallbacks(ctx context.Context) (callbacksResult, error) {
	res := callbacksResult{Agents: callbackAgents, Requests: callbackRequests}
	left := overallLimit
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	trunk, err := startSIPp(ctx, sippRun{Scenario: "callback_callee.xml", UAS: true, SIPPort: b.env.trunkPort,
		Audio: talkAudio(), Data: map[string]int64{"TalkMS": callbackTalk.Milliseconds()}, Timeout: left})
	if err != nil {
		return res, fmt.Errorf("trunk: %w", err)
	}
	defer func() { _, _ = trunk.stop(10 * time.Second) }()
	uas, port, err := b.startUAS(ctx, talkAudio(), agentPatience, 0)
	if err != nil {
		return res, fmt.Errorf("agents' phones: %w", err)
	}
	defer func() { _, _ = uas.stop(10 * time.Second) }()
	pool, err := newAgentPool("callbacks", "k", callbackStaffBase, callbackStaffMax, port)
	if err != nil {
		return res, err
	}
	if _, err := b.growAgents(ctx, pool, callbackAgents); err != nil {
		return res, fmt.Errorf("agents: %w", err)
	}
	cpu0, err := b.srv.cpu()
	if err != nil {
		return res, err
	}
	if _, err := b.env.db.Exec(ctx, `INSERT INTO callback_requests (call_id, caller, category, reason, requested_at)
		SELECT 'bench-cb-' || i, '139' || lpad(i::text, 8, '0'), $1, 'after_hours', now()
		FROM generate_series(1, $2) AS i`, menuCategory, callbackRequests); err != nil {
		return res, fmt.Errorf("store requests: %w", err)
	}
	start := time.Now()
	// The first wave's agents were free since their login, before any
	// request existed: the time to ring counts from the second wave on.
	var before metrics
	for before == nil && time.Since(start) < callbackWindow {
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return res, err
		}
		m, err := scrape(b.srv.http + "/metrics")
		if err != nil {
			return res, err
		}
		if m.value("hotline_callbacks_placed_total") >= callbackAgents {
			before = m
		}
	}
	if before == nil {
		return res, fmt.Errorf("fewer than %d callbacks placed in %v", callbackAgents, callbackWindow)
	}
	for time.Since(start) < callbackWindow && ctx.Err() == nil {
		if err := sleepCtx(ctx, time.Second); err != nil {
			return res, err
		}
		if err := b.env.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'connected'), count(*) FILTER (WHERE status = 'failed')
			FROM callback_requests`).Scan(&res.Connected, &res.Failed); err != nil {
			return res, err
		}
		if res.Connected+res.Failed == callbackRequests {
			break
		}
	}
	res.Window = time.Since(start).Seconds()
	res.PerMinute = float64(res.Connected) / res.Window * 60
	after, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		return res, err
	}
	cpu1, err := b.srv.cpu()
	if err != nil {
		return res, err
	}
	if res.Connected > 0 {
		res.CPUPerCall = float64((cpu1 - cpu0).Milliseconds()) / float64(res.Connected)
	}
	h := after.histogram("hotline_callbacks_free_to_ring_seconds").sub(before.histogram("hotline_callbacks_free_to_ring_seconds"))
	res.FreeToRingN = h.total()
	res.FreeToRing50, res.FreeToRing99 = 1000*h.quantile(0.5), 1000*h.quantile(0.99)
	return res, nil
}

func (r callbacksResult) row(w func(string, ...any)) {
	if r.Err != "" {
		w("| callbacks placed | not measured: %s | — | |", r.Err)
		return
	}
	w("| callbacks connected per minute (%d agents, %d pending, callee talks %v incl. the intro; %d connected, %d failed in %.0f s) | %.0f/min, %.1f ms server CPU each | — | |",
		r.Agents, r.Requests, callbackTalk, r.Connected, r.Failed, r.Window, r.PerMinute, r.CPUPerCall)
	w("| agent free (after a callback's wrap-up) → the next callee's phone ringing (%0.f callbacks, from the histogram's buckets) | p50 %.0f ms, p99 %.0f ms | — | |",
		r.FreeToRingN, r.FreeToRing50, r.FreeToRing99)
}
