// Package agents owns the agents and the callers waiting for them.
//
// In PostgreSQL: the agent directory (id, staff number, categories served,
// role, digest HA1s; Directory) and every state transition
// (agent_state_history; PGHistory). In Redis, shared by all nodes and
// rebuilt after a Redis restart: registrations (Locations), bans (Bans),
// the per-category caller queues (Queue: emergencies before every other
// queue, S6; priority callers ahead within theirs, S7; position and
// estimated wait, S8), the agents' live states and the matching of callers
// to agents in Lua scripts (ACD: longest idle first, the open ticket's
// owner first, S16; ring timeout and misses, S1; wrap-up, S12), and node
// heartbeats. The Redis key layout is described in scripts.go.
//
// The routing policy that uses these parts for a call is agents/dispatch.
package agents
