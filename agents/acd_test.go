package agents

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents/redistest"
	"github.com/hotline-dev/hotline/configs"
	"github.com/redis/go-redis/v9"
)

// fakeClock is the injected clock of the ACD tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// acdEnv is one test's ACD with its queue, clock and Redis.
type acdEnv struct {
	*ACD
	q     *Queue
	clock *fakeClock
	rdb   *redis.Client
}

// newTestACD returns an ACD on node-a under a random prefix (or opts.Prefix,
// for several nodes on one Redis), clocked at t0.
func newTestACD(t testing.TB, opts ACDOptions) *acdEnv {
	t.Helper()
	rdb := redistest.Client(t)
	if opts.Prefix == "" {
		opts.Prefix = redistest.Prefix(t, rdb)
	}
	if opts.Node == "" {
		opts.Node = "node-a"
	}
	clock := &fakeClock{t: t0}
	if opts.Clock == nil {
		opts.Clock = clock.Now
	}
	a := NewACD(rdb, opts)
	q := NewQueue(rdb, QueueOptions{Prefix: opts.Prefix, Node: opts.Node, Metrics: opts.Metrics})
	return &acdEnv{ACD: a, q: q, clock: clock, rdb: rdb}
}

func (e *acdEnv) login(t *testing.T, id string, categories ...string) {
	t.Helper()
	if err := e.Login(context.Background(), id, categories); err != nil {
		t.Fatalf("login %s: %v", id, err)
	}
}

// match runs Match and returns the offers as "call→agent", a ring-all
// offer as "call→agent+agent+…" (longest idle first).
func (e *acdEnv) match(t *testing.T) []string {
	t.Helper()
	offers, err := e.Match(context.Background())
	if err != nil {
		t.Fatalf("match: %v", err)
	}
	out := make([]string, len(offers))
	for i, o := range offers {
		out[i] = o.CallID + "→" + strings.Join(o.Rung(), "+")
	}
	return out
}

func (e *acdEnv) state(t *testing.T, id string) AgentState {
	t.Helper()
	s, err := e.State(context.Background(), id)
	if err != nil {
		t.Fatalf("state of %s: %v", id, err)
	}
	return s
}

func (e *acdEnv) wantState(t *testing.T, id string, want State) {
	t.Helper()
	if s := e.state(t, id); s.State != want {
		t.Fatalf("agent %s is %s (reason %q), want %s", id, s.State, s.Reason, want)
	}
}

func (e *acdEnv) must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// toState brings a fresh agent "1001" into state s; a ringing, on-call or
// wrap-up agent has call "c1" (category inquiry).
func (e *acdEnv) toState(t *testing.T, s State) {
	t.Helper()
	ctx := context.Background()
	ring := func() {
		mustEnqueue(t, e.q, configs.QueueEntry{CallID: "c1", Category: "inquiry", EnqueuedAt: at(1)})
		if got := e.match(t); !slices.Equal(got, []string{"c1→1001"}) {
			t.Fatalf("setup match = %v", got)
		}
	}
	e.login(t, "1001", "inquiry")
	switch s {
	case StateOffline:
		e.must(t, "logout", e.Logout(ctx, "1001"))
	case StatePaused:
		e.must(t, "pause", e.Pause(ctx, "1001", "lunch"))
	case StateRinging:
		ring()
	case StateOnCall, StateWrapUp:
		ring()
		e.must(t, "answer", e.Answered(ctx, "c1", "1001"))
		if s == StateWrapUp {
			e.must(t, "hangup", e.Hangup(ctx, "1001", time.Minute, "inquiry"))
		}
	case StateNotResponding:
		for range DefaultMaxNoAnswer {
			ring()
			e.must(t, "miss", e.Missed(ctx, "c1", "1001", MissNoAnswer))
		}
	}
	e.wantState(t, "1001", s)
}

