package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

// Targets of the panels part.
const (
	panelsEventTarget = 0.500 // state change → event at the panel, p99 (s)
	panelsCallTarget  = 0.050 // a page or data call, p99 (s)
	// panelsProbeEvery spaces the page and data calls of the probe.
	panelsProbeEvery = 25 * time.Millisecond
)

type panelsOptions struct {
	count int
	rate  float64
}

// panelsResult is the panels part of the report.
type panelsResult struct {
	Panels     int     `json:"panels"`
	Agents     int     `json:"agents_signed_in"`
	Rate       float64 `json:"bridge_rate"`
	Bridged    float64 `json:"bridged_share"`
	Events     int     `json:"state_events"`
	EventP50MS float64 `json:"event_p50_ms"`
	EventP99MS float64 `json:"event_p99_ms"`
	EventMaxMS float64 `json:"event_max_ms"`
	Ended      int     `json:"streams_ended_early"`
	// ServerP99MS is the server's own event delay (Redis → written to the
	// panel's connection), p99 from hotline_panel_event_delay_seconds.
	ServerP50MS float64 `json:"server_event_p50_ms"`
	ServerP99MS float64 `json:"server_event_p99_ms"`
	// FanoutP99US is the hub's time to hand one event to its panels.
	FanoutP99US float64                  `json:"fanout_p99_us"`
	Calls       map[string]panelsLatency `json:"calls"`
	Err         string                   `json:"error,omitempty"`
}

