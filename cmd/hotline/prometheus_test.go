package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs/grafana"
	"gopkg.in/yaml.v3"
)

// promServer is Debian's Prometheus on loopback with a temporary data
// folder, running the shipped scrape and rule files against a test node.
type promServer struct {
	t    *testing.T
	base string // http://127.0.0.1:port
}

// startPrometheus rewrites configs/prometheus/prometheus.yml for the test:
// the node's ops address as the only target, the shipped rules by absolute
// path, scrape and evaluation every interval.
func startPrometheus(t *testing.T, target string, interval time.Duration) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run scripts/services.sh tools (make test does)")
	}
	shipped := filepath.Join(repoRoot(t), "configs", "prometheus")
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(shipped, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	global := cfg["global"].(map[string]any)
	global["scrape_interval"], global["evaluation_interval"] = interval.String(), interval.String()
	rules := cfg["rule_files"].([]any)
	for i, r := range rules {
		rules[i] = filepath.Join(shipped, r.(string))
	}
	job := cfg["scrape_configs"].([]any)[0].(map[string]any)
	job["static_configs"] = []any{map[string]any{"targets": []any{target}}}
	dir := t.TempDir()
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeTCPAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	p := &promServer{t: t, base: "http://" + addr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(p.base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("prometheus exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("prometheus not ready within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// apiGet decodes the data of a Prometheus HTTP API answer.
func (p *promServer) apiGet(path string, params url.Values, data any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s %v: %s", path, params, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query evaluates expr now: each series' labels (without __name__, job and
// instance) as `k="v",…` mapped to its value.
func (p *promServer) query(expr string) (map[string]float64, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.apiGet("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", expr, r.Value[1], err)
		}
		out[labelKey(r.Metric)] = v
	}
	return out, nil
}

func labelKey(m map[string]string) string {
	var parts []string
	for k, v := range m {
		if k == "__name__" || k == "job" || k == "instance" {
			continue
		}
		parts = append(parts, k+`="`+v+`"`)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// queryRange evaluates expr every step over [from, to], for the graphs.
func (p *promServer) queryRange(expr string, from, to time.Time, step time.Duration) ([]grafana.Series, error) {
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	params := url.Values{"query": {expr}, "start": {unix(from)}, "end": {unix(to)}, "step": {step.String()}}
	if err := p.apiGet("/api/v1/query_range", params, &data); err != nil {
		return nil, err
	}
	var out []grafana.Series
	for _, r := range data.Result {
		s := grafana.Series{Labels: r.Metric}
		for _, v := range r.Values {
			t, _ := v[0].(float64)
			f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
			if err != nil {
				return nil, err
			}
			s.Points = append(s.Points, grafana.Point{T: time.Unix(0, int64(t*1e9)), V: f})
		}
		if len(s.Points) > 0 {
			s.Value = s.Points[len(s.Points)-1].V
		}
		out = append(out, s)
	}
	return out, nil
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

// firing lists the alerts firing now.
func (p *promServer) firing() ([]string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.apiGet("/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range data.Alerts {
		if a.State == "firing" {
			out = append(out, a.Labels["alertname"])
		}
	}
	return out, nil
}

// waitFiring waits until alert fires.
func (p *promServer) waitFiring(ctx context.Context, alert string) {
	p.t.Helper()
	for {
		got, err := p.firing()
		if err == nil {
			for _, a := range got {
				if a == alert {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("alert %s not firing (firing: %v, err %v)", alert, got, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// want is the value a series must have: within [lo, hi], or NaN.
type want struct{ lo, hi float64 }

func (w want) ok(v float64) bool {
	if math.IsNaN(w.lo) {
		return math.IsNaN(v)
	}
	return v >= w.lo && v <= w.hi
}

func (w want) String() string {
	if math.IsNaN(w.lo) || w.lo == w.hi {
		return fmt.Sprint(w.lo)
	}
	return fmt.Sprintf("%g..%g", w.lo, w.hi)
}

func exactly(v float64) want { return want{v, v} }

// about allows rel of v: counters' increase() over a window extrapolates to
// its end by up to one scrape interval.
func about(v, rel float64) want { return want{v * (1 - rel), v * (1 + rel)} }

func between(lo, hi float64) want { return want{lo, hi} }

var noValue = want{math.NaN(), math.NaN()}

// expectation is every series a query must return, and nothing else.
type expectation map[string]want

// checkTimeout bounds one check: a few rule evaluations and scrapes.
const checkTimeout = 15 * time.Second

// check polls expr until it returns exactly the expected series with their
// values, or the deadline passes (rules and scrapes lag by an interval).
func (p *promServer) check(ctx context.Context, expr string, exp expectation) map[string]float64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var got map[string]float64
	var err error
	for {
		got, err = p.query(expr)
		if err == nil && matches(got, exp) {
			return got
		}
		select {
		case <-ctx.Done():
			p.t.Errorf("%s = %v (err %v), want %v", expr, got, err, exp)
			return got
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func matches(got map[string]float64, exp expectation) bool {
	if len(got) != len(exp) {
		return false
	}
	for k, w := range exp {
		v, ok := got[k]
		if !ok || !w.ok(v) {
			return false
		}
	}
	return true
}
