package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotRegistered is returned (wrapped) by Lookup for an agent without a
// live registration.
var ErrNotRegistered = errors.New("agent not registered")

// Registration is where an agent's softphone can be reached: one contact per
// agent (RFC 3261 §10), shared by all nodes through Redis.
type Registration struct {
	AgentID string `json:"agent_id"`
	// Contact is the full SIP URI of the binding, e.g. "sip:1001@10.0.0.5:5062;transport=tcp".
	Contact string `json:"contact"`
	// Transport is "UDP" or "TCP", as the REGISTER arrived.
	Transport string `json:"transport"`
	// Node is the node that took the REGISTER (it holds the TCP connection).
	Node string `json:"node"`
	// Source is the ip:port the REGISTER came from.
	Source    string `json:"source"`
	UserAgent string `json:"user_agent"`
	// Expires is the granted binding lifetime; the Redis key lives as long.
	Expires      time.Duration `json:"expires"`
	RegisteredAt time.Time     `json:"registered_at"`
}

// Locations are the agents' registrations in Redis. Each binding is a key
// with the binding's TTL, so an expired registration vanishes on every node
// at once; a sorted set indexes the agents by expiry for Registered and Sweep.
// It is safe for concurrent use.
type Locations struct {
	rdb      redis.UniversalClient
	prefix   string
	onChange func(agentID string, registered bool)
}

// LocationsOptions are optional parts of Locations.
type LocationsOptions struct {
	// OnChange, when set, is called after an agent's registered state
	// changed through this node: true after the REGISTER of an agent that had
	// no live binding, false after Unregister removed the binding or Sweep
	// found it expired. Routing uses it to take the agent out of the ACD.
	OnChange func(agentID string, registered bool)
}

// NewLocations returns the registrations under the key prefix (default "hotline:").
func NewLocations(rdb redis.UniversalClient, prefix string, o LocationsOptions) *Locations {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Locations{rdb: rdb, prefix: prefix, onChange: o.OnChange}
}

func (l *Locations) key(agentID string) string { return l.prefix + "reg:" + agentID }
func (l *Locations) indexKey() string          { return l.prefix + "regs" }

// locRegisterScript stores the binding with its TTL and indexes it by expiry;
// it returns the contact it replaced, or false when there was none.
// KEYS: reg key, index. ARGV: json, ttl ms, expiry ms, agent id.
var locRegisterScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if old then return cjson.decode(old).contact end
return false
`)

// locUnregisterScript removes the binding when its contact is ARGV[1] or
// ARGV[1] is "*"; 1 when it removed one. KEYS: reg key, index. ARGV: contact, agent id.
var locUnregisterScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if not old then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
if ARGV[1] ~= '*' and cjson.decode(old).contact ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`)

// locSweepScript drops index entries whose binding key has expired and returns
// their agent ids; only one node gets each id. KEYS: index. ARGV: now ms, key prefix.
var locSweepScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
local gone = {}
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[2] .. 'reg:' .. id) == 0 then
    redis.call('ZREM', KEYS[1], id)
    table.insert(gone, id)
  end
end
return gone
`)

// locRestoreScript stores a binding only when the agent has none; 1 when it
// stored it. KEYS: reg key, index. ARGV: json, ttl ms, expiry ms, agent id.
var locRestoreScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
`)

// Restore puts back bindings a Redis restart lost, each for the rest of its
// lifetime (RegisteredAt + Expires). Expired bindings are skipped, and so is
// an agent that registered again meanwhile (its new binding stays). onChange
// is not called: the agents' states are restored on their own (ACD.Republish).
// It returns how many bindings it stored; every binding is tried and the
// errors are joined.
func (l *Locations) Restore(ctx context.Context, regs []Registration) (int, error) {
	var errs []error
	stored := 0
	for _, r := range regs {
		expiry := r.RegisteredAt.Add(r.Expires)
		left := time.Until(expiry)
		if r.AgentID == "" || r.Contact == "" || r.RegisteredAt.IsZero() || left < time.Millisecond {
			continue
		}
		body, err := json.Marshal(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("restore registration of agent %s: %w", r.AgentID, err))
			continue
		}
		n, err := locRestoreScript.Run(ctx, l.rdb, []string{l.key(r.AgentID), l.indexKey()},
			body, left.Milliseconds(), expiry.UnixMilli(), r.AgentID).Int()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore registration of agent %s: %w", r.AgentID, err))
			continue
		}
		stored += n
	}
	return stored, errors.Join(errs...)
}

