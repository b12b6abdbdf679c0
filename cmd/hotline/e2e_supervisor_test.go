package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
	"gopkg.in/yaml.v3"
)

// TestE2ESupervisorView drives a real node with the Go test caller and a
// baresip agent while Debian's Prometheus scrapes it with the shipped scrape
// and rule files, then evaluates every panel query of both Grafana
// dashboards and every recording rule through Prometheus' HTTP API against
// the calls driven (SERVICE-STANDARD, Supervisor view):
//   - inquiry A answered at once (S1: within 20 s), emergency E waits over
//     20 s behind it (the emergency alert fires, S6) and is answered late,
//     inquiry C abandons, inquiry B is answered within 20 s and rates 1 (S18):
//     service level 2/3, abandon rate 1/4;
//   - A's ticket is entered late, B's in time (S12), E's draft goes overdue,
//     A's deadline is breached and escalated (S14, S15).
func TestE2ESupervisorView(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus and baresip: skipped with -short")
	}
	if !siptest.HaveBaresip() {
		t.Fatal("baresip is not installed: run scripts/services.sh tools (make test does)")
	}
	start := time.Now()
	const entryWindow = 5 * time.Second
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = configs.Duration(5 * time.Second)
		c.ACD.WrapUpMax = configs.Duration(2 * time.Second)
		c.Tickets.EntryWindow = configs.Duration(entryWindow)
		c.Tickets.SweepInterval = configs.Duration(500 * time.Millisecond)
	})
	prom := startPrometheus(t, n.app.opsAddr, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second) // the whole test stays under 2 minutes, failing or not
	defer cancel()
	// Prometheus has the zeros of every counter before the first call, so
	// increase() over a window does not extrapolate before them.
	prom.check(ctx, `hotline_ivr_queue_offered_total{category="inquiry"}`, expectation{`category="inquiry"`: exactly(0)})
	agent := startAgent(ctx, t, n, "1001")

	caller := newCaller(t)
	call := func(from string, key rune) *siptest.Call {
		c := dial(t, caller, siptest.DialOptions{Target: n.target, From: "sip:" + from + "@127.0.0.1",
			Audio: siptest.Tone(440, time.Second, 8000)})
		time.Sleep(time.Second) // a key during the greeting is the menu choice
		if err := c.SendDTMF(key); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := call("13800000001", '1')
	waitAgentState(t, n, "1001", agents.StateOnCall)
	e := call("13800000002", '3')
	c := call("13800000003", '1')
	n.waitQueueLen(configs.CategoryEmergency, 1)
	eQueued := time.Now()
	n.waitQueueLen(configs.CategoryInquiry, 1)

	prom.waitFiring(ctx, "HotlineEmergencyWaiting") // S6: over 15 s
	live, liveGot := checkLive(ctx, prom)
	hangup(t, c)
	time.Sleep(time.Until(eQueued.Add(22 * time.Second)))
	aGone := time.Now()
	hangup(t, a)
	waitAgentState(t, n, "1001", agents.StateOnCall) // E, after A's wrap-up
	b := call("13800000004", '1')
	n.waitQueueLen(configs.CategoryInquiry, 1)
	time.Sleep(2 * time.Second)
	eGone := time.Now()
	hangup(t, e)
	waitAgentState(t, n, "1001", agents.StateOnCall) // B
	time.Sleep(4 * time.Second)                      // the staff number, then a few words
	bAgentGone := time.Now()
	if err := agent.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	hears(t, b, bAgentGone, prompt(t, "zh-CN", "survey")[:16000], 30*time.Second)
	if err := b.SendDTMF('1'); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitHangup(ctx); err != nil {
		t.Fatalf("server did not end B's call after the survey: %v", err)
	}

	recA, recE, recB, recC := n.record(a.CallID()), n.record(e.CallID()), n.record(b.CallID()), n.record(c.CallID())
	if recA.Outcome != "answered" || recE.Outcome != "answered" || recB.Outcome != "answered" ||
		recC.Outcome != "abandoned_in_queue" || recE.Category != configs.CategoryEmergency {
		t.Fatalf("records: A %+v\nE %+v\nB %+v\nC %+v", recA, recE, recB, recC)
	}
	if recA.WaitExceeded || recB.WaitExceeded || !recE.WaitExceeded {
		t.Fatalf("waits A %.1f B %.1f E %.1f: want A and B within 20 s, E beyond", recA.WaitSeconds, recB.WaitSeconds, recE.WaitSeconds)
	}
	// B is entered at once, A late (S12); E's draft is left to go overdue.
	tB := submit(ctx, t, n, recB.ID)
	for time.Since(recA.EndedAt) <= entryWindow {
		time.Sleep(100 * time.Millisecond)
	}
	tA := submit(ctx, t, n, recA.ID)
	if !tA.Late || tB.Late {
		t.Fatalf("late: A %v, B %v; want A only", tA.Late, tB.Late)
	}
	// A's deadline passes (as if its time had run out): the sweeper breaches
	// and escalates it (S14, S15).
	if _, err := n.pool.Exec(ctx, `UPDATE tickets SET due_at = now() - interval '1 second' WHERE ref = $1`, tA.Ref); err != nil {
		t.Fatal(err)
	}
	waitAgentState(t, n, "1001", agents.StateAvailable)

	handle := (aGone.Sub(recA.ConnectedAt) + eGone.Sub(recE.ConnectedAt) + bAgentGone.Sub(recB.ConnectedAt)).Seconds() / 3
	delay := (tA.EnteredAt.Sub(tA.CallEndedAt) + tB.EnteredAt.Sub(tB.CallEndedAt)).Seconds() / 2
	end, endGot := checkEnd(ctx, prom, endFigures{waits: [3]float64{recA.WaitSeconds, recB.WaitSeconds, recE.WaitSeconds},
		handle: handle, delay: delay})
	for _, alert := range []string{"HotlineDraftOverdue", "HotlineDeadlineBreached", "HotlineLateEntries"} {
		prom.waitFiring(ctx, alert)
	}
	coverage(t, live, end)
	drawDashboards(t, prom, start, liveGot, endGot)
	t.Logf("supervisor view verified in %v", time.Since(start).Round(time.Second))
}

