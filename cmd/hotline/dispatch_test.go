package main

import "testing"

// The Match batch doubles while each Match fills it (a backlog), up to
// matchBurst × the base, and falls back to the base once one does not.
func TestNextBatch(t *testing.T) {
	const base = 10
	steps := []struct{ made, want int }{
		{10, 20}, // full: double
		{20, 40}, // full again: at the cap (4 × 10)
		{40, 40}, // full at the cap: stays
		{39, 10}, // not full: back to the base
		{0, 10},  // nothing to match
		{10, 20},
		{3, 10},
	}
	batch := base
	for i, s := range steps {
		got := nextBatch(batch, s.made, base, matchBurst)
		if got != s.want {
			t.Fatalf("step %d: batch %d, made %d → %d, want %d", i, batch, s.made, got, s.want)
		}
		batch = got
	}
}
