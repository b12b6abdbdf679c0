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

// wallMaxAge is how long one reading of the wall serves every supervisor:
// each "wall" hint makes every wall ask again at once, and a few queries
// answer them all while the wall still follows a change within a second.
const wallMaxAge = 300 * time.Millisecond

// wallCache holds the last reading; concurrent requests wait for the one
// reading in flight instead of starting their own.
type wallCache struct {
	mu   sync.Mutex
	body wallBody
	at   time.Time
}

// showWall returns the supervisors' wall: GET /api/wall (supervisors only).
func (s *server) showWall(w http.ResponseWriter, r *http.Request, _ session) {
	s.wall.mu.Lock()
	defer s.wall.mu.Unlock()
	if now := time.Now(); s.wall.at.IsZero() || now.Sub(s.wall.at) >= wallMaxAge {
		body, err := s.readWall(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.wall.body, s.wall.at = body, now
	}
	writeJSON(w, http.StatusOK, s.wall.body)
}

// readWall reads the queues and agents from Redis and the tickets from
// PostgreSQL; the figures are those the supervisors' metrics export.
func (s *server) readWall(ctx context.Context) (wallBody, error) {
	b := wallBody{At: s.now().UTC(), Categories: []wallCategory{}, Agents: []wallAgent{}, Escalations: []wallEscalation{}}
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
