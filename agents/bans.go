package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// BanOptions tune Bans; zero fields take the defaults.
type BanOptions struct {
	// MaxFailuresPerUserIP failed logins of one user from one IP within Window
	// ban the IP (default 5).
	MaxFailuresPerUserIP int
	// MaxFailuresPerIP failed logins from one IP, any users, within Window ban
	// the IP (default 20): it stops guessing across many user names.
	MaxFailuresPerIP int
	// Window is how long a failure counts (default 10 minutes).
	Window time.Duration
	// BanFor is how long a ban lasts (default 15 minutes).
	BanFor time.Duration
}

func (o BanOptions) withDefaults() BanOptions {
	if o.MaxFailuresPerUserIP <= 0 {
		o.MaxFailuresPerUserIP = 5
	}
	if o.MaxFailuresPerIP <= 0 {
		o.MaxFailuresPerIP = 20
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.BanFor <= 0 {
		o.BanFor = 15 * time.Minute
	}
	return o
}

// Bans counts failed SIP logins per user+IP and per IP in Redis (shared by
// all nodes) and bans an IP that fails too often. A copy of the live bans is
// kept in memory for IsBanned, which the UDP guard asks for every datagram.
// It is safe for concurrent use.
type Bans struct {
	rdb    redis.UniversalClient
	prefix string
	opts   BanOptions

	mu    sync.RWMutex
	local map[netip.Addr]time.Time // banned IP → end of the ban
}

// NewBans returns the ban list under the key prefix (default "hotline:").
func NewBans(rdb redis.UniversalClient, prefix string, opts BanOptions) *Bans {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Bans{rdb: rdb, prefix: prefix, opts: opts.withDefaults(), local: map[netip.Addr]time.Time{}}
}

// userIPKey hashes the user name: it comes from the attacker and may be long.
func (b *Bans) userIPKey(user string, ip netip.Addr) string {
	sum := sha256.Sum256([]byte(user))
	return b.prefix + "authfail:" + ip.String() + ":" + hex.EncodeToString(sum[:8])
}
func (b *Bans) ipKey(ip netip.Addr) string { return b.prefix + "authfail:" + ip.String() }
func (b *Bans) bansKey() string            { return b.prefix + "bans" }

// banFailureScript counts one failure in both windows and bans the IP when a
// limit is reached; it returns the end of the ban in ms, or 0.
// KEYS: user+ip counter, ip counter, bans (sorted set ip → ban end ms).
// ARGV: window ms, max per user+ip, max per ip, ban ms, ip, now ms.
var banFailureScript = redis.NewScript(`
local u = redis.call('INCR', KEYS[1])
if u == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local i = redis.call('INCR', KEYS[2])
if i == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])
local ends = redis.call('ZSCORE', KEYS[3], ARGV[5])
if ends then return tonumber(ends) end
if u >= tonumber(ARGV[2]) or i >= tonumber(ARGV[3]) then
  local e = tonumber(ARGV[6]) + tonumber(ARGV[4])
  redis.call('ZADD', KEYS[3], e, ARGV[5])
  redis.call('DEL', KEYS[1], KEYS[2])
  return e
end
return 0
`)

// Failure counts a failed login of user from ip and reports whether ip is
// now banned.
func (b *Bans) Failure(ctx context.Context, user string, ip netip.Addr) (banned bool, err error) {
	ip = ip.Unmap()
	now := time.Now()
	keys := []string{b.userIPKey(user, ip), b.ipKey(ip), b.bansKey()}
	until, err := banFailureScript.Run(ctx, b.rdb, keys, b.opts.Window.Milliseconds(), b.opts.MaxFailuresPerUserIP,
		b.opts.MaxFailuresPerIP, b.opts.BanFor.Milliseconds(), ip.String(), now.UnixMilli()).Int64()
	if err != nil {
		return false, fmt.Errorf("count login failure from %s: %w", ip, err)
	}
	if until == 0 {
		return false, nil
	}
	b.remember(ip, time.UnixMilli(until))
	return true, nil
}

// Success clears the failures of user from ip after a good login; the
// per-IP count stays, so one good account does not hide guessing at others.
func (b *Bans) Success(ctx context.Context, user string, ip netip.Addr) error {
	if err := b.rdb.Del(ctx, b.userIPKey(user, ip.Unmap())).Err(); err != nil {
		return fmt.Errorf("reset login failures from %s: %w", ip, err)
	}
	return nil
}

// Banned asks Redis whether ip is banned now and updates the local copy.
func (b *Bans) Banned(ctx context.Context, ip netip.Addr) (bool, error) {
	ip = ip.Unmap()
	until, err := b.rdb.ZScore(ctx, b.bansKey(), ip.String()).Result()
	if errors.Is(err, redis.Nil) {
		b.forget(ip)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check ban of %s: %w", ip, err)
	}
	end := time.UnixMilli(int64(until))
	if !time.Now().Before(end) {
		b.forget(ip)
		return false, nil
	}
	b.remember(ip, end)
	return true, nil
}

// IsBanned answers from memory only, so it never blocks on Redis: it knows
// the bans this node made or saw through Banned, and those of other nodes as
// of the last Refresh (Run refreshes every second).
func (b *Bans) IsBanned(ip netip.Addr) bool {
	b.mu.RLock()
	until, ok := b.local[ip.Unmap()]
	b.mu.RUnlock()
	return ok && time.Now().Before(until)
}

// Refresh replaces the local copy with the live bans in Redis.
func (b *Bans) Refresh(ctx context.Context) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	zs, err := b.rdb.ZRangeByScoreWithScores(ctx, b.bansKey(), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return fmt.Errorf("refresh bans: %w", err)
	}
	live := make(map[netip.Addr]time.Time, len(zs))
	for _, z := range zs {
		s, _ := z.Member.(string)
		if ip, err := netip.ParseAddr(s); err == nil {
			live[ip] = time.UnixMilli(int64(z.Score))
		}
	}
	b.mu.Lock()
	b.local = live
	b.mu.Unlock()
	return nil
}

// Run refreshes the local copy every interval (1 s when 0) until ctx is
// done, and returns nil then. Failed refreshes keep the previous copy and
// are passed to onError (when set).
func (b *Bans) Run(ctx context.Context, interval time.Duration, onError func(error)) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := b.Refresh(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (b *Bans) remember(ip netip.Addr, until time.Time) {
	b.mu.Lock()
	b.local[ip] = until
	b.mu.Unlock()
}

func (b *Bans) forget(ip netip.Addr) {
	b.mu.Lock()
	delete(b.local, ip)
	b.mu.Unlock()
}
