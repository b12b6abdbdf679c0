package tickets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Group commit defaults.
const (
	defaultBatchWindow = 100 * time.Millisecond
	defaultBatchMax    = 256
	maxBatchMax        = 4096
)

// errLead tells a waiting save that it now leads the next group commit.
var errLead = errors.New("lead the next group commit")

// errSpoolFirst sends a record to the spool because records wait there.
var errSpoolFirst = errors.New("records wait in the spool: the database is in trouble")

// pendingWrite is one record waiting for its group commit.
type pendingWrite struct {
	e    spoolEntry
	done chan error // its result, or errLead once
}

// committer writes the records of the calls that end at about the same time
// in one round trip and one transaction (group commit): at a few hundred
// hang-ups a second, one statement and one commit per record made
// PostgreSQL, sharing the cores with the media, fall behind until writes
// timed out. It has no goroutine of its own: the first save that finds no
// commit under way leads it (waits BatchWindow for others to join, writes,
// hands every waiting save its result) and hands the lead to the first save
// that queued meanwhile, so a writer works whether or not Run runs.
type committer struct {
	w      *Writer
	window time.Duration
	max    int

	mu       sync.Mutex
	queue    []*pendingWrite
	flushing bool
}

// submit writes e with the records of the same group commit and returns its
// own result: nil once written, or why not (a permanent error is e's own,
// found by writing the group's records one by one).
func (c *committer) submit(e spoolEntry) error {
	p := &pendingWrite{e: e, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	lead := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if lead {
		c.flush()
	}
	for {
		err := <-p.done
		if !errors.Is(err, errLead) {
			return err
		}
		c.flush()
	}
}

// flush runs one group commit as its leader, then hands the lead on.
func (c *committer) flush() {
	c.mu.Lock()
	full := len(c.queue) >= c.max
	c.mu.Unlock()
	if !full && c.window > 0 {
		time.Sleep(c.window) // let the calls ending now join
	}
	c.mu.Lock()
	n := min(len(c.queue), c.max)
	group := make([]*pendingWrite, n)
	copy(group, c.queue)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	c.mu.Unlock()

	errs := c.w.writeGroup(group)
	for i, p := range group {
		p.done <- errs[i]
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.flushing = false
		return
	}
	c.queue[0].done <- errLead
}

// writeGroup writes the group's records in one batch, which PostgreSQL runs
// as one transaction: every record or none. When the database refuses the
// batch for good (one record's bad data: SQLSTATE class 22, 23, 54), the
// records are written one by one, so only the bad one fails and goes to the
// dead-letter file; when it cannot take it now (down, slow), every record
// gets that error and is spooled.
func (w *Writer) writeGroup(group []*pendingWrite) []error {
	errs := make([]error, len(group))
	if w.Pending() > 0 {
		// A group before this one failed and was spooled while this one
		// waited: these records queue behind it, in order, without waiting
		// for the database to fail them too.
		for i := range errs {
			errs[i] = errSpoolFirst
		}
		return errs
	}
	if len(group) == 1 {
		// Alone: the record's own statements, same round trips.
		began := time.Now()
		errs[0] = w.write(context.Background(), group[0].e)
		w.metrics.batchSeconds.Observe(time.Since(began).Seconds())
		if errs[0] == nil {
			w.metrics.batchSize.Observe(1)
		}
		return errs
	}
	entries := make([]spoolEntry, len(group))
	for i, p := range group {
		entries[i] = p.e
	}
	err := w.writeBatch(entries)
	if err == nil {
		return errs
	}
	if permanent(err) {
		w.metrics.batchSplits.Inc()
		w.log.Warn("group commit refused; writing its records one by one", "records", len(group), "sqlstate", sqlState(err), "err", err)
		for i, e := range entries {
			errs[i] = w.write(context.Background(), e)
		}
		return errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// writeBatch makes one bounded attempt to write entries in one round trip:
// every call record in one multi-row INSERT, every draft ticket with its
// created event in one more (S12: a call's record and its draft commit
// together, as the whole batch does), callbacks one statement each.
func (w *Writer) writeBatch(entries []spoolEntry) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
	defer cancel()
	var calls []CallRecord
	var drafts []DraftFacts
	b := &pgx.Batch{}
	for _, e := range entries {
		switch e.Kind {
		case kindCall:
			calls = append(calls, *e.Call)
		case kindAnswered:
			calls = append(calls, *e.Call)
			drafts = append(drafts, *e.Draft)
		default:
			cb := *e.Callback
			b.Queue(callbackSQL, cb.CallID, cb.Caller, nullText(cb.Category), cb.Reason, cb.RequestedAt)
		}
	}
	if len(calls) > 0 {
		b.Queue(callsSQL, callArrays(calls)...)
	}
	created := map[string]string{} // call id → ref of each draft created
	if len(drafts) > 0 {
		b.Queue(draftsSQL, draftArrays(w.opts.EntryWindow, drafts)...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var callID, ref string
				if err := rows.Scan(&callID, &ref); err != nil {
					return err
				}
				created[callID] = ref
			}
			return rows.Err()
		})
	}
	began := time.Now()
	err := w.pool.SendBatch(ctx, b).Close()
	w.metrics.batchSeconds.Observe(time.Since(began).Seconds())
	if err != nil {
		for _, e := range entries {
			w.metrics.writeErrors.WithLabelValues(e.Kind).Inc()
		}
		return fmt.Errorf("group commit of %d records: %w", len(entries), err)
	}
	w.metrics.batchSize.Observe(float64(len(entries)))
	for _, e := range entries {
		w.metrics.written.WithLabelValues(e.Kind).Inc()
	}
	w.metrics.created.WithLabelValues(ChannelPhone).Add(float64(len(created)))
	if w.opts.OnDraft != nil {
		// As for a draft written alone: the agent's panel shows it (S12).
		for _, d := range drafts {
			if ref, ok := created[d.CallID]; ok && d.AgentID != "" {
				w.opts.OnDraft(ctx, DraftWritten{CallID: d.CallID, AgentID: d.AgentID, Ref: ref,
					EntryDeadline: d.CallEndedAt.Add(w.opts.EntryWindow)})
			}
		}
	}
	return nil
}

