// Package dispatch is the routing policy between a waiting caller and an
// agent: it runs the IVR on each answered call, keeps this node's waiting
// callers in the shared queue, delivers the ACD's matches to them (also
// across nodes), rings one agent or a ring-all group (S1), counts misses,
// bridges the conversation with the staff number and the recording (S2,
// S19), puts the agent in wrap-up (S12), resolves transfers from the
// allowlist (S10), looks ahead for a repeat caller's ticket owner (S16), runs
// the agents' feature codes, and writes each call's record at the end.
//
// It uses the agents package directly (its own domain) and reaches SIP and
// the ticket store only through the small interfaces declared here (Phones,
// Leg, Records, Tickets), so it is tested without a SIP stack and
// cmd/hotline only wires it.
package dispatch
