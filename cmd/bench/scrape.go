package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Scrape-cost step: the supervisors' Prometheus scrapes every node's
// /metrics every 5 s; the target is ≤ 1 % of a core at that rate.
const (
	scrapeTargetShare = 0.01
	scrapeEvery       = 5 * time.Second
	scrapeCount       = 300
	scrapeIdle        = 3 * time.Second
)

// scrapeCost is the server CPU one /metrics scrape costs, measured as the
// server's CPU over scrapeCount back-to-back scrapes less its CPU at rest
// over as long (the figure is the server process's own CPU; the Redis and
// PostgreSQL reads behind the collectors run in their own processes).
type scrapeCost struct {
	Scrapes       int     `json:"scrapes"`
	CPUPerScrape  float64 `json:"cpu_ms_per_scrape"`
	WallPerScrape float64 `json:"wall_ms_per_scrape"`
	Bytes         int     `json:"bytes_per_scrape"`
	Series        int     `json:"series"`
	CoreShare     float64 `json:"core_share_at_5s"`
	ActiveCalls   float64 `json:"active_calls"`
	AgentsIn      float64 `json:"agents_logged_in"`
	Err           string  `json:"error,omitempty"`
}

func (b *bench) runScrapeCost(ctx context.Context) scrapeCost {
	c, err := b.measureScrape(ctx)
	if err != nil {
		c.Err = err.Error()
		b.progress("scrape cost: %v", err)
		return c
	}
	b.progress("scrape cost: %.2f ms CPU per scrape (%d series, %d bytes) = %.3f%% of a core at one scrape per %v",
		c.CPUPerScrape, c.Series, c.Bytes, 100*c.CoreShare, scrapeEvery)
	return c
}

func (b *bench) measureScrape(ctx context.Context) (scrapeCost, error) {
	url := b.srv.http + "/metrics"
	m, err := scrape(url)
	if err != nil {
		return scrapeCost{}, err
	}
	c := scrapeCost{Scrapes: scrapeCount, Series: len(m), ActiveCalls: m.value("hotline_sip_active_calls")}
	for series, v := range m {
		if strings.HasPrefix(series, "hotline_agents_by_state{") && !strings.Contains(series, `"offline"`) {
			c.AgentsIn += v
		}
	}
	// At rest first: the server's own background CPU over the same span.
	idle0, err := b.srv.cpu()
	if err != nil {
		return c, err
	}
	select {
	case <-ctx.Done():
		return c, ctx.Err()
	case <-time.After(scrapeIdle):
	}
	idle1, err := b.srv.cpu()
	if err != nil {
		return c, err
	}
	restPerSecond := (idle1 - idle0).Seconds() / scrapeIdle.Seconds()
	cpu0, err := b.srv.cpu()
	if err != nil {
		return c, err
	}
	start := time.Now()
	for range scrapeCount {
		n, err := scrapeBytes(ctx, url)
		if err != nil {
			return c, err
		}
		c.Bytes = n
	}
	wall := time.Since(start)
	cpu1, err := b.srv.cpu()
	if err != nil {
		return c, err
	}
	spent := max((cpu1-cpu0).Seconds()-restPerSecond*wall.Seconds(), 0)
	c.CPUPerScrape = 1000 * spent / scrapeCount
	c.WallPerScrape = float64(wall.Milliseconds()) / scrapeCount
	c.CoreShare = c.CPUPerScrape / 1000 / scrapeEvery.Seconds()
	return c, nil
}

// scrapeBytes reads one /metrics answer whole, as Prometheus does.
func scrapeBytes(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape: status %s, %v", resp.Status, err)
	}
	return int(n), nil
}

func (c scrapeCost) row(w func(string, ...any)) {
	if c.Err != "" {
		w("| server CPU per /metrics scrape | not measured: %s | — | |", c.Err)
		return
	}
	w("| server CPU per /metrics scrape (%d series, %d kB; %.0f calls up, %.0f agents logged in) | %.2f ms = %.3f%% of a core at one scrape per %v | ≤ %.0f%% | %s |",
		c.Series, c.Bytes/1000, c.ActiveCalls, c.AgentsIn, c.CPUPerScrape, 100*c.CoreShare, scrapeEvery, 100*scrapeTargetShare,
		met(c.CoreShare <= scrapeTargetShare))
}
