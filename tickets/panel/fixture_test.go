package panel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/api"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/redis/go-redis/v9"
)

const password = "s3cret-pass"

// fixture is the API and the panel on one server, as cmd/hotline mounts
// them, on a real migrated PostgreSQL (the directory) and a real Redis
// (sessions and the ACD's events channel).
type fixture struct {
	srv    *httptest.Server
	hub    *Hub
	acd    *agents.ACD
	rdb    *redis.Client
	prefix string
	dir    *agents.Directory
}

func newFixture(t *testing.T, cfg HubConfig) *fixture {
	t.Helper()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	dir := agents.NewDirectory(pool, "hotline.test")
	for _, a := range []agents.Agent{
		{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001", Categories: []string{"inquiry"}, Role: agents.RoleAgent},
		{ID: "1002", DisplayName: "Zhao Lei", StaffNumber: "1002", Categories: []string{"inquiry"}, Role: agents.RoleAgent},
		{ID: "2001", DisplayName: "Wang Jun", StaffNumber: "2001", Categories: []string{"complaint"}, Role: agents.RoleSupervisor},
	} {
		if err := dir.Add(context.Background(), a, password); err != nil {
			t.Fatalf("add agent %s: %v", a.ID, err)
		}
	}
	rdb, prefix := redistest.New(t)
	kr, err := tickets.ParseKeyring(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := tickets.LoadCalendar("../../configs/calendar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := tickets.NewStore(pool, tickets.StoreOptions{IDs: kr, Calendar: cal})
	if err != nil {
		t.Fatal(err)
	}
	opts := api.Options{Store: store, Auth: dir, Sessions: rdb, Prefix: prefix,
		Unmasker: api.NewPGUnmasker(pool, kr), Indexer: kr}
	acd := agents.NewACD(rdb, agents.ACDOptions{Prefix: prefix, Node: "node-a"})
	hub := NewHub(cfg, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx, acd.SubscribeRaw) }()
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(opts))
	mux.Handle("/", New(Options{Auth: api.NewSessions(opts), Hub: hub, GrafanaURL: "https://grafana.example.org",
		Dashboards: DefaultDashboards}))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
	})
	return &fixture{srv: srv, hub: hub, acd: acd, rdb: rdb, prefix: prefix, dir: dir}
}

// client is a browser: a cookie jar that does not follow redirects.
func (f *fixture) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login signs id in and returns its browser.
func (f *fixture) login(t *testing.T, id string) *http.Client {
	t.Helper()
	c := f.client(t)
	body, _ := json.Marshal(map[string]string{"agent_id": id, "password": password})
	resp, err := c.Post(f.srv.URL+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("login %s: %d %s", id, resp.StatusCode, b)
	}
	return c
}

// get fetches path and returns the status, headers and body.
func (f *fixture) get(t *testing.T, c *http.Client, path string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// publish sends an event on the ACD's channel as another node would.
func (f *fixture) publish(t *testing.T, ev map[string]any) {
	t.Helper()
	b, _ := json.Marshal(ev)
	if err := f.rdb.Publish(context.Background(), f.prefix+"events", b).Err(); err != nil {
		t.Fatal(err)
	}
}

// stream is an open event stream of a browser.
type stream struct {
	resp   *http.Response
	events chan sseEvent
}

type sseEvent struct {
	Type string
	Data map[string]any
}

// open connects c's event stream and reads it in the background.
func (f *fixture) open(t *testing.T, c *http.Client) *stream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/panel/events", nil)
	sc := *c
	sc.Timeout = 0
	resp, err := sc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("events: status %d", resp.StatusCode)
	}
	s := &stream{resp: resp, events: make(chan sseEvent, 100)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var d map[string]any
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d)
				s.events <- sseEvent{Type: typ, Data: d}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

// collect returns the events that arrive within d.
func (s *stream) collect(d time.Duration) []sseEvent {
	var out []sseEvent
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-deadline:
			return out
		}
	}
}

// waitClients waits until the hub holds n panels.
func (f *fixture) waitClients(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if f.hub.Clients() == n {
			return
		}
	}
	t.Fatalf("hub holds %d panels, want %d", f.hub.Clients(), n)
}
