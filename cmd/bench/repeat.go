package main

import (
	"fmt"
	"math"
	"slices"
)

// Repeatability (-repeat N): each step of a sweep runs N times. A rung
// counts as passed only when every run of it passed, so the sweep's figure
// is the worst of N; the ladder goes on while any run of a rung passed
// (with -keep-going, to the end). The report's repeatability table gives,
// per rung, the pass count and the median and worst of its figures.

// realPeerRun is the run number of the bridge-hold real-peer check: above
// every -repeat run, so its callers' numbers are its own.
const realPeerRun = 9

// repeatRow is one rung of a sweep over its N runs.
type repeatRow struct {
	Sweep  string         `json:"sweep"`
	Step   string         `json:"step"`
	Runs   int            `json:"runs"`
	Passes int            `json:"passes"`
	Values []repeatFigure `json:"figures"`
}

// repeatFigure is one figure of a rung: its median and worst over the runs.
type repeatFigure struct {
	Name   string  `json:"name"`
	Median float64 `json:"median"`
	Worst  float64 `json:"worst"`
	Unit   string  `json:"unit"`
}

// figureOf says how to read one figure from a step, and which way is worse.
type figureOf[S any] struct {
	name, unit  string
	value       func(S) float64
	higherWorse bool
}

// repeatRows groups a sweep's steps (in run order, N per rung) by rung.
func repeatRows[S any](sweep string, steps []S, rung func(S) string, pass func(S) bool, figs []figureOf[S]) []repeatRow {
	var rows []repeatRow
	byRung := map[string]int{}
	var groups [][]S
	for _, st := range steps {
		k := rung(st)
		i, ok := byRung[k]
		if !ok {
			i = len(groups)
			byRung[k] = i
			groups = append(groups, nil)
			rows = append(rows, repeatRow{Sweep: sweep, Step: k})
		}
		groups[i] = append(groups[i], st)
	}
	for i, g := range groups {
		row := &rows[i]
		row.Runs = len(g)
		for _, st := range g {
			if pass(st) {
				row.Passes++
			}
		}
		for _, f := range figs {
			var xs []float64
			for _, st := range g {
				if v := f.value(st); !math.IsNaN(v) {
					xs = append(xs, v)
				}
			}
			row.Values = append(row.Values, repeatFigure{Name: f.name, Unit: f.unit,
				Median: median(xs), Worst: worstOf(xs, f.higherWorse)})
		}
	}
	return rows
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func worstOf(xs []float64, higherWorse bool) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	if higherWorse {
		return slices.Max(xs)
	}
	return slices.Min(xs)
}

// rungPassed is the worst-of-N verdict of a rung's runs; anyPassed says
// whether the ladder goes on.
func rungPassed(passes []bool) (all, any bool) {
	all = len(passes) > 0
	for _, p := range passes {
		all = all && p
		any = any || p
	}
	return all, any
}

// repeatTable renders the repeatability rows.
func repeatTable(w func(string, ...any), repeat int, rows []repeatRow) {
	if repeat <= 1 || len(rows) == 0 {
		return
	}
	w("")
	w("## Repeatability: each step %d times", repeat)
	w("")
	w("A rung counts as passed only when all %d runs passed (the figures above are the worst of %d). Median and worst of each figure over the runs.", repeat, repeat)
	w("")
	w("| sweep | step | passed | figures: median / worst |")
	w("|---|---|---|---|")
	for _, r := range rows {
		var figs string
		for i, f := range r.Values {
			if i > 0 {
				figs += "; "
			}
			figs += fmt.Sprintf("%s %s / %s%s", f.Name, num(f.Median), num(f.Worst), f.Unit)
		}
		w("| %s | %s | %d of %d | %s |", r.Sweep, r.Step, r.Passes, r.Runs, figs)
	}
}

// repeats builds every sweep's repeatability rows.
func (r *result) repeats() []repeatRow {
	var rows []repeatRow
	rateFigs := []figureOf[rateStep]{
		{"SIPp ok", " %", func(s rateStep) float64 { return 100 * s.Success }, false},
		{"queued records", " %", func(s rateStep) float64 { return 100 * s.RecordShare }, false},
		{"interval p99", " ms", func(s rateStep) float64 { return s.Media.IntervalP99 }, true},
		{"server", " ms/call", func(s rateStep) float64 { return 1000 * s.CPUPerCall }, true},
	}
	rateRung := func(s rateStep) string { return fmt.Sprintf("%.0f/s", s.Rate) }
	rows = append(rows, repeatRows("IVR call rate ("+r.PCAP.Scenario+")", r.PCAP.Steps, rateRung, func(s rateStep) bool { return s.Pass }, rateFigs)...)
	rows = append(rows, repeatRows("IVR concurrency", r.Hold.Steps, func(s holdStep) string { return fmt.Sprintf("%d calls", s.Calls) },
		func(s holdStep) bool { return s.Pass }, []figureOf[holdStep]{
			{"interval p1", " ms", func(s holdStep) float64 { return s.IntervalP01 }, false},
			{"interval p99", " ms", func(s holdStep) float64 { return s.IntervalP99 }, true},
		})...)
	if br := r.Bridge; br != nil {
		rows = append(rows, repeatRows("bridged call rate", br.Rate.Steps, func(s bridgeRateStep) string { return fmt.Sprintf("%.0f/s", s.Rate) },
			func(s bridgeRateStep) bool { return s.Pass }, []figureOf[bridgeRateStep]{
				{"bridged", " %", func(s bridgeRateStep) float64 { return 100 * s.Bridged }, false},
				{"records spooled", "", func(s bridgeRateStep) float64 { return s.Records.Spooled }, true},
				{"PostgreSQL", " commits/s", func(s bridgeRateStep) float64 { return s.Records.PGCommitsPS }, true},
				{"server", " ms/call", func(s bridgeRateStep) float64 { return 1000 * s.CPUPerCall }, true},
			})...)
		rows = append(rows, repeatRows("bridged concurrency", br.Hold.Steps, func(s bridgeHoldStep) string { return fmt.Sprintf("%d calls", s.Calls) },
			func(s bridgeHoldStep) bool { return s.Pass }, []figureOf[bridgeHoldStep]{
				{"bridged", "", func(s bridgeHoldStep) float64 { return s.Bridged }, false},
				{"added jitter p99", " ms", func(s bridgeHoldStep) float64 { return s.Relay.JitterP99 }, true},
				{"within 5 ms", " %", func(s bridgeHoldStep) float64 { return 100 * s.Relay.JitterWithin }, false},
				{"go peer jitter p99", " ms", func(s bridgeHoldStep) float64 {
					if s.Peer == nil {
						return math.NaN()
					}
					return s.Peer.JitterP99
				}, true},
			})...)
	}
	return rows
}

// runLabel names a run of a repeated step in the progress lines.
func runLabel(run, repeat int) string {
	if repeat <= 1 {
		return ""
	}
	return fmt.Sprintf(" (run %d of %d)", run+1, repeat)
}
