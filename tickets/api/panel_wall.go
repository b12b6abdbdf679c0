package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/tickets"
)

// wallBody is the body of GET /api/wall.
type wallBody struct {
	At              time.Time        `json:"at"`
	Categories      []wallCategory   `json:"categories"`
	Agents          []wallAgent      `json:"agents"`
	DraftsPending   int              `json:"drafts_pending"`
	DraftsLateToday int              `json:"drafts_late_today"`
	OpenBreaches    int              `json:"open_breaches"`
	Escalations     []wallEscalation `json:"escalations"`
	// NuisanceReports are the agents' open reports (S21): flag or dismiss.
	NuisanceReports []nuisanceReport `json:"nuisance_reports"`
	// Stale says a newer reading is being made: ask again shortly.
	Stale bool `json:"stale,omitempty"`
}

type wallCategory struct {
	Category    string `json:"category"`
	Waiting     int    `json:"waiting"`
	OldestWaitS int64  `json:"oldest_wait_s"`
	// Null until the first caller of the day was answered (left a queue).
	ServiceLevelToday *float64 `json:"service_level_today"`
	AbandonRateToday  *float64 `json:"abandon_rate_today"`
}

type wallAgent struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	Node   string    `json:"node"`
}

type wallEscalation struct {
	Ref          string    `json:"ref"`
	Category     string    `json:"category"`
	Owner        string    `json:"owner"`
	Level        int       `json:"level"`
	Since        time.Time `json:"since"`
	Acknowledged bool      `json:"acknowledged"`
}

// wallMaxAge is how long one reading of the wall serves every supervisor
// as it is: each "wall" hint makes every wall ask again at once, and one
// reading answers them all while the wall still follows a change within a
// second.
const wallMaxAge = 300 * time.Millisecond

// wallServeStale is how old a reading may be and still be answered at once
// while a fresh one is read in the background; the answer then says
// "stale" and the page asks again shortly. Reading the day's calls takes
// tens of milliseconds on a loaded node, and no supervisor's request should
// wait for it. Older than this (nobody watched the wall) a request waits for
// a new reading.
const wallServeStale = 2 * time.Second

// wallReadTimeout bounds a background reading.
const wallReadTimeout = 5 * time.Second

// wallCache holds the last reading. At most one reading is in flight:
// requests that need one wait for it instead of starting their own, and a
// request that can be answered from a reading a little old starts one in
// the background and does not wait.
type wallCache struct {
	mu      sync.Mutex
	body    wallBody
	at      time.Time
	reading chan struct{} // closed when the reading in flight ends; nil when none
	err     error         // the last reading's error
}

// showWall returns the supervisors' wall: GET /api/wall (supervisors only).
func (s *server) showWall(w http.ResponseWriter, r *http.Request, _ session) {
	body, err := s.wallNow(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// wallNow returns a reading of the wall: the cached one when it is fresh,
// the cached one marked stale (a new one started) when it is a little old,
// else a new one.
func (s *server) wallNow(ctx context.Context) (wallBody, error) {
	c := &s.wall
	c.mu.Lock()
	age := time.Since(c.at)
	switch {
	case !c.at.IsZero() && age < wallMaxAge:
		b := c.body
		c.mu.Unlock()
		return b, nil
	case !c.at.IsZero() && age < wallServeStale:
		b := c.body
		b.Stale = true
		s.startWallReading()
		c.mu.Unlock()
		return b, nil
	}
	done := s.startWallReading()
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return wallBody{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return wallBody{}, c.err
	}
	return c.body, nil
}

// startWallReading starts a reading unless one is in flight and returns the
// channel closed when it ends. c.mu is held.
func (s *server) startWallReading() <-chan struct{} {
	c := &s.wall
	if c.reading != nil {
		return c.reading
	}
	done := make(chan struct{})
	c.reading = done
	go func() {
		// Not the request's context: the reading serves every supervisor,
		// and the first one closing the page must not cancel it.
		ctx, cancel := context.WithTimeout(context.Background(), wallReadTimeout)
		body, err := s.readWall(ctx)
		cancel()
		c.mu.Lock()
		if c.err = err; err == nil {
			c.body, c.at = body, time.Now()
		} else {
			s.log.Warn("read the wall", "err", err)
		}
		c.reading = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// readWall reads the queues and agents from Redis and the tickets from
// PostgreSQL; the figures are those the supervisors' metrics export.
func (s *server) readWall(ctx context.Context) (wallBody, error) {
	b := wallBody{At: s.now().UTC(), Categories: []wallCategory{}, Agents: []wallAgent{}, Escalations: []wallEscalation{},
		NuisanceReports: []nuisanceReport{}}
	queues, err := s.panel.QueueFigures(ctx)
	if err != nil {
		return b, err
	}
	t, err := s.store.WallFigures(ctx)
	if err != nil {
		return b, err
	}
	for _, q := range queues {
		today := t.Categories[q.Category]
		b.Categories = append(b.Categories, wallCategory{Category: q.Category, Waiting: q.Waiting,
			OldestWaitS: int64(q.OldestWait / time.Second), ServiceLevelToday: today.ServiceLevel, AbandonRateToday: today.AbandonRate})
	}
	if err := s.wallAgents(ctx, &b); err != nil {
		return b, err
	}
	b.DraftsPending, b.DraftsLateToday, b.OpenBreaches = t.DraftsPending, t.DraftsLateToday, t.OpenBreaches
	for _, e := range t.Escalations {
		b.Escalations = append(b.Escalations, wallEscalationOf(e))
	}
	for _, n := range t.NuisanceReports {
		b.NuisanceReports = append(b.NuisanceReports, nuisanceReportOf(n))
	}
	return b, nil
}

func wallEscalationOf(e tickets.Escalation) wallEscalation {
	return wallEscalation{Ref: e.Ref, Category: e.Category, Owner: e.Owner, Level: e.Level,
		Since: e.Since.UTC(), Acknowledged: e.Acknowledged}
}

// wallAgents lists every agent who ever logged in, with its name.
func (s *server) wallAgents(ctx context.Context, b *wallBody) error {
	states, err := s.panel.AgentStates(ctx)
	if err != nil {
		return err
	}
	list, err := s.auth.List(ctx)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(list))
	for _, a := range list {
		names[a.ID] = a.DisplayName
	}
	for _, st := range states {
		b.Agents = append(b.Agents, wallAgent{ID: st.ID, Name: names[st.ID], State: string(st.State),
			Reason: st.Reason, Since: st.Since.UTC(), Node: st.Node})
	}
	return nil
}
