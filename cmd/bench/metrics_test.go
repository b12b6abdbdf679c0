package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const sampleMetrics = `# HELP hotline_media_send_interval_seconds Time between two packets.
# TYPE hotline_media_send_interval_seconds histogram
hotline_media_send_interval_seconds_bucket{le="0.018"} 10
hotline_media_send_interval_seconds_bucket{le="0.022"} 990
hotline_media_send_interval_seconds_bucket{le="0.04"} 1000
hotline_media_send_interval_seconds_bucket{le="+Inf"} 1000
hotline_media_send_interval_seconds_count 1000
hotline_media_digits_total{source="rfc4733"} 7
hotline_sip_active_calls 3
`

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, series string
		want         float64
	}{
		{"plain gauge", "hotline_sip_active_calls", 3},
		{"labelled counter", `hotline_media_digits_total{source="rfc4733"}`, 7},
		{"bucket", `hotline_media_send_interval_seconds_bucket{le="+Inf"}`, 1000},
		{"absent series", "hotline_nothing", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.value(tc.series); got != tc.want {
				t.Fatalf("value(%s) = %v, want %v", tc.series, got, tc.want)
			}
		})
	}
	if _, err := parseMetrics(strings.NewReader("novalue\n")); err == nil {
		t.Fatal("a line without a value parsed")
	}
}

func TestHistogram(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	h := m.histogram("hotline_media_send_interval_seconds")
	half := histogram{bounds: h.bounds, counts: []float64{5, 495, 500, 500}}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"total", h.total(), 1000},
		{"p1 at the first bound", h.quantile(0.01), 0.018},
		{"p50 interpolated", h.quantile(0.5), 0.018 + 0.004*(500-10)/980},
		{"p99 at a bound", h.quantile(0.99), 0.022},
		{"p99.5 interpolated", h.quantile(0.995), 0.022 + 0.018*0.5},
		{"share within 18-22 ms", h.between(0.018, 0.022), 0.98},
		{"cdf below the first bound", h.cdf(0.009), 0.005},
		{"delta of two scrapes", h.sub(half).total(), 500},
		{"delta p99", h.sub(half).quantile(0.99), 0.022},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-12 {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if q := (histogram{}).quantile(0.99); !math.IsNaN(q) {
		t.Fatalf("empty histogram quantile = %v, want NaN", q)
	}
}

func TestLadder(t *testing.T) {
	tests := []struct {
		name  string
		limit float64
		want  []float64
	}{
		{"below the first rung", 30, []float64{30}},
		{"between rungs", 250, []float64{50, 100, 200, 250}},
		{"above the rungs", 1100, []float64{50, 100, 200, 300, 400, 500, 600, 800, 1000, 1100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ladder([]float64{50, 100, 200, 300, 400, 500, 600, 800}, tc.limit, 200)
			if len(got) != len(tc.want) {
				t.Fatalf("ladder = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ladder = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// The concurrency target: p1 and p99 send intervals both within 20 ± 2 ms.
func TestIntervalsOK(t *testing.T) {
	tests := []struct {
		p01, p99 float64
		want     bool
	}{
		{19.0, 21.0, true},
		{18.0, 22.0, true},
		{19.0, 22.5, false}, // p99 late
		{17.5, 21.0, false}, // p1 early
		{math.NaN(), 21.0, false},
		{19.0, math.NaN(), false},
	}
	for _, tt := range tests {
		if got := intervalsOK(tt.p01, tt.p99); got != tt.want {
			t.Errorf("intervalsOK(%v, %v) = %v, want %v", tt.p01, tt.p99, got, tt.want)
		}
	}
}

// The soak's verdict: a figure that grows past soakGrowth (and its slack)
// from the first steady quarter to the last is not flat; the warm-up is
// left out.
func TestSoakTrends(t *testing.T) {
	samples := func(last float64) []soakSample {
		var out []soakSample
		for i := range 40 {
			heap := 100.0
			if i >= 30 {
				heap = last
			}
			// RSS climbs (GOGC 1000): reported, not judged.
			out = append(out, soakSample{At: float64(i * 5), RSSMB: float64(100 + 20*i), HeapLiveMB: heap,
				Goroutines: 300, FDs: 100, RTPPorts: 50})
		}
		out[0].HeapLiveMB = 10 // warm-up: ignored
		return out
	}
	for _, tc := range []struct {
		name string
		last float64
		flat bool
	}{
		{"steady", 100, true},
		{"noise", 140, true},
		{"leak", 200, false},
	} {
		tr, flat := soakTrends(samples(tc.last), 200*time.Second)
		if flat != tc.flat || tr["heap_live_mb"].Flat != tc.flat {
			t.Errorf("%s: flat %v (%+v), want %v", tc.name, flat, tr["heap_live_mb"], tc.flat)
		}
	}
}
