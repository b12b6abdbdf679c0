package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
)

// loginLimiter keeps the sign-in token buckets in Redis, so every node
// counts the same attempts and parallel guesses cannot pass: a token is
// taken before the password is checked.
type loginLimiter struct {
	rdb    redis.UniversalClient
	prefix string
	limits LoginLimits
	now    func() time.Time
}

// refusal says which bucket is empty and how long until it has a token;
// the zero value lets the attempt through.
type refusal struct {
	by   string // "account" or "source"
	wait time.Duration
}

// limitScript takes (cost 1) or gives back (cost -1) one token from both
// buckets at once: KEYS account and source bucket; ARGV now in ms, cost,
// then burst and refill (ms) of the account and of the source. A full
// bucket is deleted: it is the same as none. Returns {0|1|2, wait ms},
// 1 and 2 naming the empty bucket.
var limitScript = redis.NewScript(`
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local function level(key, burst, refill)
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or at == nil then return burst end
  if now > at then tokens = tokens + (now - at) / refill end
  return math.min(burst, tokens)
end
local function store(key, tokens, burst, refill)
  if tokens >= burst then redis.call('DEL', key) return end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - tokens) * refill) + 1000)
end
local ab, ar = tonumber(ARGV[3]), tonumber(ARGV[4])
local sb, sr = tonumber(ARGV[5]), tonumber(ARGV[6])
local a, s = level(KEYS[1], ab, ar), level(KEYS[2], sb, sr)
if cost > 0 then
  if a < 1 then return {1, math.ceil((1 - a) * ar)} end
  if s < 1 then return {2, math.ceil((1 - s) * sr)} end
end
store(KEYS[1], math.min(ab, a - cost), ab, ar)
store(KEYS[2], math.min(sb, s - cost), sb, sr)
return {0, 0}
`)

// take spends a token of account and of source before a password check.
func (l *loginLimiter) take(ctx context.Context, account string, source netip.Prefix) (refusal, error) {
	return l.run(ctx, account, source, 1)
}

// giveBack returns the tokens of a successful sign-in, so only failures
// count against an account or a shared address.
func (l *loginLimiter) giveBack(ctx context.Context, account string, source netip.Prefix) error {
	_, err := l.run(ctx, account, source, -1)
	return err
}

func (l *loginLimiter) run(ctx context.Context, account string, source netip.Prefix, cost int) (refusal, error) {
	// One hash tag keeps both keys in one Redis Cluster slot for the script.
	sum := sha256.Sum256([]byte(account))
	keys := []string{l.prefix + "{login}:account:" + hex.EncodeToString(sum[:16]),
		l.prefix + "{login}:source:" + source.String()}
	res, err := limitScript.Run(ctx, l.rdb, keys, l.now().UnixMilli(), cost,
		l.limits.AccountBurst, l.limits.AccountRefill.Milliseconds(),
		l.limits.SourceBurst, l.limits.SourceRefill.Milliseconds()).Int64Slice()
	if err != nil {
		return refusal{}, fmt.Errorf("login limiter: %w", err)
	}
	if len(res) != 2 || res[0] == 0 {
		return refusal{}, nil
	}
	by := "account"
	if res[0] == 2 {
		by = "source"
	}
	return refusal{by: by, wait: time.Duration(res[1]) * time.Millisecond}, nil
}

// sourcePrefix groups client addresses the way one person holds them: an
// IPv4 address alone, an IPv6 address by its /64 (one subnet, which a
// single host can fill with addresses at will).
func sourcePrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}
