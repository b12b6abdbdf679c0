package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// metrics is one scrape of the server's /metrics: series text (name plus
// labels, as printed) to value.
type metrics map[string]float64

var scrapeClient = &http.Client{Timeout: 10 * time.Second}

// slowScrape bounds a scrape during a bridged concurrency plateau.
const slowScrape = 30 * time.Second

func scrape(url string) (metrics, error) {
	return scrapeWith(scrapeClient, url)
}

// scrapeTimed scrapes with its own timeout and says how long the answer took.
func scrapeTimed(url string, timeout time.Duration) (metrics, time.Duration, error) {
	start := time.Now()
	m, err := scrapeWith(&http.Client{Timeout: timeout}, url)
	return m, time.Since(start), err
}

func scrapeWith(client *http.Client, url string) (metrics, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: "series value" lines,
// comments skipped.
func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return m, nil
}

func (m metrics) value(series string) float64 { return m[series] }

// histogram is a cumulative Prometheus histogram (or the delta of two).
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
}

// histogram extracts name's buckets.
// since is histogram name's observations between the scrapes m0 and m1.
func since(m0, m1 metrics, name string) histogram {
	return m1.histogram(name).sub(m0.histogram(name))
}

func (m metrics) histogram(name string) histogram {
	prefix := name + `_bucket{le="`
	var h histogram
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(k[len(prefix):], `"}`), 64)
		if err == nil {
			bs = append(bs, bucket{le, v})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		h.bounds = append(h.bounds, b.le)
		h.counts = append(h.counts, b.n)
	}
	return h
}

// histogramOf extracts the buckets of name's series with the one label
// label="value" (e.g. route="GET /api/wall").
func (m metrics) histogramOf(name, label, value string) histogram {
	prefix := name + `_bucket{` + label + `="` + value + `",le="`
	var h histogram
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(k[len(prefix):], `"}`), 64)
		if err == nil {
			bs = append(bs, bucket{le, v})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		h.bounds = append(h.bounds, b.le)
		h.counts = append(h.counts, b.n)
	}
	return h
}

// sub is h minus an earlier scrape of the same histogram: the observations
// between the two scrapes.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(earlier.counts) {
			out.counts[i] -= earlier.counts[i]
		}
	}
	return out
}

func (h histogram) total() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile interpolates linearly inside the bucket, as PromQL's
// histogram_quantile does (the first bucket starts at 0). A quantile in the
// +Inf bucket returns +Inf. NaN when the histogram is empty.
func (h histogram) quantile(q float64) float64 {
	total := h.total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return math.Inf(1)
			}
			if c == below {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.bounds[i], c
	}
	return math.Inf(1)
}

// cdf is the share of observations ≤ x, interpolated inside a bucket (exact
// at bucket bounds).
func (h histogram) cdf(x float64) float64 {
	total := h.total()
	if total == 0 {
		return math.NaN()
	}
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if x <= h.bounds[i] {
			if math.IsInf(h.bounds[i], 1) || h.bounds[i] == lower {
				return c / total
			}
			return (below + (c-below)*(x-lower)/(h.bounds[i]-lower)) / total
		}
		lower, below = h.bounds[i], c
	}
	return 1
}

// between is the share of observations in (lo, hi].
func (h histogram) between(lo, hi float64) float64 {
	return h.cdf(hi) - h.cdf(lo)
}