// callsSQL is callSQL for many records: one array per column (callArrays).
const callsSQL = `INSERT INTO calls
	(id, sip_call_id, caller, dialled, category, priority, node,
	 started_at, answered_at, queued_at, ended_at, outcome, hung_up_by,
	 agent_id, connected_at, wait_seconds, wait_exceeded, recording_path, transferred_to, end_reason, language)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[],
	 $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[],
	 $14::text[], $15::timestamptz[], $16::double precision[], $17::boolean[], $18::text[], $19::text[], $20::text[],
	 $21::text[])
	ON CONFLICT (id) DO NOTHING`

// callArrays turns records into callsSQL's arrays, NULL where callArgs
// has NULL.
func callArrays(rs []CallRecord) []any {
	n := len(rs)
	var (
		id, sipID, caller, dialled, node, ended, outcome, hungUp, reason = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
		language                                = make([]string, n)
		category, agent, recording, transferred = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		started                                 = make([]time.Time, n)
		answered, queued, connected             = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		wait                                    = make([]*float64, n)
		priority, exceeded                      = make([]bool, n), make([]bool, n)
	)
	for i, r := range rs {
		id[i], sipID[i], caller[i], dialled[i], node[i] = r.ID, r.SIPCallID, r.Caller, r.Dialled, r.Node
		started[i], ended[i], outcome[i], hungUp[i], reason[i] = r.StartedAt, r.EndedAt, r.Outcome, r.HungUpBy, r.EndReason
		category[i], agent[i], recording[i], transferred[i] = textOrNil(r.Category), textOrNil(r.AgentID), textOrNil(r.RecordingPath), textOrNil(r.TransferredTo)
		answered[i], queued[i], connected[i] = timeOrNil(r.AnsweredAt), timeOrNil(r.QueuedAt), timeOrNil(r.ConnectedAt)
		priority[i], exceeded[i], language[i] = r.Priority, r.WaitExceeded, r.Language
		if !r.QueuedAt.IsZero() {
			wait[i] = &r.WaitSeconds
		}
	}
	return []any{id, sipID, caller, dialled, category, priority, node, started, answered, queued, ended,
		outcome, hungUp, agent, connected, wait, exceeded, recording, transferred, reason, language}
}

// draftsSQL is draftSQL for many drafts (draftArrays): the drafts that are
// new and their created events, in one statement; a retry changes nothing.
// It returns the call id and ref of each draft it created.
const draftsSQL = `WITH d AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::integer[], $7::text[], $8::text[],
		 $9::text[])
		AS d(call_id, agent, caller, category, ended_at, wait, recording, ref, language)),
	t AS (INSERT INTO tickets
		(call_id, channel, status, owner_agent, agent_id, caller_number, category,
		 call_ended_at, wait_seconds, recording_path, entry_deadline, ref, language)
		SELECT call_id, 'phone', 'draft', agent, agent, caller, category, ended_at, wait, recording,
		 ended_at + make_interval(secs => $10), coalesce(ref, ticket_ref()), language FROM d
		ON CONFLICT (call_id) DO NOTHING
		RETURNING id, call_id, ref),
	e AS (INSERT INTO ticket_events (ticket_id, kind, actor, data)
		SELECT id, '` + EventCreated + `', 'system', jsonb_build_object('channel', '` + ChannelPhone + `', 'call_id', call_id) FROM t)
	SELECT call_id, ref FROM t`

func draftArrays(window time.Duration, ds []DraftFacts) []any {
	n := len(ds)
	callID, caller, ended, wait, language := make([]string, n), make([]string, n), make([]time.Time, n), make([]int32, n), make([]string, n)
	agent, category, recording, ref := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	for i, d := range ds {
		callID[i], caller[i], ended[i], wait[i], language[i] = d.CallID, d.CallerNumber, d.CallEndedAt, int32(d.WaitSeconds), d.Language
		agent[i], category[i], recording[i], ref[i] = textOrNil(d.AgentID), textOrNil(d.Category), textOrNil(d.RecordingPath), textOrNil(d.Ref)
	}
	return []any{callID, agent, caller, category, ended, wait, recording, ref, language, window.Seconds()}
}

// callbackSQL inserts a callback request once per (call id, reason).
const callbackSQL = `INSERT INTO callback_requests
	(call_id, caller, category, reason, requested_at)
	VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (call_id, reason) DO NOTHING`

func textOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
