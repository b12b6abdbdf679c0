package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/configs/grafana"
)

// drawDashboards draws both dashboards from the figures Prometheus answered:
// the wallboard as the emergency waited (its live figures) with the rest at
// the end, the service standard at the end; graphs over the whole test.
// HOTLINE_DOCS_PNG=1 writes them to docs/ for the README, else to a
// temporary folder.
func drawDashboards(t *testing.T, p *promServer, since time.Time, live, end results) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("HOTLINE_DOCS_PNG") != "" {
		dir = filepath.Join(repoRoot(t), "docs")
	}
	for _, name := range []string{"live-queues", "service-standard"} {
		src, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "grafana", "dashboards", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		answer := func(expr string, graph bool) []grafana.Series {
			expr = strings.ReplaceAll(expr, "$__range", panelRange)
			if graph {
				s, err := p.queryRange(expr, since, time.Now(), time.Second)
				if err != nil {
					t.Errorf("graph %s: %v", expr, err)
				}
				return s
			}
			got, ok := live[expr]
			if !ok || name != "live-queues" {
				got = end[expr]
			}
			var out []grafana.Series
			for k, v := range got {
				out = append(out, grafana.Series{Labels: parseLabelKey(k), Value: v})
			}
			return out
		}
		img, err := grafana.Render(src, answer)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "grafana-"+name+".png"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// parseLabelKey reverses labelKey: `a="x",b="y"` to its labels.
func parseLabelKey(k string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(k, `",`) {
		name, value, ok := strings.Cut(part, `="`)
		if ok {
			out[name] = strings.TrimSuffix(value, `"`)
		}
	}
	return out
}