// submit enters the draft ticket of a call as its agent would.
func submit(ctx context.Context, t *testing.T, n *testNode, callID string) tickets.Ticket {
	t.Helper()
	draft := ticketOfCall(t, n, callID)
	k, err := n.app.store.Submit(ctx, draft.Ref, tickets.SubmitInput{CallerName: "王五", CallbackPhone: "13800000009",
		Description: "询问停水时间", Category: draft.Category, Result: "answered"}, "1001", "submit-"+draft.Ref)
	if err != nil {
		t.Fatalf("submit %s: %v", draft.Ref, err)
	}
	return k
}

// figures are the expectations checked, by query, for the coverage check.
type figures map[string]expectation

// results are what Prometheus answered, by query and series.
type results map[string]map[string]float64

// perCategory fills every category of cats with def, then the given values.
func perCategory(cats []string, def want, set map[string]want) expectation {
	e := expectation{}
	for _, c := range cats {
		e[`category="`+c+`"`] = def
	}
	for c, w := range set {
		e[`category="`+c+`"`] = w
	}
	return e
}

func perState(set map[agents.State]want) expectation {
	e := expectation{}
	for _, s := range agents.States {
		if s != agents.StateOffline {
			e[`state="`+string(s)+`"`] = exactly(0)
		}
	}
	for s, w := range set {
		e[`state="`+string(s)+`"`] = w
	}
	return e
}