// Every operation from every state: allowed ones land in the right state,
// the others fail with ErrBadTransition and change nothing.
func TestTransitions(t *testing.T) {
	type operation struct {
		name string
		do   func(ctx context.Context, e *acdEnv) error
		from []State
		to   State
	}
	ops := []operation{
		{"login", func(ctx context.Context, e *acdEnv) error { return e.Login(ctx, "1001", []string{"inquiry"}) },
			[]State{StateOffline}, StateAvailable},
		{"logout", func(ctx context.Context, e *acdEnv) error { return e.Logout(ctx, "1001") },
			[]State{StateAvailable, StateRinging, StateWrapUp, StatePaused, StateNotResponding}, StateOffline},
		{"pause", func(ctx context.Context, e *acdEnv) error { return e.Pause(ctx, "1001", "training") },
			[]State{StateAvailable, StateWrapUp, StatePaused, StateNotResponding}, StatePaused},
		{"resume", func(ctx context.Context, e *acdEnv) error { return e.Resume(ctx, "1001") },
			[]State{StatePaused, StateNotResponding}, StateAvailable},
		{"answered", func(ctx context.Context, e *acdEnv) error { return e.Answered(ctx, "c1", "1001") },
			[]State{StateRinging}, StateOnCall},
		{"missed", func(ctx context.Context, e *acdEnv) error { return e.Missed(ctx, "c1", "1001", MissBusy) },
			[]State{StateRinging}, StateAvailable},
		{"caller gone", func(ctx context.Context, e *acdEnv) error { return e.CallerGone(ctx, "c1", "1001") },
			[]State{StateRinging}, StateAvailable},
		{"hangup", func(ctx context.Context, e *acdEnv) error { return e.Hangup(ctx, "1001", time.Minute, "inquiry") },
			[]State{StateOnCall}, StateWrapUp},
		{"wrap-up done", func(ctx context.Context, e *acdEnv) error { return e.WrapUpDone(ctx, "1001") },
			[]State{StateWrapUp}, StateAvailable},
	}
	for _, o := range ops {
		for _, from := range States {
			allowed := slices.Contains(o.from, from)
			t.Run(o.name+" from "+string(from), func(t *testing.T) {
				e := newTestACD(t, ACDOptions{})
				e.toState(t, from)
				err := o.do(context.Background(), e)
				switch {
				case allowed && err != nil:
					t.Fatalf("err = %v, want allowed", err)
				case allowed:
					e.wantState(t, "1001", o.to)
				case !errors.Is(err, ErrBadTransition):
					t.Fatalf("err = %v, want ErrBadTransition", err)
				default:
					e.wantState(t, "1001", from)
				}
			})
		}
	}
}

func TestStateOfUnknownAgent(t *testing.T) {
	e := newTestACD(t, ACDOptions{})
	if _, err := e.State(context.Background(), "nobody"); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("err = %v, want ErrUnknownAgent", err)
	}
}

func TestStateFieldsAndAgents(t *testing.T) {
	ctx := context.Background()
	e := newTestACD(t, ACDOptions{})
	e.login(t, "1002", "inquiry", "complaint")
	e.clock.Add(time.Minute)
	e.login(t, "1001", "business")
	e.must(t, "pause", e.Pause(ctx, "1001", "lunch"))
	got := e.state(t, "1002")
	if got.State != StateAvailable || !got.Since.Equal(t0) || !got.IdleSince.Equal(t0) ||
		!slices.Equal(got.Categories, []string{"inquiry", "complaint"}) || got.Misses != 0 {
		t.Fatalf("state of 1002 = %+v", got)
	}
	all, err := e.Agents(ctx)
	if err != nil {
		t.Fatalf("agents: %v", err)
	}
	if len(all) != 2 || all[0].ID != "1001" || all[0].State != StatePaused || all[0].Reason != "lunch" ||
		!all[0].Since.Equal(t0.Add(time.Minute)) || all[1].ID != "1002" {
		t.Fatalf("agents = %+v", all)
	}
	// S8: the serving sets feed the wait estimate.
	for cat, want := range map[string]int64{"inquiry": 1, "complaint": 1, "business": 1} {
		if n, err := e.rdb.SCard(ctx, e.q.servingKey(cat)).Result(); err != nil || n != want {
			t.Errorf("serving %s = %d, %v; want %d", cat, n, err, want)
		}
	}
	e.must(t, "logout", e.Logout(ctx, "1002"))
	if n, err := e.rdb.SCard(ctx, e.q.servingKey("inquiry")).Result(); err != nil || n != 0 {
		t.Fatalf("serving inquiry after logout = %d, %v; want 0", n, err)
	}
}

func TestLoginRejectsBadInput(t *testing.T) {
	e := newTestACD(t, ACDOptions{})
	tests := []struct {
		name       string
		id         string
		categories []string
	}{
		{"no id", "", []string{"inquiry"}},
		{"no categories", "1001", nil},
		{"empty category", "1001", []string{""}},
		{"comma in category", "1001", []string{"a,b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.Login(context.Background(), tt.id, tt.categories); err == nil {
				t.Fatal("login succeeded, want an error")
			}
		})
	}
	if err := e.Pause(context.Background(), "1001", ""); err == nil {
		t.Fatal("pause without a reason succeeded")
	}
	if err := e.Missed(context.Background(), "c1", "1001", "shrug"); err == nil {
		t.Fatal("miss with an unknown reason succeeded")
	}
}
