package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every metric a node exports passes the Prometheus linter, and labels come
// from closed sets: no label carries an agent id, a number or a call id
// (per-agent figures belong in the panel).
func TestMetricsLintAndClosedLabels(t *testing.T) {
	n := startNode(t, calendarOpen, nil)
	problems, err := testutil.GatherAndLint(n.app.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	families, err := n.app.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	states := []string{}
	for _, s := range agents.States {
		states = append(states, string(s))
	}
	closed := map[string][]string{"category": configs.TicketCategories(), "state": states}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch name := l.GetName(); name {
				case "agent", "agent_id", "caller", "call_id", "number", "user_agent":
					t.Errorf("%s has a %s label", f.GetName(), name)
				default:
					if set, ok := closed[name]; ok && !slices.Contains(set, l.GetValue()) {
						t.Errorf("%s{%s=%q}: not one of %v", f.GetName(), name, l.GetValue(), set)
					}
				}
			}
		}
	}
	// The supervisor's series exist before any call (known combinations at zero).
	text := n.metricsText()
	for _, series := range []string{
		`hotline_ivr_queue_offered_total{category="emergency"} 0`,
		`hotline_ivr_queue_outcomes_total{category="business",outcome="abandoned"} 0`,
		`hotline_ivr_answer_wait_seconds_bucket{category="inquiry",le="20"} 0`,
		`hotline_agents_queue_oldest_wait_seconds{category="complaint"} 0`,
		`hotline_agents_serving{category="inquiry",state="available"} 0`,
		`hotline_agents_handle_seconds_count{category="business"} 0`,
		`hotline_agents_wrap_up_seconds_count 0`,
		`hotline_tickets_entry_latency_seconds_bucket{category="report",le="300"} 0`,
		`hotline_tickets_drafts_overdue{category="emergency"} 0`,
		`hotline_tickets_breached_open{category="complaint",level="2"} 0`,
		`hotline_tickets_survey_scores_total{category="complaint",score="3"} 0`,
		`hotline_node_ready 1`,
		`hotline_node_dependency_up{dependency="redis"} 1`,
		`hotline_node_draining 0`,
	} {
		if !containsLine(text, series) {
			t.Errorf("/metrics has no %s", series)
		}
	}
}

func containsLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSuffix(l, "\n") == line {
			return true
		}
	}
	return false
}
