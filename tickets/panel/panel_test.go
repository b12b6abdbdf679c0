package panel

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// Pages: the server decides by session and role which page a browser gets.
func TestPagesByRole(t *testing.T) {
	f := newFixture(t, HubConfig{})
	anon, agent, sup := f.client(t), f.login(t, "1001"), f.login(t, "2001")
	cases := []struct {
		name     string
		c        *http.Client
		path     string
		status   int
		contains []string
		location string
	}{
		{"root redirects to the panel", anon, "/", http.StatusSeeOther, nil, "/panel/"},
		{"sign-in form without a session", anon, "/panel/", http.StatusOK, []string{`id="login-form"`, `lang="zh-CN"`, "坐席登录"}, ""},
		{"agent panel", agent, "/panel/", http.StatusOK, []string{`data-agent="1001"`, `data-role="agent"`, `id="draft-form"`, `/panel/static/agent.js`}, ""},
		{"agent panel has no supervisor forms", agent, "/panel/", http.StatusOK, []string{`id="work-card"`}, ""},
		{"supervisor panel links the wall", sup, "/panel/", http.StatusOK, []string{`href="/panel/wall"`, `id="nuisance-form"`, `id="extend-form"`}, ""},
		{"wall without a session goes to sign in", anon, "/panel/wall", http.StatusSeeOther, nil, "/panel/"},
		{"wall refused to an agent", agent, "/panel/wall", http.StatusForbidden, []string{"无权访问"}, ""},
		{"wall for a supervisor", sup, "/panel/wall", http.StatusOK, []string{`/panel/static/wall.js`, `https://grafana.example.org/d/hotline-live-queues`, "实时队列"}, ""},
		{"unknown page", agent, "/panel/nothing", http.StatusNotFound, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := f.get(t, tc.c, tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %.200s", status, tc.status, body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			if tc.location != "" && hdr.Get("Location") != tc.location {
				t.Errorf("Location %q, want %q", hdr.Get("Location"), tc.location)
			}
		})
	}
	// The agent's page holds none of the supervisor's forms; its nuisance
	// form reports to a supervisor (S21).
	_, _, body := f.get(t, agent, "/panel/")
	for _, s := range []string{`id="extend-form"`, `id="reassign-form"`, `href="/panel/wall"`} {
		if strings.Contains(body, s) {
			t.Errorf("agent page holds %s", s)
		}
	}
	if !strings.Contains(body, `id="nuisance-form"`) || !strings.Contains(body, "提交班长审核") {
		t.Error("agent page has no nuisance report form")
	}
}

// The language switch is a cookie the script sets; the page follows it.
func TestPageLanguage(t *testing.T) {
	f := newFixture(t, HubConfig{})
	c := f.login(t, "1001")
	for _, tc := range []struct{ cookie, lang, title string }{
		{"", "zh-CN", "热线坐席工作台"},
		{"en", "en", "Hotline agent panel"},
		{"fr", "zh-CN", "热线坐席工作台"},
	} {
		var hdr []string
		if tc.cookie != "" {
			hdr = []string{"Cookie", "hotline_lang=" + tc.cookie}
		}
		status, _, body := f.get(t, c, "/panel/", hdr...)
		if status != http.StatusOK || !strings.Contains(body, `lang="`+tc.lang+`"`) || !strings.Contains(body, tc.title) {
			t.Errorf("cookie %q: status %d, want lang %s with %q", tc.cookie, status, tc.lang, tc.title)
		}
	}
}

// Every answer of the panel carries the security headers; the CSP allows
// no inline script or style.
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, HubConfig{})
	anon, sup := f.client(t), f.login(t, "2001")
	for _, tc := range []struct {
		c    *http.Client
		path string
	}{
		{anon, "/"}, {anon, "/panel/"}, {sup, "/panel/"}, {sup, "/panel/wall"}, {anon, "/panel/wall"},
		{anon, "/panel/static/panel.css"}, {anon, "/panel/i18n/en.json"}, {anon, "/panel/events"}, {anon, "/panel/x"},
	} {
		_, hdr, _ := f.get(t, tc.c, tc.path)
		csp := hdr.Get("Content-Security-Policy")
		if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", tc.path, hdr)
		}
	}
}

// Static files: right types, revalidation, nothing outside the folder.
func TestStaticFiles(t *testing.T) {
	f := newFixture(t, HubConfig{})
	c := f.client(t)
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/panel/static/agent.js", "text/javascript; charset=utf-8", 200},
		{"/panel/static/common.js", "text/javascript; charset=utf-8", 200},
		{"/panel/static/wall.js", "text/javascript; charset=utf-8", 200},
		{"/panel/static/login.js", "text/javascript; charset=utf-8", 200},
		{"/panel/static/panel.css", "text/css; charset=utf-8", 200},
		{"/panel/i18n/zh-CN.json", "application/json; charset=utf-8", 200},
		{"/panel/i18n/en.json", "application/json; charset=utf-8", 200},
		{"/panel/static/missing.js", "", 404},
		{"/panel/static/..%2fpanel.go", "", 404},
		{"/panel/static/agent.html", "", 404},
		{"/panel/i18n/..%2fstatic%2fagent.js", "", 404},
	} {
		status, hdr, _ := f.get(t, c, tc.path)
		if status != tc.status || (tc.ctype != "" && hdr.Get("Content-Type") != tc.ctype) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, status, hdr.Get("Content-Type"), tc.status, tc.ctype)
		}
	}
	_, hdr, _ := f.get(t, c, "/panel/static/agent.js")
	if status, _, _ := f.get(t, c, "/panel/static/agent.js", "If-None-Match", hdr.Get("ETag")); status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", status)
	}
}