// panelsLatency is one route's time as the client saw it on loopback (an
// upper bound of the server's time).
type panelsLatency struct {
	N      int     `json:"n"`
	Status int     `json:"status"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	// ServerP99MS is the server's time (its request histogram), p99
	// within the bucket it falls in.
	ServerP99MS float64 `json:"server_p99_ms"`
}

// runPanels signs agents of the bridged pool in, opens o.count event
// streams, and runs one bridged call-rate step at o.rate while measuring
// each state event's delay (its "at", stamped by Redis, to its arrival) and
// the page and data calls of an agent and a supervisor.
func (b *bench) runPanels(ctx context.Context, o panelsOptions, talk time.Duration) *panelsResult {
	res := &panelsResult{Panels: o.count, Rate: o.rate, Calls: map[string]panelsLatency{}}
	fail := func(err error) *panelsResult { res.Err = err.Error(); b.progress("panels: ERROR %v", err); return res }
	r := &bridgeRun{b: b, res: &bridgeResult{}, audio: talkAudio(), cursor: &logCursor{path: b.srv.logPath}}
	if err := r.startAgents(ctx); err != nil {
		return fail(err)
	}
	defer func() { _, _ = r.uas.stop(10 * time.Second) }()
	need := agentsFor(o.rate, b.duration, talk)
	if _, err := r.grow(ctx, need); err != nil {
		return fail(err)
	}
	// Up to 8 panels per agent (the hub's limit): the agents of the pool
	// take the calls, so their panels see real state changes.
	res.Agents = min(need, o.count)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	cookies := make([]string, res.Agents)
	for i := range cookies {
		c, err := panelLogin(ctx, cl, b.srv.api, r.pool.id(i), r.pool.password)
		if err != nil {
			return fail(err)
		}
		cookies[i] = c
	}
	sup, err := b.panelSupervisor(ctx, cl)
	if err != nil {
		return fail(err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	var delays []float64
	var wg sync.WaitGroup
	opened := make(chan error, o.count)
	for i := range o.count {
		wg.Go(func() {
			d, ended := panelStream(sctx, tr, b.srv.api, cookies[i%len(cookies)], opened)
			mu.Lock()
			delays = append(delays, d...)
			if ended && sctx.Err() == nil {
				res.Ended++
			}
			mu.Unlock()
		})
	}
	for range o.count {
		if err := <-opened; err != nil {
			stop()
			wg.Wait()
			return fail(err)
		}
	}
	b.progress("panels: %d streams open for %d agents; bridged calls at %.0f/s", o.count, res.Agents, o.rate)
	m0, err := scrape(b.srv.http + "/metrics")
	if err != nil {
		stop()
		wg.Wait()
		return fail(err)
	}
	probe := map[string][]float64{}
	status := map[string]int{}
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		b.panelProbe(sctx, cl, cookies[0], sup, probe, status)
	}()
	st := r.rateStep(ctx, o.rate, talk)
	stop()
	wg.Wait()
	<-pdone
	res.Bridged = st.Bridged
	if m1, err := scrape(b.srv.http + "/metrics"); err == nil {
		d := since(m0, m1, "hotline_panel_event_delay_seconds")
		res.ServerP50MS, res.ServerP99MS = 1000*d.quantile(0.5), 1000*d.quantile(0.99)
		res.FanoutP99US = 1e6 * since(m0, m1, "hotline_panel_fanout_seconds").quantile(0.99)
		defer func() {
			for _, rt := range panelRoutes {
				c, ok := res.Calls[rt.name]
				if !ok {
					continue
				}
				name := "hotline_api_request_duration_seconds"
				if rt.panel {
					name = "hotline_panel_request_duration_seconds"
				}
				h := m1.histogramOf(name, "route", rt.route).sub(m0.histogramOf(name, "route", rt.route))
				c.ServerP99MS = 1000 * h.quantile(0.99)
				res.Calls[rt.name] = c
			}
		}()
	}
	if st.Err != "" {
		res.Err = "bridge step: " + st.Err
	}
	slices.Sort(delays)
	res.Events = len(delays)
	if len(delays) > 0 {
		res.EventP50MS, res.EventP99MS, res.EventMaxMS = 1000*quantile(delays, 0.5), 1000*quantile(delays, 0.99), 1000*delays[len(delays)-1]
	}
	for route, xs := range probe {
		slices.Sort(xs)
		res.Calls[route] = panelsLatency{N: len(xs), Status: status[route], P50MS: 1000 * quantile(xs, 0.5), P99MS: 1000 * quantile(xs, 0.99)}
	}
	b.progress("panels: %d state events, delay p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d streams ended early; %.1f%% bridged",
		res.Events, res.EventP50MS, res.EventP99MS, res.EventMaxMS, res.Ended, 100*res.Bridged)
	return res
}

// panelLogin signs id in and returns its session cookie.
func panelLogin(ctx context.Context, cl *http.Client, api, id, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"agent_id": id, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign %s in: %w", id, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "hotline_session" && resp.StatusCode == http.StatusOK {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("sign %s in: status %d", id, resp.StatusCode)
}

// panelSupervisor adds a supervisor to the directory and signs it in.
func (b *bench) panelSupervisor(ctx context.Context, cl *http.Client) (string, error) {
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	id := "bsup1"
	dir := agents.NewDirectory(b.env.db, b.env.realm)
	err := dir.Add(ctx, agents.Agent{ID: id, DisplayName: "Bench supervisor", StaffNumber: "9998",
		Categories: []string{menuCategory}, Role: agents.RoleSupervisor}, hex.EncodeToString(pw))
	if err != nil {
		return "", err
	}
	return panelLogin(ctx, cl, b.srv.api, id, hex.EncodeToString(pw))
}

// panelStream reads one panel's event stream until ctx ends and returns
// the delays of its state events (seconds); ended is true when the server
// closed it first.
func panelStream(ctx context.Context, tr *http.Transport, api, cookie string, opened chan<- error) (delays []float64, ended bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/panel/events", nil)
	if err != nil {
		opened <- err
		return nil, false
	}
	req.Header.Set("Cookie", cookie)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		opened <- fmt.Errorf("open a panel: %w", err)
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		opened <- fmt.Errorf("open a panel: status %d", resp.StatusCode)
		return nil, false
	}
	opened <- nil
	rd := bufio.NewReaderSize(resp.Body, 16<<10)
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return delays, ctx.Err() == nil && !errors.Is(err, context.Canceled)
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		now := time.Now()
		var ev struct {
			Type string `json:"type"`
			At   int64  `json:"at"`
		}
		if json.Unmarshal(data, &ev) == nil && ev.Type == agents.EventState && ev.At > 0 {
			delays = append(delays, now.Sub(time.UnixMilli(ev.At)).Seconds())
		}
	}
}

// panelRoutes are the page and data calls the probe makes: an agent's and
// a supervisor's.
var panelRoutes = []struct {
	name, path string
	route      string // the server's route pattern (its histograms' label)
	sup, panel bool
}{
	{"GET /panel/ (page)", "/panel/", "GET /panel/{$}", false, true},
	{"GET /panel/static/agent.js", "/panel/static/agent.js", "GET /panel/static/{file}", false, true},
	{"GET /api/agent/state", "/api/agent/state", "GET /api/agent/state", false, false},
	{"GET /api/agent/call", "/api/agent/call", "GET /api/agent/call", false, false},
	{"GET /api/tickets?status=draft", "/api/tickets?status=draft", "GET /api/tickets", false, false},
	{"GET /panel/wall (page)", "/panel/wall", "GET /panel/wall", true, true},
	{"GET /api/wall", "/api/wall", "GET /api/wall", true, false},
}

// panelProbe calls each route in turn every panelsProbeEvery until ctx ends.
func (b *bench) panelProbe(ctx context.Context, cl *http.Client, agentCookie, supCookie string, out map[string][]float64, status map[string]int) {
	tick := time.NewTicker(panelsProbeEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rt := panelRoutes[i%len(panelRoutes)]
		cookie := agentCookie
		if rt.sup {
			cookie = supCookie
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.api+rt.path, nil)
		req.Header.Set("Cookie", cookie)
		start := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out[rt.name] = append(out[rt.name], time.Since(start).Seconds())
		status[rt.name] = resp.StatusCode
	}
}

// rows adds the panels part to the figures table.
func (p *panelsResult) rows(w func(string, ...any)) {
	if p.Err != "" && p.Events == 0 {
		w("| panels: state change → event at the panel | not measured: %s | — | |", p.Err)
		return
	}
	w("| panels: state change (Redis) → event read at the panel, p50 / p99 / max (%d events; %d open panels of %d agents; bridged calls at %.0f/s, %.1f%% bridged) | %.1f / %.1f / %.1f ms | p99 ≤ %.0f ms | %s |",
		p.Events, p.Panels, p.Agents, p.Rate, 100*p.Bridged, p.EventP50MS, p.EventP99MS, p.EventMaxMS, 1000*panelsEventTarget,
		met(p.Events > 0 && p.EventP99MS <= 1000*panelsEventTarget))
	w("| panels: the server's part of that delay (Redis → written to the panel's connection; hotline_panel_event_delay_seconds), p50 / p99 | %.1f / %.1f ms | p99 ≤ %.0f ms | %s |",
		p.ServerP50MS, p.ServerP99MS, 1000*panelsEventTarget, met(p.Events > 0 && p.ServerP99MS <= 1000*panelsEventTarget))
	w("| panels: fan-out of one event to its panels (hotline_panel_fanout_seconds), p99 | %.0f µs | — | |", p.FanoutP99US)
	w("| panels: event streams the server ended during the step (dropped as slow) | %d | 0 | %s |", p.Ended, met(p.Ended == 0))
	for _, rt := range panelRoutes {
		c, ok := p.Calls[rt.name]
		if !ok {
			continue
		}
		if c.Status == http.StatusNotFound {
			w("| panels: %s | not served by this build (404) | — | |", rt.name)
			continue
		}
		w("| panels: %s, server p99 (its request histogram) and client p50 / p99 on loopback (%d calls, status %d) | %.1f ms; client %.1f / %.1f ms | server p99 ≤ %.0f ms | %s |",
			rt.name, c.N, c.Status, c.ServerP99MS, c.P50MS, c.P99MS, 1000*panelsCallTarget, met(c.ServerP99MS <= 1000*panelsCallTarget))
	}
	if p.Err != "" {
		w("| panels: note | %s | | |", strings.ReplaceAll(p.Err, "|", "/"))
	}
}
