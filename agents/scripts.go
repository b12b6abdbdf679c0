package agents

import (
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout, all under QueueOptions.Prefix (default "hotline:"):
//
//	<p>queue:<category>        ZSET  member callID, score band*1e13 + enqueued_at_ms
//	<p>qcall:<callID>          HASH  caller, category, priority (1/0), node, enqueued_at (ms),
//	                                 owner (S16, optional), offered_to (set by the ACD)
//	<p>node:<node>:qcalls      SET   callIDs waiting on that node (reaper, re-publish)
//	<p>queues                  SET   categories ever queued (the length collector's list)
//	<p>qskip:<category>        STRING a score: every caller scoring below it is being offered (Match's hint)
//	<p>aht:<category>          LIST  recent handle times in ms, newest first, capped (S8)
//	<p>agents:serving:<category> SET agents serving the category (kept by the ACD)
//
// The score keeps every queue in serving order with one ZRANGE: band 0 are
// priority callers (S7), band 1 everyone else, FIFO by enqueue time within a
// band. 1e13 ms is year 2286, and 2e13 < 2^53, so scores are exact in float64.
// Equal scores (same millisecond) fall back to Redis's member order.
//
// The future matching script ("longest-idle available agent for the head
// caller") needs the head of <p>queue:<category> and the agent keys in one
// step; on Redis Cluster set Prefix to a hash tag such as "{hotline}:" so every
// key of a deployment lives in one slot.

const (
	// bandWidth separates the priority band from the normal band in a score.
	bandWidth = 1e13
	// handleTimeSamples is how many recent handle times feed the estimate (S8).
	handleTimeSamples = 50
)

func (q *Queue) queueKey(category string) string { return q.prefix + "queue:" + category }
func (q *Queue) callKey(callID string) string    { return q.prefix + "qcall:" + callID }
func (q *Queue) nodeKey(node string) string      { return q.prefix + "node:" + node + ":qcalls" }
func (q *Queue) categoriesKey() string           { return q.prefix + "queues" }
func (q *Queue) skipKey(category string) string  { return q.prefix + "qskip:" + category }
func (q *Queue) handleTimesKey(category string) string {
	return q.prefix + "aht:" + category
}
func (q *Queue) servingKey(category string) string {
	return q.prefix + "agents:serving:" + category
}

// decodeScore splits a queue score (band*1e13 + enqueued_at_ms, set by
// enqueueScript) into the priority flag and the enqueue time.
func decodeScore(s float64) (priority bool, enqueuedAt time.Time) {
	band := math.Floor(s / bandWidth)
	ms := int64(s - band*bandWidth)
	return band == 0, time.UnixMilli(ms)
}

// enqueueScript adds or refreshes a waiting call atomically. A call already
// known keeps its original enqueued_at (re-publishing after a Redis restart
// must not send callers to the back); a change of category or node moves it.
// ARGV[6] = "0" means "now" by the Redis clock, shared by all nodes.
//
// KEYS: queue:<cat>, qcall:<id>, node:<node>:qcalls, queues
// ARGV: callID, caller, category, priority (1/0), node, enqueued_ms, prefix, owner
// Returns {existed (0/1), enqueued_ms}. A "match" hint is published on
// <p>events so the nodes' dispatchers try matching at once.
var enqueueScript = redis.NewScript(`
local id, cat, node, prefix = ARGV[1], ARGV[3], ARGV[5], ARGV[7]
local prev = redis.call('HMGET', KEYS[2], 'enqueued_at', 'category', 'node')
local at = tonumber(prev[1])
local existed = 0
if at then
  existed = 1
  if prev[2] and prev[2] ~= cat then
    redis.call('ZREM', prefix .. 'queue:' .. prev[2], id)
  end
  if prev[3] and prev[3] ~= node then
    redis.call('SREM', prefix .. 'node:' .. prev[3] .. ':qcalls', id)
  end
else
  at = tonumber(ARGV[6])
  if at == 0 then
    local t = redis.call('TIME')
    at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
end
local band = 1
if ARGV[4] == '1' then band = 0 end
local ms = string.format('%.0f', at)
local score = string.format('%.0f', band * 1e13 + at)
redis.call('ZADD', KEYS[1], score, id)
-- Match skips the callers scoring below <p>qskip:<cat> as all being offered:
-- a caller queued ahead of that point must be walked.
local sk = prefix .. 'qskip:' .. cat
local skip = redis.call('GET', sk)
if skip and tonumber(score) < tonumber(skip) then redis.call('SET', sk, score) end
redis.call('HSET', KEYS[2], 'caller', ARGV[2], 'category', cat,
  'priority', ARGV[4], 'node', node, 'enqueued_at', ms)
redis.call('SADD', KEYS[3], id)
redis.call('SADD', KEYS[4], cat)
if ARGV[8] ~= '' then redis.call('HSET', KEYS[2], 'owner', ARGV[8]) end
redis.call('PUBLISH', prefix .. 'events',
  cjson.encode({type = 'match', reason = 'enqueued', call_id = id, node = node}))
return {existed, ms}
`)

// removeScript takes a call out of its queue and drops its hash and node
// membership when they belong to that queue.
//
// KEYS: queue:<cat>, qcall:<id>
// ARGV: callID, category, prefix
// Returns the call's enqueued_ms, or -1 when it was not in the queue.
var removeScript = redis.NewScript(`
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
local h = redis.call('HMGET', KEYS[2], 'category', 'node', 'enqueued_at')
if h[1] == ARGV[2] then
  redis.call('DEL', KEYS[2])
  if h[2] then
    redis.call('SREM', ARGV[3] .. 'node:' .. h[2] .. ':qcalls', ARGV[1])
  end
end
if removed == 0 then return -1 end
return tonumber(h[3]) or 0
`)

// positionScript returns the 1-based place of a call in its queue plus, when
// ARGV[2] is "1", every emergency caller waiting (served first, S6).
//
// KEYS: queue:<cat>, queue:emergency
// ARGV: callID, count_emergencies (1/0)
// Returns the position, or -1 when the call is not in the queue.
var positionScript = redis.NewScript(`
local r = redis.call('ZRANK', KEYS[1], ARGV[1])
if not r then return -1 end
local pos = r + 1
if ARGV[2] == '1' then pos = pos + redis.call('ZCARD', KEYS[2]) end
return pos
`)

// entriesScript lists a queue in serving order with each caller's number.
//
// KEYS: queue:<cat>
// ARGV: prefix
// Returns a flat list: callID, score, caller, callID, score, caller, ...
var entriesScript = redis.NewScript(`
local z = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #z, 2 do
  local caller = redis.call('HGET', ARGV[1] .. 'qcall:' .. z[i], 'caller')
  out[#out + 1] = z[i]
  out[#out + 1] = z[i + 1]
  out[#out + 1] = caller or ''
end
return out
`)

// flag encodes a bool as the "1"/"0" the scripts and hashes use.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