// GET never changes anything: the panel's routes answer other methods with 405.
func TestPanelRoutesAreReadOnly(t *testing.T) {
	f := newFixture(t, HubConfig{})
	c := f.login(t, "2001")
	for _, path := range []string{"/panel/", "/panel/wall", "/panel/events", "/panel/static/agent.js"} {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, resp.StatusCode)
		}
	}
}

// The stream refuses a browser without a session.
func TestEventsNeedASession(t *testing.T) {
	f := newFixture(t, HubConfig{})
	status, _, _ := f.get(t, f.client(t), "/panel/events")
	if status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", status)
	}
	if f.hub.Clients() != 0 {
		t.Fatalf("hub holds %d panels", f.hub.Clients())
	}
}

// An agent sees their own agent's events, from any node; a supervisor
// every event and the wall hints; nobody sees the dispatchers' match hints.
func TestEventsFilteredByRole(t *testing.T) {
	f := newFixture(t, HubConfig{})
	a1, a2, sup := f.open(t, f.login(t, "1001")), f.open(t, f.login(t, "1002")), f.open(t, f.login(t, "2001"))
	f.waitClients(t, 3)
	at := time.Now().UnixMilli()
	f.publish(t, map[string]any{"type": "state", "agent": "1001", "from": "available", "to": "ringing", "node": "node-b", "at": at})
	f.publish(t, map[string]any{"type": "ringing", "agent": "1001", "call_id": "c1", "node": "node-b",
		"pop": map[string]any{"caller": "13800000001", "category": "inquiry", "waited_ms": 21000, "apologise": true}})
	f.publish(t, map[string]any{"type": "state", "agent": "1002", "from": "paused", "to": "available", "node": "node-a"})
	f.publish(t, map[string]any{"type": "match", "node": "node-a"})
	f.publish(t, map[string]any{"type": "wall", "node": "node-b"})
	f.publish(t, map[string]any{"type": "ticket", "agent": "1001", "ticket": "T-1", "reason": "draft"})

	got1 := a1.collect(time.Second)
	if types(got1) != "state,ringing,ticket" {
		t.Fatalf("agent 1001 got %v", got1)
	}
	if got1[0].Data["node"] != "node-b" || got1[0].Data["at"] != float64(at) || got1[0].Data["to"] != "ringing" {
		t.Errorf("state event %v", got1[0].Data)
	}
	if pop, _ := got1[1].Data["pop"].(map[string]any); pop == nil || pop["caller"] != "13800000001" || pop["apologise"] != true {
		t.Errorf("ringing event lost its screen-pop: %v", got1[1].Data)
	}
	if got1[2].Data["ticket"] != "T-1" {
		t.Errorf("ticket event %v", got1[2].Data)
	}
	if got := types(a2.collect(200 * time.Millisecond)); got != "state" {
		t.Errorf("agent 1002 got %s", got)
	}
	if got := types(sup.collect(200 * time.Millisecond)); got != "state,ringing,state,wall,ticket" {
		t.Errorf("supervisor got %s", got)
	}
}

func types(evs []sseEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

// An agent may hold a few panels, not an unbounded number.
func TestEventsPanelsBounded(t *testing.T) {
	f := newFixture(t, HubConfig{MaxPerAgent: 2})
	c := f.login(t, "1001")
	f.open(t, c)
	f.open(t, c)
	f.waitClients(t, 2)
	status, hdr, _ := f.get(t, c, "/panel/events")
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("third panel: %d, want 503 with Retry-After", status)
	}
	f.open(t, f.login(t, "1002")) // another agent is not affected
	f.waitClients(t, 3)
}

// A closed stream leaves the hub.
func TestEventsLeaveOnClose(t *testing.T) {
	f := newFixture(t, HubConfig{})
	s := f.open(t, f.login(t, "1001"))
	f.waitClients(t, 1)
	s.resp.Body.Close()
	f.waitClients(t, 0)
}

// A disabled account's session ends at once: its page is the sign-in form
// again and its stream is refused, as on the API.
func TestSessionEndedByAccountChange(t *testing.T) {
	f := newFixture(t, HubConfig{})
	c := f.login(t, "1001")
	if status, _, body := f.get(t, c, "/panel/"); status != http.StatusOK || !strings.Contains(body, `data-agent="1001"`) {
		t.Fatalf("panel before: %d", status)
	}
	if err := f.dir.Disable(t.Context(), "1001"); err != nil {
		t.Fatal(err)
	}
	if status, _, body := f.get(t, c, "/panel/"); status != http.StatusOK || !strings.Contains(body, `id="login-form"`) {
		t.Fatalf("panel after disable: %d, want the sign-in form", status)
	}
	if status, _, _ := f.get(t, c, "/panel/events"); status != http.StatusUnauthorized {
		t.Fatalf("stream after disable: %d, want 401", status)
	}
}

// The metrics count the panel's pages by route and each event's delay from
// Redis to the browser.
func TestPanelMetrics(t *testing.T) {
	f := newFixture(t, HubConfig{})
	c := f.login(t, "1001")
	s := f.open(t, c)
	f.waitClients(t, 1)
	f.get(t, c, "/panel/")
	f.get(t, c, "/panel/static/agent.js")
	f.publish(t, map[string]any{"type": "state", "agent": "1001", "to": "available", "at": time.Now().UnixMilli()})
	if got := types(s.collect(500 * time.Millisecond)); got != "state" {
		t.Fatalf("got %s", got)
	}
	m := f.hub.metrics
	if n := testutil.CollectAndCount(m.pages); n != 2 {
		t.Errorf("page routes counted: %d, want 2", n)
	}
	if n := histogramCount(t, m.delay); n != 1 {
		t.Errorf("event delays observed: %d, want 1", n)
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var out dto.Metric
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount()
}
