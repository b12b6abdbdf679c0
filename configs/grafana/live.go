package grafana

//lint:file-ignore SA1019 the classic dashboard schema is what Grafana's file provisioning loads in every release a centre runs; the v2 schema needs Grafana 12 with a feature flag

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// liveQueues is the wallboard: what the floor looks like now. Figures read
// from Redis are the same on every node, so they take the max over nodes.
func liveQueues() *dashboard.DashboardBuilder {
	return board("hotline-live-queues", "Hotline — live queues", "now-1h", "5s").
		WithRow(dashboard.NewRowBuilder("Queues")).
		WithPanel(statPanel("Waiting callers", "short", 8, 5, steps(5, 10),
			query("A", `max by (category) (hotline_agents_queue_length)`, "{{category}}", true))).
		WithPanel(statPanel("Oldest wait", "s", 8, 5, steps(15, 120),
			query("A", `max by (category) (hotline_agents_queue_oldest_wait_seconds)`, "{{category}}", true))).
		WithPanel(gaugePanel("Service level (1 h, answered within 20 s)", 8, 5,
			query("A", `:hotline_service_level:ratio_1h`, "all", true))).
		WithPanel(statPanel("Service level by category (1 h)", "percentunit", 8, 5, rising(0.7, 0.8),
			query("A", `category:hotline_service_level:ratio_1h`, "{{category}}", true))).
		WithPanel(statPanel("Average speed of answer (1 h)", "s", 8, 5, steps(15, 20),
			query("A", `:hotline_answer_speed_seconds:avg_1h`, "all", true),
			query("B", `category:hotline_answer_speed_seconds:avg_1h`, "{{category}}", true))).
		WithPanel(statPanel("Abandon rate (1 h)", "percentunit", 8, 5, steps(0.05, 0.1),
			query("A", `:hotline_abandon:ratio_1h`, "all", true),
			query("B", `category:hotline_abandon:ratio_1h`, "{{category}}", true))).
		WithRow(dashboard.NewRowBuilder("Agents and calls")).
		WithPanel(statPanel("Agents by state", "short", 12, 5, steps(1000),
			query("A", `max by (state) (hotline_agents_by_state{state!="offline"})`, "{{state}}", true))).
		WithPanel(statPanel("Occupancy", "percentunit", 4, 5, steps(0.85, 0.95),
			query("A", `:hotline_occupancy:ratio`, "all", true))).
		WithPanel(statPanel("Agents available by category", "short", 8, 5, rising(1, 2),
			query("A", `max by (category) (hotline_agents_serving{state="available"})`, "{{category}}", true))).
		WithPanel(graph("Calls offered per minute", "short", 12, 8,
			query("A", `sum by (category) (rate(hotline_ivr_queue_offered_total[5m])) * 60`, "{{category}}", false))).
		WithPanel(graph("Waiting callers", "short", 12, 8,
			query("A", `max by (category) (hotline_agents_queue_length)`, "{{category}}", false))).
		WithRow(dashboard.NewRowBuilder("Nodes")).
		WithPanel(statPanel("Node ready", "bool_yes_no", 8, 4, rising(0.5, 1),
			query("A", `hotline_node_ready`, "{{instance}}", true))).
		WithPanel(statPanel("Dependencies up", "bool_yes_no", 8, 4, rising(0.5, 1),
			query("A", `min by (dependency) (hotline_node_dependency_up)`, "{{dependency}}", true))).
		WithPanel(statPanel("Nodes draining", "short", 8, 4, steps(1),
			query("A", `sum(hotline_node_draining)`, "draining", true)))
}
