package panel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets/api"
)

// Event types of the ACD a panel never needs: match hints are the
// dispatchers' business and come at the rate of the calls.
const eventMatch = agents.EventMatch

// eventWall is the ACD's hint that the supervisors' wall changed.
const eventWall = "wall"

// eventResync tells every panel to reload its state: the hub's subscription
// was re-made, events may have been missed meanwhile.
const eventResync = "resync"

// ErrTooManyPanels refuses a panel past the hub's limits.
var ErrTooManyPanels = errors.New("too many open panels")

// HubConfig bounds the hub.
type HubConfig struct {
	// Buffer is the number of events a panel may have unread before it is
	// dropped (default 64).
	Buffer int
	// MaxClients bounds the open panels of the node (default 5000).
	MaxClients int
	// MaxPerAgent bounds the open panels of one agent (default 8).
	MaxPerAgent int
}

func (c HubConfig) withDefaults() HubConfig {
	if c.Buffer <= 0 {
		c.Buffer = 64
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 5000
	}
	if c.MaxPerAgent <= 0 {
		c.MaxPerAgent = 8
	}
	return c
}

// Hub fans the node's one event subscription out to the open panels.
type Hub struct {
	cfg     HubConfig
	log     *slog.Logger
	metrics *Metrics

	mu      sync.Mutex
	byAgent map[string]map[*client]struct{}
	sups    map[*client]struct{}
	n       int
}

// client is one open panel: its pending SSE frames and a channel closed
// when the hub drops it.
type client struct {
	who  api.Principal
	ch   chan message
	gone chan struct{}
	once sync.Once
}

// message is one SSE frame and the time its event was made in Redis
// (Unix milliseconds; 0 when unknown).
type message struct {
	frame []byte
	at    int64
}

func (c *client) drop() { c.once.Do(func() { close(c.gone) }) }

// NewHub returns a hub; run it with Run.
func NewHub(cfg HubConfig, log *slog.Logger, m *Metrics) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Hub{cfg: cfg.withDefaults(), log: log.With("component", "tickets.panel"), metrics: m,
		byAgent: map[string]map[*client]struct{}{}, sups: map[*client]struct{}{}}
}

// Subscriber opens a subscription to the events of every node, as JSON;
// agents.(*ACD).SubscribeRaw is one.
type Subscriber func(ctx context.Context) (<-chan []byte, error)

// Run feeds the hub from subscribe until ctx ends. When the subscription
// closes early (Redis gone) it is made again after a pause and every panel
// is told to reload its state.
func (h *Hub) Run(ctx context.Context, subscribe Subscriber) error {
	first := true
	for {
		events, err := subscribe(ctx)
		if err == nil {
			if !first {
				h.broadcast(message{frame: frame(eventResync, []byte(`{}`))})
			}
			first = false
			for e := range events {
				h.PublishJSON(e)
			}
		} else {
			h.log.Warn("subscribe to the ACD events", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// maxEventBytes bounds one event passed to the panels.
const maxEventBytes = 16 << 10

// header is the part of an ACD event (agents.Event) the hub routes by; the
// rest (the screen-pop, the ticket) is passed on as it came.
type header struct {
	Type  string `json:"type"`
	Agent string `json:"agent"`
	At    int64  `json:"at"`
}

// Publish hands e to the panels that may see it (see PublishJSON).
func (h *Hub) Publish(e agents.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		h.log.Warn("encode event", "type", e.Type, "err", err)
		return
	}
	if !e.At.IsZero() {
		// agents.Event keeps "at" (Unix milliseconds) out of its own encoding.
		data = append(append(data[:len(data)-1], `,"at":`...), strconv.AppendInt(nil, e.At.UnixMilli(), 10)...)
		data = append(data, '}')
	}
	h.PublishJSON(data)
}

// PublishJSON hands the event data (JSON of an agents.Event, with any
// fields added to it) to the panels that may see it, never waiting: a
// panel whose buffer is full is dropped. An agent's panel gets the events
// of its agent; a supervisor's every event.
func (h *Hub) PublishJSON(data []byte) {
	if len(data) > maxEventBytes {
		return
	}
	var hd header
	if err := json.Unmarshal(data, &hd); err != nil || hd.Type == eventMatch || !validType(hd.Type) {
		return
	}
	// Compact: the data of an SSE message must be one line.
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return
	}
	f := message{frame: frame(hd.Type, buf.Bytes()), at: hd.At}
	start := time.Now()
	h.mu.Lock()
	for c := range h.sups {
		h.send(c, f)
	}
	if hd.Agent != "" && hd.Type != eventWall {
		for c := range h.byAgent[hd.Agent] {
			if !c.who.Supervisor() {
				h.send(c, f)
			}
		}
	}
	h.mu.Unlock()
	h.metrics.fanout.Observe(time.Since(start).Seconds())
}

// broadcast sends f to every panel.
func (h *Hub) broadcast(f message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cs := range h.byAgent {
		for c := range cs {
			h.send(c, f)
		}
	}
}

// send queues f for c or drops c; h.mu is held.
func (h *Hub) send(c *client, f message) {
	select {
	case <-c.gone:
	case c.ch <- f:
		h.metrics.sent.Inc()
	default:
		c.drop()
		h.metrics.dropped.Inc()
		h.log.Info("slow panel dropped", "agent", c.who.Agent)
	}
}

// join registers a panel of who; leave must follow.
func (h *Hub) join(who api.Principal) (*client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.cfg.MaxClients || len(h.byAgent[who.Agent]) >= h.cfg.MaxPerAgent {
		return nil, ErrTooManyPanels
	}
	c := &client{who: who, ch: make(chan message, h.cfg.Buffer), gone: make(chan struct{})}
	if h.byAgent[who.Agent] == nil {
		h.byAgent[who.Agent] = map[*client]struct{}{}
	}
	h.byAgent[who.Agent][c] = struct{}{}
	if who.Supervisor() {
		h.sups[c] = struct{}{}
	}
	h.n++
	h.metrics.clients.Set(float64(h.n))
	return c, nil
}

// leave removes c.
func (h *Hub) leave(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.drop()
	cs := h.byAgent[c.who.Agent]
	if _, ok := cs[c]; !ok {
		return
	}
	delete(cs, c)
	if len(cs) == 0 {
		delete(h.byAgent, c.who.Agent)
	}
	delete(h.sups, c)
	h.n--
	h.metrics.clients.Set(float64(h.n))
}

// Clients returns the number of open panels.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// frame is one SSE message. JSON never holds a raw newline, so data is one
// line; the type was checked by validType.
func frame(typ string, data []byte) []byte {
	var b strings.Builder
	b.Grow(len(typ) + len(data) + 16)
	b.WriteString("event: ")
	b.WriteString(typ)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return []byte(b.String())
}

// validType accepts the short lower-case names the ACD uses, so an event
// type can never break the SSE framing.
func validType(t string) bool {
	if t == "" || len(t) > 32 {
		return false
	}
	for _, r := range t {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}
