// Package tickets owns the hotline's records in PostgreSQL and the one
// database schema.
//
// Records: call records and callback requests, written by the outage-safe
// Writer (spooled to disk while PostgreSQL is down, refused records kept in
// a dead-letter file); tickets with their events, notes, survey scores
// (S12–S18, S20), nuisance numbers (S21), ID numbers encrypted and masked
// with every unmask audited (S4, S5); per-category deadline rules on the
// working-day calendar (S9, S14) and the breach sweeper that escalates
// (S15).
//
// Schema: this package is the single owner of the schema. Every table's
// migration is an embedded file in migrations/, applied in order by Migrate
// (hotline migrate) as the owning role; the server refuses to start on a
// stale schema (CheckSchema) and runs as a login role of hotline_app, which
// has only the DML it needs. The agents tables (agents,
// agent_state_history) are migrated here too but read and written only by
// package agents, with its own SQL: one ordered history of the schema is
// worth more than splitting it by owner.
package tickets
