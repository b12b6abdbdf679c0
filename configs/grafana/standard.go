package grafana

//lint:file-ignore SA1019 the classic dashboard schema is what Grafana's file provisioning loads in every release a centre runs; the v2 schema needs Grafana 12 with a feature flag

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// serviceStandard is the records and deadlines view (S12, S14, S15, S18)
// over the dashboard's time range ($__range).
func serviceStandard() *dashboard.DashboardBuilder {
	return board("hotline-service-standard", "Hotline — service standard", "now-24h", "30s").
		WithRow(dashboard.NewRowBuilder("Ticket entry (S12)")).
		WithPanel(statPanel("Tickets entered", "short", 12, 5, steps(1e9),
			query("A", `sum by (category) (increase(hotline_tickets_entries_total[$__range]))`, "{{category}}", true))).
		WithPanel(statPanel("Late entries", "short", 12, 5, steps(1),
			query("A", `sum by (category) (increase(hotline_tickets_late_entries_total[$__range]))`, "{{category}}", true))).
		WithPanel(statPanel("Late entry share (1 h)", "percentunit", 6, 5, steps(0.05),
			query("A", `:hotline_late_entries:ratio_1h`, "all", true))).
		WithPanel(statPanel("Entry delay (average)", "s", 6, 5, steps(240, 300),
			query("A", `sum(increase(hotline_tickets_entry_latency_seconds_sum[$__range])) / sum(increase(hotline_tickets_entry_latency_seconds_count[$__range]))`, "all", true))).
		WithPanel(statPanel("Wrap-up and handle time (average)", "s", 12, 5, steps(240, 300),
			query("A", `sum(increase(hotline_agents_wrap_up_seconds_sum[$__range])) / sum(increase(hotline_agents_wrap_up_seconds_count[$__range]))`, "wrap-up", true),
			query("B", `sum(increase(hotline_agents_handle_seconds_sum[$__range])) / sum(increase(hotline_agents_handle_seconds_count[$__range]))`, "handle", true))).
		WithPanel(statPanel("Tickets entered within", "short", 24, 5, steps(1e9),
			query("A", `sum by (le) (increase(hotline_tickets_entry_latency_seconds_bucket[$__range]))`, "≤ {{le}} s", true))).
		WithRow(dashboard.NewRowBuilder("Tickets and deadlines (S14, S15)")).
		WithPanel(statPanel("Drafts open", "short", 12, 5, steps(1e9),
			query("A", `max by (category) (hotline_tickets_drafts_open)`, "{{category}}", true))).
		WithPanel(statPanel("Drafts overdue", "short", 12, 5, steps(1),
			query("A", `max by (category) (hotline_tickets_drafts_overdue)`, "{{category}}", true))).
		WithPanel(statPanel("Open tickets", "short", 12, 5, steps(1e9),
			query("A", `max by (category) (hotline_tickets_open)`, "{{category}}", true))).
		WithPanel(statPanel("Deadline breaches", "short", 12, 5, steps(1),
			query("A", `sum by (category) (increase(hotline_tickets_deadline_breaches_total[$__range]))`, "{{category}}", true))).
		WithPanel(statPanel("Breached, unresolved, by escalation level", "short", 24, 5, steps(1),
			query("A", `max by (category, level) (hotline_tickets_breached_open)`, "{{category}} L{{level}}", true))).
		WithPanel(statPanel("Escalations", "short", 12, 5, steps(1),
			query("A", `sum by (level) (increase(hotline_tickets_escalations_total[$__range]))`, "level {{level}}", true))).
		WithPanel(statPanel("Calendar covered until (S9)", "dateTimeAsIsoNoDateIfToday", 12, 5, steps(1e18),
			query("A", `max(hotline_tickets_calendar_covered_until_seconds) * 1000`, "holidays listed until", true))).
		WithRow(dashboard.NewRowBuilder("Satisfaction (S18)")).
		WithPanel(statPanel("Satisfied share", "percentunit", 8, 5, rising(0.8, 0.9),
			query("A", `sum(increase(hotline_tickets_survey_scores_total{score="1"}[$__range])) / sum(increase(hotline_tickets_survey_scores_total[$__range]))`, "satisfied", true))).
		WithPanel(statPanel("Survey scores", "short", 16, 5, steps(1e9),
			query("A", `sum by (score) (increase(hotline_tickets_survey_scores_total[$__range]))`, "score {{score}}", true)))
}