// checkLive is the wallboard while A talks and E and C wait.
func checkLive(ctx context.Context, p *promServer) (figures, results) {
	q := configs.QueueCategories()
	f := figures{
		`max by (category) (hotline_agents_queue_length)`: perCategory(q, exactly(0), map[string]want{
			configs.CategoryInquiry: exactly(1), configs.CategoryEmergency: exactly(1)}),
		`max by (category) (hotline_agents_queue_oldest_wait_seconds)`: perCategory(q, exactly(0), map[string]want{
			configs.CategoryInquiry: between(10, 60), configs.CategoryEmergency: between(15, 60)}),
		`max by (state) (hotline_agents_by_state{state!="offline"})`:    perState(map[agents.State]want{agents.StateOnCall: exactly(1)}),
		`:hotline_occupancy:ratio`:                                      {"": exactly(1)},
		`category:hotline_occupancy:ratio`:                              perCategory(q, exactly(1), nil),
		`max by (category) (hotline_agents_serving{state="available"})`: perCategory(q, exactly(0), nil),
	}
	got := results{}
	for expr, exp := range f {
		got[expr] = p.check(ctx, expr, exp)
	}
	return f, got
}

type endFigures struct {
	waits  [3]float64 // A, B (inquiry), E (emergency)
	handle float64    // mean conversation
	delay  float64    // mean entry delay of A and B
}

// checkEnd is both dashboards and every rule once every caller has gone.
func checkEnd(ctx context.Context, p *promServer, d endFigures) (figures, results) {
	q, all := configs.QueueCategories(), configs.TicketCategories()
	const inq, emg = configs.CategoryInquiry, configs.CategoryEmergency
	// Ratios of two increases over the same samples are exact; a single
	// increase extrapolates to the window's end by up to one scrape.
	ratio := func(v float64) want { return about(v, 1e-9) }
	count := func(v float64) want { return about(v, 0.05) }
	f := figures{
		`max by (category) (hotline_agents_queue_length)`:              perCategory(q, exactly(0), nil),
		`max by (category) (hotline_agents_queue_oldest_wait_seconds)`: perCategory(q, exactly(0), nil),
		`:hotline_service_level:ratio_1h`:                              {"": ratio(2.0 / 3)},
		`category:hotline_service_level:ratio_1h`:                      perCategory(q, noValue, map[string]want{inq: ratio(1), emg: exactly(0)}),
		`:hotline_answer_speed_seconds:avg_1h`:                         {"": about((d.waits[0]+d.waits[1]+d.waits[2])/3, 0.01)},
		`category:hotline_answer_speed_seconds:avg_1h`: perCategory(q, noValue, map[string]want{
			inq: about((d.waits[0]+d.waits[1])/2, 0.01), emg: about(d.waits[2], 0.01)}),
		`:hotline_abandon:ratio_1h`:                                     {"": ratio(0.25)},
		`category:hotline_abandon:ratio_1h`:                             perCategory(q, noValue, map[string]want{inq: ratio(1.0 / 3), emg: exactly(0)}),
		`max by (state) (hotline_agents_by_state{state!="offline"})`:    perState(map[agents.State]want{agents.StateAvailable: exactly(1)}),
		`:hotline_occupancy:ratio`:                                      {"": exactly(0)},
		`category:hotline_occupancy:ratio`:                              perCategory(q, exactly(0), nil),
		`max by (category) (hotline_agents_serving{state="available"})`: perCategory(q, exactly(1), nil),
		// Four callers in the last five minutes: 3 inquiries, 1 emergency.
		`sum by (category) (rate(hotline_ivr_queue_offered_total[5m])) * 60`: perCategory(q, exactly(0), map[string]want{
			inq: about(3.0/5, 0.1), emg: about(1.0/5, 0.1)}),
		`hotline_node_ready`: {"": exactly(1)},
		`min by (dependency) (hotline_node_dependency_up)`: {`dependency="postgresql"`: exactly(1), `dependency="redis"`: exactly(1)},
		`sum(hotline_node_draining)`:                       {"": exactly(0)},

		`sum by (category) (increase(hotline_tickets_entries_total[1h]))`:      perCategory(all, exactly(0), map[string]want{inq: count(2)}),
		`sum by (category) (increase(hotline_tickets_late_entries_total[1h]))`: perCategory(all, exactly(0), map[string]want{inq: count(1)}),
		`:hotline_late_entries:ratio_1h`:                                       {"": ratio(0.5)},
		`sum(increase(hotline_tickets_entry_latency_seconds_sum[1h])) / sum(increase(hotline_tickets_entry_latency_seconds_count[1h]))`: {
			"": about(d.delay, 0.02)},
		`sum by (le) (increase(hotline_tickets_entry_latency_seconds_bucket[1h]))`: {
			`le="60"`: count(2), `le="120"`: count(2), `le="240"`: count(2), `le="300"`: count(2),
			`le="600"`: count(2), `le="1800"`: count(2), `le="+Inf"`: count(2)},
		`sum(increase(hotline_agents_wrap_up_seconds_sum[1h])) / sum(increase(hotline_agents_wrap_up_seconds_count[1h]))`: {
			"": between(1.9, 4)}, // wrap_up_max 2 s, ended by the ACD's sweep
		`sum(increase(hotline_agents_handle_seconds_sum[1h])) / sum(increase(hotline_agents_handle_seconds_count[1h]))`: {
			"": between(d.handle-1.5, d.handle+1.5)},
		`max by (category) (hotline_tickets_drafts_open)`:    perCategory(all, exactly(0), map[string]want{emg: exactly(1)}),
		`max by (category) (hotline_tickets_drafts_overdue)`: perCategory(all, exactly(0), map[string]want{emg: exactly(1)}),
		`max by (category) (hotline_tickets_open)`:           perCategory(all, exactly(0), map[string]want{inq: exactly(2)}),
		`max by (category, level) (hotline_tickets_breached_open)`: func() expectation {
			e := expectation{}
			for _, c := range all {
				e[`category="`+c+`",level="1"`], e[`category="`+c+`",level="2"`] = exactly(0), exactly(0)
			}
			e[`category="inquiry",level="1"`] = exactly(1)
			return e
		}(),
		`sum by (category) (increase(hotline_tickets_deadline_breaches_total[1h]))`: perCategory(all, exactly(0), map[string]want{inq: count(1)}),
		`sum by (level) (increase(hotline_tickets_escalations_total[1h]))`:          {`level="1"`: count(1), `level="2"`: exactly(0)},
		`max(hotline_tickets_calendar_covered_until_seconds) * 1000`:                {"": exactly(0)}, // no holidays listed: 0
		`sum(increase(hotline_tickets_survey_scores_total{score="1"}[1h])) / sum(increase(hotline_tickets_survey_scores_total[1h]))`: {
			"": ratio(1)},
		`sum by (score) (increase(hotline_tickets_survey_scores_total[1h]))`: {`score="1"`: count(1), `score="2"`: exactly(0), `score="3"`: exactly(0)},
	}
	got := results{}
	for expr, exp := range f {
		got[expr] = p.check(ctx, expr, exp)
	}
	return f, got
}