// Register stores r, replacing the agent's previous binding (one contact per
// agent). RegisteredAt zero means now.
func (l *Locations) Register(ctx context.Context, r Registration) error {
	if r.AgentID == "" || r.Contact == "" || r.Expires < time.Millisecond {
		return fmt.Errorf("register agent %q: need an agent id, a contact and a positive expiry", r.AgentID)
	}
	if r.RegisteredAt.IsZero() {
		r.RegisteredAt = time.Now()
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("register agent %s: %w", r.AgentID, err)
	}
	expiry := r.RegisteredAt.Add(r.Expires).UnixMilli()
	old, err := locRegisterScript.Run(ctx, l.rdb, []string{l.key(r.AgentID), l.indexKey()},
		body, r.Expires.Milliseconds(), expiry, r.AgentID).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("register agent %s: %w", r.AgentID, err)
	}
	if old == nil && l.onChange != nil {
		l.onChange(r.AgentID, true)
	}
	return nil
}

// Unregister removes the agent's binding if its contact is contact, or
// whatever it is when contact is "*" (RFC 3261 §10.2.2). A binding to
// another contact (a newer registration) is kept; no binding is not an error.
func (l *Locations) Unregister(ctx context.Context, agentID, contact string) error {
	n, err := locUnregisterScript.Run(ctx, l.rdb, []string{l.key(agentID), l.indexKey()}, contact, agentID).Int()
	if err != nil {
		return fmt.Errorf("unregister agent %s: %w", agentID, err)
	}
	if n == 1 && l.onChange != nil {
		l.onChange(agentID, false)
	}
	return nil
}

// Lookup returns the agent's live binding, or an error wrapping ErrNotRegistered.
func (l *Locations) Lookup(ctx context.Context, agentID string) (Registration, error) {
	body, err := l.rdb.Get(ctx, l.key(agentID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Registration{}, fmt.Errorf("look up agent %s: %w", agentID, ErrNotRegistered)
	}
	if err != nil {
		return Registration{}, fmt.Errorf("look up agent %s: %w", agentID, err)
	}
	var r Registration
	if err := json.Unmarshal(body, &r); err != nil {
		return Registration{}, fmt.Errorf("look up agent %s: decode binding: %w", agentID, err)
	}
	return r, nil
}

// Registered returns every live binding, ordered by expiry.
func (l *Locations) Registered(ctx context.Context) ([]Registration, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	ids, err := l.rdb.ZRangeByScore(ctx, l.indexKey(), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	if len(ids) == 0 {
		return []Registration{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = l.key(id)
	}
	// MGET needs all keys in one slot on a cluster: use a hash-tag prefix there.
	vals, err := l.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list registrations: %w", err)
	}
	out := make([]Registration, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok { // expired between the two reads
			continue
		}
		var r Registration
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return nil, fmt.Errorf("list registrations: decode binding of %s: %w", ids[i], err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Sweep removes the index entries of bindings that expired in Redis and
// reports each agent once (through onChange too), on whichever node swept it.
func (l *Locations) Sweep(ctx context.Context) ([]string, error) {
	now := time.Now().UnixMilli()
	gone, err := locSweepScript.Run(ctx, l.rdb, []string{l.indexKey()}, now, l.prefix).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("sweep expired registrations: %w", err)
	}
	if l.onChange != nil {
		for _, id := range gone {
			l.onChange(id, false)
		}
	}
	return gone, nil
}

// Run sweeps expired registrations every interval until ctx is done, so an
// expired agent leaves routing within interval. Sweep errors are retried at
// the next tick; Run returns nil when ctx is done.
func (l *Locations) Run(ctx context.Context, interval time.Duration, onError func(error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := l.Sweep(ctx); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}
