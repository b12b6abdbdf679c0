package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/agents/dispatch"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/ivr"
	"github.com/hotline-dev/hotline/tickets"
)

// panelFixture is the API fixture with the agents' side: a real ACD,
// queue and router on the fixture's Redis and PostgreSQL.
type panelFixture struct {
	*fixture
	acd    *agents.ACD
	queue  *agents.Queue
	router *dispatch.Router
	recDir string
	events <-chan agents.Event
}

// noPhones is the router's SIP side: the API tests ring no phone (the
// end-to-end tests in cmd/hotline do, with real softphones).
type noPhones struct{}

func (noPhones) Dial(context.Context, ivr.Call, dispatch.Dial) (dispatch.Leg, error) {
	return nil, errors.New("no phones in the API tests")
}

func newPanelFixture(t *testing.T) *panelFixture {
	t.Helper()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	acd := agents.NewACD(f.rdb, agents.ACDOptions{Prefix: f.prefix, Node: "node-a",
		History: agents.NewPGHistory(f.pool), WrapUpMax: time.Minute})
	queue := agents.NewQueue(f.rdb, agents.QueueOptions{Prefix: f.prefix, Node: "node-a"})
	cal, err := tickets.LoadCalendar("../../configs/calendar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w, err := tickets.NewWriter(f.pool, tickets.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := dispatch.New(dispatch.Options{Node: "node-a", ACD: acd, Directory: f.dir,
		Locations: agents.NewLocations(f.rdb, f.prefix, agents.LocationsOptions{}), Queue: queue,
		Phones: noPhones{}, Records: w, Tickets: f.store, IVR: ivr.DefaultConfig(), Hours: cal,
		RingTimeout: 15 * time.Second, ServiceLevelThreshold: 20 * time.Second,
		PauseReasons: []string{"break", "meal", "training", "meeting"}, WrapUpUntilSubmitted: true,
		EntryWindow: 5 * time.Minute, Specialists: map[string]string{"water": "sip:water@127.0.0.1:5099"}})
	if err != nil {
		t.Fatal(err)
	}
	events, err := acd.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The router's matching loop does not run: the tests make the ACD's
	// offers themselves (ring), and listen to the node's commands.
	done := make(chan struct{})
	go func() { _ = acd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	p := &panelFixture{fixture: f, acd: acd, queue: queue, router: r, recDir: t.TempDir(), events: events}
	f.opts.Panel, f.opts.RecordingsDir, f.opts.Submitted = r, p.recDir, r.TicketSubmitted
	f.srv.Close()
	f.srv = httptest.NewServer(New(f.opts))
	t.Cleanup(f.srv.Close)
	return p
}

// ring queues a caller and has the ACD offer it to agent, who must be the
// only one available: the agent is ringing for the returned call id.
func (p *panelFixture) ring(t *testing.T, agent, caller string, waited time.Duration) string {
	t.Helper()
	ctx := context.Background()
	id := "call-" + caller
	if err := p.queue.Enqueue(ctx, configs.QueueEntry{CallID: id, Caller: caller, Category: "inquiry",
		EnqueuedAt: time.Now().Add(-waited)}); err != nil {
		t.Fatal(err)
	}
	offers, err := p.acd.Match(ctx)
	if err != nil || len(offers) != 1 || offers[0].AgentID != agent {
		t.Fatalf("match = %+v, %v; want one offer to %s", offers, err, agent)
	}
	return id
}

// login puts agent in the ACD, available.
func (p *panelFixture) available(t *testing.T, agent string) {
	t.Helper()
	if err := p.acd.Login(context.Background(), agent, []string{"inquiry"}); err != nil {
		t.Fatal(err)
	}
}

// event waits for the next event of type typ for agent (others skipped).
func (p *panelFixture) event(t *testing.T, typ, agent string) agents.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-p.events:
			if e.Type == typ && e.Agent == agent {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event for %q within 5 s", typ, agent)
		}
	}
}