// panelRange is what the test evaluates for Grafana's $__range: the whole
// test lies within the last hour.
const panelRange = "1h"

// dashboardQueries reads every panel query of the committed dashboards.
func dashboardQueries(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "configs", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) != 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string `json:"title"`
			Panels []struct {
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				out[d.Title] = append(out[d.Title], strings.ReplaceAll(q.Expr, "$__range", panelRange))
			}
		}
	}
	return out
}

// recordingRules lists the shipped recording rules' names.
func recordingRules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "prometheus", "hotline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	return out
}

// coverage fails when a panel query or a recording rule went unchecked.
func coverage(t *testing.T, live, end figures) {
	t.Helper()
	checked := func(expr string) bool { _, ok := end[expr]; return ok }
	for title, exprs := range dashboardQueries(t) {
		for _, expr := range exprs {
			if !checked(expr) {
				t.Errorf("%s: panel query %q is not checked", title, expr)
			}
		}
	}
	rules := recordingRules(t)
	if len(rules) < 9 {
		t.Fatalf("%d recording rules", len(rules))
	}
	for _, r := range rules {
		if !checked(r) {
			t.Errorf("recording rule %s is not checked", r)
		}
	}
	for expr := range live {
		if !checked(expr) {
			t.Errorf("live figure %q is on no dashboard", expr)
		}
	}
}
