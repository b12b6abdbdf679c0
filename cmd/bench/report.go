package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/hotline-dev/hotline/sip/siptest"
)

// The targets the benchmark checks.
const (
	targetRate       = 500
	targetConcurrent = 2000
)

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	SIPp      string `json:"sipp"`
	OpenFiles uint64 `json:"open_files_limit"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(siptest.SIPpPath, "-v").CombinedOutput(); err == nil || len(out) > 0 {
		m.SIPp = strings.TrimSpace(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		m.OpenFiles = lim.Cur
	}
	return m
}

// result is the whole report.
type result struct {
	Command     string           `json:"command"`
	Duration    string           `json:"step_duration"`
	Parts       string           `json:"parts"`
	Machine     machine          `json:"machine"`
	Baseline    baseline         `json:"baseline"`
	Calibration calibration      `json:"calibration"`
	PCAP        rateSweep        `json:"call_rate_rfc4733"`
	Info        *rateSweep       `json:"call_rate_sip_info,omitempty"`
	Hold        holdSweep        `json:"concurrency"`
	Bridge      *bridgeResult    `json:"bridged,omitempty"`
	Soak        *soakResult      `json:"soak,omitempty"`
	Scrape      *scrapeCost      `json:"scrape,omitempty"`
	Panels      *panelsResult    `json:"panels,omitempty"`
	Callbacks   *callbacksResult `json:"callbacks,omitempty"`
	Repeat      int              `json:"repeat"`
	Repeats     []repeatRow      `json:"repeatability,omitempty"`
	ServerLog   logSummary       `json:"server_log"`
	Interrupted bool             `json:"interrupted"`
}

// logSummary counts the server's log lines by level and keeps the commonest
// warnings and errors.
type logSummary struct {
	Levels map[string]int `json:"levels"`
	Top    []string       `json:"top_warnings"`
}

func summarizeLog(path string) logSummary {
	s := logSummary{Levels: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return s
	}
	defer f.Close()
	msgs := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		level := field(line, "level=")
		s.Levels[level]++
		if level == "WARN" || level == "ERROR" {
			msgs[level+" "+field(line, "msg=")]++
		}
	}
	for k, n := range msgs {
		s.Top = append(s.Top, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Slice(s.Top, func(i, j int) bool { return s.Top[i] > s.Top[j] })
	s.Top = s.Top[:min(len(s.Top), 5)]
	return s
}

// field reads key=value or key="quoted value" from a slog text line.
func field(line, key string) string {
	i := strings.Index(line, key)
	if i < 0 {
		return "-"
	}
	v := line[i+len(key):]
	if strings.HasPrefix(v, `"`) {
		if j := strings.Index(v[1:], `"`); j >= 0 {
			return v[1 : j+1]
		}
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

func commandLine() string {
	return "go run ./cmd/bench " + strings.Join(os.Args[1:], " ")
}

func jsonPath(out string) string {
	return strings.TrimSuffix(out, ".md") + ".json"
}

// write writes the markdown report md to out and the JSON beside it. It
// replaces the NaN and infinite figures of r (empty or overflowing
// histograms) by -1, as encoding/json refuses them: render md first.
func (r *result) write(out, md string) error {
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	finite(reflect.ValueOf(r))
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(jsonPath(out), js, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// finite sets every NaN or infinite float64 reachable from v to -1.
func finite(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			finite(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				finite(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			finite(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Float64 {
			for _, k := range v.MapKeys() {
				if f := v.MapIndex(k).Float(); math.IsNaN(f) || math.IsInf(f, 0) {
					v.SetMapIndex(k, reflect.ValueOf(-1.0).Convert(v.Type().Elem()))
				}
			}
		}
	case reflect.Float64:
		if f := v.Float(); (math.IsNaN(f) || math.IsInf(f, 0)) && v.CanSet() {
			v.SetFloat(-1)
		}
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// cpuPerCall is the server's CPU over the RFC 4733 call-rate run ÷ the calls completed.
func (r *result) cpuPerCall() float64 {
	if r.PCAP.Calls == 0 {
		return math.NaN()
	}
	return r.PCAP.CPU / float64(r.PCAP.Calls)
}

// bestHold is the best passing step, or the first one when none passed.
func (r *result) bestHold() (holdStep, bool) {
	for i := len(r.Hold.Steps) - 1; i >= 0; i-- {
		if r.Hold.Steps[i].Pass {
			return r.Hold.Steps[i], true
		}
	}
	if len(r.Hold.Steps) > 0 {
		return r.Hold.Steps[0], false
	}
	return holdStep{}, false
}

// verdictOf is a step's verdict in the progress lines.
func verdictOf(pass bool) string {
	if pass {
		return "ok"
	}
	return "FAIL"
}
