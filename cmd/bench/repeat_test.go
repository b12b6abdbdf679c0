package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestRepeatRows: five runs of two rungs give each rung's pass count and
// the median and worst of its figures, worst by the figure's direction.
func TestRepeatRows(t *testing.T) {
	var steps []bridgeRateStep
	for i, b := range []float64{0.999, 0.9995, 0.998, 1, 0.9992} {
		steps = append(steps, bridgeRateStep{Rate: 250, Bridged: b, Pass: b >= 0.999, Records: recordWrites{PGCommitsPS: float64(10 + i)}})
	}
	steps = append(steps, bridgeRateStep{Rate: 300, Bridged: 0.5}, bridgeRateStep{Rate: 300, Bridged: 0.9995, Pass: true})
	rows := repeatRows("bridged call rate", steps, func(s bridgeRateStep) string { return "r" + num(s.Rate) },
		func(s bridgeRateStep) bool { return s.Pass }, []figureOf[bridgeRateStep]{
			{"bridged", " %", func(s bridgeRateStep) float64 { return 100 * s.Bridged }, false},
			{"commits", "/s", func(s bridgeRateStep) float64 { return s.Records.PGCommitsPS }, true},
		})
	if len(rows) != 2 || rows[0].Runs != 5 || rows[0].Passes != 4 || rows[1].Runs != 2 || rows[1].Passes != 1 {
		t.Fatalf("rows %+v: want 4 of 5 and 1 of 2", rows)
	}
	b := rows[0].Values[0]
	if math.Abs(b.Median-99.92) > 1e-9 || math.Abs(b.Worst-99.8) > 1e-9 {
		t.Fatalf("bridged median/worst = %v/%v, want 99.92/99.8", b.Median, b.Worst)
	}
	if c := rows[0].Values[1]; c.Median != 12 || c.Worst != 14 {
		t.Fatalf("commits median/worst = %v/%v, want 12/14 (higher is worse)", c.Median, c.Worst)
	}
	if all, any := rungPassed([]bool{true, false, true}); all || !any {
		t.Fatal("a rung with one failed run of three must not pass, but the ladder goes on")
	}
	if all, _ := rungPassed(nil); all {
		t.Fatal("a rung with no run must not pass")
	}
	var md strings.Builder
	repeatTable(func(f string, a ...any) { md.WriteString(fmt.Sprintf(f, a...) + "\n") }, 5, rows)
	if !strings.Contains(md.String(), "| bridged call rate | r250.00 | 4 of 5 | bridged 99.92 / 99.80 %; commits 12.00 / 14.00/s |") {
		t.Fatalf("repeatability table:\n%s", md.String())
	}
}
