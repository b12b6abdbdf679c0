package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

const (
	validResidentID = "11010519491231002X" // GB 11643 textbook example
	password        = "s3cret-pass"
)

var callSeq atomic.Int64

// fixture is the API on a real migrated PostgreSQL database and a real
// Redis under a random prefix, served by httptest.
type fixture struct {
	pool    *pgxpool.Pool
	dir     *agents.Directory
	clock   *testClock
	opts    Options // of the server, for a second node
	store   *tickets.Store
	rdb     *redis.Client
	prefix  string
	srv     *httptest.Server
	metrics *Metrics
	logs    *syncBuffer
	claimed atomic.Int64 // claims told to Options.Claimed
}

// syncBuffer collects the API's logs for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testClock is the API's injected clock; it moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith serves the API with cfg (nil: DefaultConfig).
func newFixtureWith(t *testing.T, cfg *Config) *fixture {
	t.Helper()
	_, pool := pgtest.Migrated(t, tickets.Migrate)
	cal, err := tickets.LoadCalendar("../../configs/calendar.yaml")
	if err != nil {
		t.Fatalf("load calendar: %v", err)
	}
	kr, err := tickets.ParseKeyring(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	store, err := tickets.NewStore(pool, tickets.StoreOptions{Calendar: cal, IDs: kr})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	dir := agents.NewDirectory(pool, "hotline.test")
	addAgents(t, dir)
	rdb, prefix := redistest.New(t)
	f := &fixture{pool: pool, dir: dir, clock: &testClock{now: time.Now()}, store: store, rdb: rdb,
		prefix: prefix, metrics: NewMetrics(prometheus.NewRegistry()), logs: &syncBuffer{}}
	f.opts = Options{Store: store, Auth: dir, Sessions: f.rdb, Prefix: f.prefix, Config: cfg, Now: f.clock.Now,
		Unmasker: NewPGUnmasker(pool, kr), Indexer: kr, Metrics: f.metrics,
		Logger:    slog.New(slog.NewTextHandler(f.logs, nil)),
		Callbacks: store, Claimed: func() { f.claimed.Add(1) }}
	f.srv = httptest.NewServer(New(f.opts))
	t.Cleanup(f.srv.Close)
	return f
}

// addAgents creates agents 1001 and 1002 and supervisor 2001.
func addAgents(t *testing.T, dir *agents.Directory) {
	t.Helper()
	for _, a := range []agents.Agent{
		{ID: "1001", DisplayName: "Li Na", StaffNumber: "1001", Categories: []string{"inquiry"}, Role: agents.RoleAgent},
		{ID: "1002", DisplayName: "Zhao Lei", StaffNumber: "1002", Categories: []string{"inquiry"}, Role: agents.RoleAgent},
		{ID: "2001", DisplayName: "Wang Jun", StaffNumber: "2001", Categories: []string{"complaint"}, Role: agents.RoleSupervisor},
	} {
		if err := dir.Add(context.Background(), a, password); err != nil {
			t.Fatalf("add agent %s: %v", a.ID, err)
		}
	}
}

// draft writes an answered call ended ago before now and its draft ticket
// owned by agent, in one transaction as the writer does.
func (f *fixture) draft(t *testing.T, agent string, ago time.Duration) tickets.Ticket {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("call-%d", callSeq.Add(1))
	ended := time.Now().Add(-ago)
	var k tickets.Ticket
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO calls (id, sip_call_id, caller, dialled, category, node,
			started_at, answered_at, ended_at, outcome, hung_up_by, agent_id)
			VALUES ($1, $1, '13800138000', '12345', 'inquiry', 'node-a', $2, $2, $3, 'answered', 'caller', $4)`,
			id, ended.Add(-3*time.Minute), ended, agent)
		if err != nil {
			return err
		}
		k, err = f.store.CreateDraftForCall(ctx, tx, tickets.DraftFacts{CallID: id, CallerNumber: "13800138000",
			Category: configs.CategoryInquiry, AgentID: agent, CallEndedAt: ended, WaitSeconds: 12})
		return err
	})
	if err != nil {
		t.Fatalf("create draft: %v", err)
	}
	return k
}

// form is a complete registration form (S13) with an ID number.
func form() tickets.SubmitInput {
	return tickets.SubmitInput{CallerName: "Wang Fang", CallbackPhone: "138-0013-8000",
		Description: "street light out on Renmin Road", Category: configs.CategoryInquiry,
		Result: tickets.ResultAnswered, IDType: tickets.IDTypeResident, IDNumber: validResidentID}
}

// client is a signed-in browser: cookie jar and CSRF token.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (f *fixture) newClient(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	return &client{t: t, base: f.srv.URL, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// login signs in as id and keeps the CSRF token.
func (f *fixture) login(t *testing.T, id string) *client {
	t.Helper()
	c := f.newClient(t)
	res := c.do("POST", "/api/login", map[string]string{"agent_id": id, "password": password}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", id, res.status, res.raw)
	}
	c.csrf, _ = res.body["csrf_token"].(string)
	return c
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends body as JSON (a string is sent as it is) with the CSRF token
// and the extra headers.
func (c *client) do(method, path string, body any, headers map[string]string) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			c.t.Fatalf("decode %s: %v", raw, err)
		}
	}
	if out.status >= 400 && out.body != nil {
		checkErrorShape(c.t, method+" "+path, out)
	}
	return out
}

// checkErrorShape checks every error answer of every test: its code and
// each field's code are listed (so the panel's catalogues hold them), and
// the English texts are those of the codes with their arguments.
func checkErrorShape(t testing.TB, what string, res response) {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal([]byte(res.raw), &body); err != nil {
		t.Fatalf("%s: error body %s: %v", what, res.raw, err)
	}
	text := func(m tickets.Message) (string, bool) {
		texts, ok := Messages(), false
		if _, ok = texts[m.Code]; !ok {
			texts = tickets.Messages()
			_, ok = texts[m.Code]
		}
		var args []string
		for k, v := range m.Args {
			args = append(args, k, v)
		}
		return texts.Msg(m.Code, args...).Text, ok
	}
	if want, ok := text(tickets.Message{Code: body.Code, Args: body.Args}); !ok || body.Error != want {
		t.Fatalf("%s: error %q with code %q (listed: %v), want the code's text %q: %s", what, body.Error, body.Code, ok, want, res.raw)
	}
	if len(body.Fields) != len(body.FieldCodes) {
		t.Fatalf("%s: fields and field_codes differ: %s", what, res.raw)
	}
	for name, m := range body.FieldCodes {
		if want, ok := text(m); !ok || body.Fields[name] != want {
			t.Fatalf("%s: field %s: %q with code %q (listed: %v), want the code's text %q", what, name, body.Fields[name], m.Code, ok, want)
		}
	}
}

// fieldCode returns the code of a field in an error body.
func (r response) fieldCode(name string) string {
	fc, _ := r.body["field_codes"].(map[string]any)
	m, _ := fc[name].(map[string]any)
	code, _ := m["code"].(string)
	return code
}

// fields returns the "fields" object of an error body.
func (r response) fields() map[string]any {
	f, _ := r.body["fields"].(map[string]any)
	return f
}

// count runs a count(*) query.
func (f *fixture) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}
