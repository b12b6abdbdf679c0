package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// RuntimeConfig tunes Go's garbage collector for the media engine.
//
// A collection's mark phase takes a whole P for its dedicated worker (with two
// Ps, half the machine) for as long as it lasts: at 500 IVR calls/s with about
// 1,500 calls up (4,000 goroutines, 60 MB live) a mark phase lasted a third of
// a second and came once a second (GOGC=100), and the pacer's timers, parked
// on the worker's P, fired up to 15 ms late (execution trace). Prompts then
// left off the 20 ± 2 ms grid. A larger GC percentage makes collections rare;
// the memory limit bounds what that costs in memory.
type RuntimeConfig struct {
	// GCPercent is GOGC: the heap grows by this share of the live heap
	// before the next collection. The GOGC variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is GOMEMLIMIT (e.g. "2GiB", "512MiB"; "0" for none): the
	// collector runs as often as it must to keep the process under it. The
	// GOMEMLIMIT variable, when set, wins.
	MemoryLimit string `yaml:"memory_limit"`
}

// DefaultRuntimeConfig: collections about ten times rarer than Go's default,
// and never past 2 GiB.
func DefaultRuntimeConfig() RuntimeConfig {
	return RuntimeConfig{GCPercent: 1000, MemoryLimit: "2GiB"}
}

func (c RuntimeConfig) validate() []error {
	var errs []error
	if c.GCPercent < 50 || c.GCPercent > 10000 {
		errs = append(errs, fmt.Errorf("runtime.gc_percent %d: want 50 to 10000", c.GCPercent))
	}
	if _, err := parseBytes(c.MemoryLimit); err != nil {
		errs = append(errs, fmt.Errorf("runtime.memory_limit: %w", err))
	}
	return errs
}

// apply sets the collector's knobs that the environment did not set.
func (c RuntimeConfig) apply(log *slog.Logger) {
	gc, limit := "GOGC from the environment", "GOMEMLIMIT from the environment"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.GCPercent)
		gc = fmt.Sprintf("gc_percent %d", c.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		n, _ := parseBytes(c.MemoryLimit) // validated
		if n > 0 {
			debug.SetMemoryLimit(n)
			limit = "memory_limit " + c.MemoryLimit
		} else {
			limit = "no memory limit"
		}
	}
	log.Info("go runtime: " + gc + ", " + limit)
}

// parseBytes reads a size such as "2GiB", "512MiB", "64KiB" or a plain
// number of bytes; "0" or "" is none.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a size such as 2GiB, 512MiB or 0", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return n * mult, nil
}
