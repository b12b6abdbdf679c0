package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Writer defaults.
const (
	defaultRetryInterval = 2 * time.Second
	defaultWriteTimeout  = 2 * time.Second
	defaultBacklogLimit  = 30 * time.Second
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// SpoolDir is the folder where records wait while PostgreSQL is down
	// (required; it must survive a restart, so not a tmpfs).
	SpoolDir string
	// RetryInterval is how often Run retries spooled records (default 2s).
	RetryInterval time.Duration
	// WriteTimeout bounds one attempt to write a record or a group commit
	// (default 2s).
	WriteTimeout time.Duration
	// BacklogLimit is how long records may wait in the spool before
	// CheckSpool reports the writer degraded (default 30s).
	BacklogLimit time.Duration
	// EntryWindow is the S12 entry window of the draft tickets written by
	// SaveAnsweredCall (default 5m; the Store's StoreOptions.EntryWindow).
	EntryWindow time.Duration
	// BatchWindow is how long a record waits for the records of other calls
	// ending at about the same time, to be written with them in one round
	// trip and one transaction (group commit; default 100ms, so at most
	// about 10 commits a second whatever the call rate: an agent's panel
	// shows the draft ticket that much later, which nobody notices).
	BatchWindow time.Duration
	// BatchMax is the most records of one group commit (default 256, at
	// most 4096); a full group is written at once.
	BatchMax int
	// Metrics may be nil (an unregistered set is used).
	Metrics *Metrics
	// Logger may be nil (logs are discarded).
	Logger *slog.Logger
	// OnDraft, when set, is told of each draft ticket once it is committed,
	// at once or when the spool drains (S12: the agent's panel shows it).
	// It runs on the writer's path: it must not block for long.
	OnDraft func(ctx context.Context, d DraftWritten)
}

// DraftWritten is a call's draft ticket as committed.
type DraftWritten struct {
	CallID, AgentID, Ref string
	EntryDeadline        time.Time
}

// Validate reports an option a person has to fix.
func (o WriterOptions) Validate() error {
	switch {
	case o.SpoolDir == "":
		return errors.New("writer: spool dir is required: a folder where call records wait while PostgreSQL is down")
	case o.RetryInterval < 0:
		return fmt.Errorf("writer: retry interval %s must not be negative", o.RetryInterval)
	case o.WriteTimeout < 0:
		return fmt.Errorf("writer: write timeout %s must not be negative", o.WriteTimeout)
	case o.BacklogLimit < 0:
		return fmt.Errorf("writer: backlog limit %s must not be negative", o.BacklogLimit)
	case o.EntryWindow < 0:
		return fmt.Errorf("writer: entry window %s must not be negative", o.EntryWindow)
	case o.BatchWindow < 0 || o.BatchWindow > time.Second:
		return fmt.Errorf("writer: batch window %s must be between 0 and 1s: every hang-up waits for it", o.BatchWindow)
	case o.BatchMax < 0 || o.BatchMax > maxBatchMax:
		return fmt.Errorf("writer: batch max %d must be between 0 (the default, %d) and %d", o.BatchMax, defaultBatchMax, maxBatchMax)
	}
	return nil
}

// Writer persists call records and callback requests. The records of calls
// ending at about the same time are written together (group commit, see
// committer). A record it cannot write at once (PostgreSQL down or slow)
// goes to an fsync'd on-disk spool and is retried by Run until written, so a
// database outage loses nothing; inserts are idempotent, so a retry never
// duplicates.
type Writer struct {
	pool    *pgxpool.Pool
	opts    WriterOptions
	spool   *spool
	group   *committer
	metrics *Metrics
	log     *slog.Logger
	running atomic.Bool
}

// NewWriter opens the spool in opts.SpoolDir (records left by a previous
// process stay pending until Run drains them).
func NewWriter(pool *pgxpool.Pool, opts WriterOptions) (*Writer, error) {
	if pool == nil {
		return nil, errors.New("writer: a database pool is required")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = defaultRetryInterval
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.BacklogLimit == 0 {
		opts.BacklogLimit = defaultBacklogLimit
	}
	if opts.EntryWindow == 0 {
		opts.EntryWindow = defaultEntryWindow
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = defaultBatchWindow
	}
	if opts.BatchMax == 0 {
		opts.BatchMax = defaultBatchMax
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sp, err := openSpool(opts.SpoolDir)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	w := &Writer{pool: pool, opts: opts, spool: sp, metrics: opts.Metrics,
		log: opts.Logger.With("component", "tickets.writer")}
	w.group = &committer{w: w, window: opts.BatchWindow, max: opts.BatchMax}
	w.metrics.pending.Set(float64(sp.count()))
	return w, nil
}

// Pending returns the number of records waiting in the spool.
func (w *Writer) Pending() int { return w.spool.count() }

// CheckSpool reports, for /readyz, whether records have waited in the spool
// longer than WriterOptions.BacklogLimit: the database has refused or missed
// them that long, and every record since queues behind them. The error says
// how many and for how long, never where the database is.
func (w *Writer) CheckSpool(now time.Time) error {
	n, since := w.spool.backlog()
	if n == 0 {
		return nil
	}
	if waited := now.Sub(since); waited > w.opts.BacklogLimit {
		return fmt.Errorf("%d call records waiting in the spool for %s", n, waited.Round(time.Second))
	}
	return nil
}

// SaveCall writes r, or spools it when the database cannot take it now. It
// returns nil once r is durable in either place; an error means r is invalid
// (the database would never take it) or neither place could hold it. The
// caller's cancellation does not abort the write: a record of a call that
// has just ended must still be kept.
func (w *Writer) SaveCall(ctx context.Context, r CallRecord) error {
	if err := r.validate(); err != nil {
		return err
	}
	return w.save(ctx, spoolEntry{Kind: kindCall, Call: &r})
}

// SaveCallback is SaveCall for a callback request (S9).
func (w *Writer) SaveCallback(ctx context.Context, r configs.CallbackRequest) error {
	if err := validateCallback(r); err != nil {
		return err
	}
	return w.save(ctx, spoolEntry{Kind: kindCallback, Callback: &r})
}

// SaveAnsweredCall writes the record of an answered call and its draft
// ticket in one transaction (S12), with SaveCall's guarantees: on a database
// outage both wait in the spool together. Facts left empty are taken from
// r (call id, caller, category, end time, agent, recording, wait).
func (w *Writer) SaveAnsweredCall(ctx context.Context, r CallRecord, facts DraftFacts) error {
	if err := r.validate(); err != nil {
		return err
	}
	facts = draftFactsOf(r, facts)
	if err := facts.validate(); err != nil {
		return err
	}
	if facts.CallID != r.ID {
		return fmt.Errorf("%w: draft ticket for call %s given with call record %s", errInvalidRecord, facts.CallID, r.ID)
	}
	return w.save(ctx, spoolEntry{Kind: kindAnswered, Call: &r, Draft: &facts})
}

func draftFactsOf(r CallRecord, f DraftFacts) DraftFacts {
	if f.CallID == "" {
		f.CallID = r.ID
	}
	if f.CallerNumber == "" {
		f.CallerNumber = r.Caller
	}
	if f.Category == "" {
		f.Category = r.Category
	}
	if f.CallEndedAt.IsZero() {
		f.CallEndedAt = r.EndedAt
	}
	if f.AgentID == "" {
		f.AgentID = r.AgentID
	}
	if f.RecordingPath == "" {
		f.RecordingPath = r.RecordingPath
	}
	if f.Language == "" {
		f.Language = r.Language
	}
	if f.WaitSeconds == 0 {
		f.WaitSeconds = int(math.Round(r.WaitSeconds))
	}
	return f
}

func (w *Writer) save(ctx context.Context, e spoolEntry) error {
	// While older records wait in the spool the database is known to be in
	// trouble: go straight to the spool instead of making every hang-up wait
	// for a timeout. Run writes them in order once the database is back.
	if w.Pending() == 0 {
		err := w.group.submit(e)
		if err == nil {
			return nil
		}
		if permanent(err) {
			w.deadLetterEntry(e, err)
			return fmt.Errorf("save %s: %w", e.Kind, err)
		}
		w.log.Warn("database write failed, spooling record", "kind", e.Kind, "err", err)
	}
	if err := w.spool.add(e); err != nil {
		w.log.Error("record neither written nor spooled", "kind", e.Kind, "err", err)
		return fmt.Errorf("save %s: %w", e.Kind, err)
	}
	w.metrics.spooled.WithLabelValues(e.Kind).Inc()
	w.metrics.pending.Set(float64(w.Pending()))
	return nil
}

// deadLetterEntry keeps a record the database refused for good in the
// dead-letter file, so that it neither blocks the records behind it nor is
// lost.
func (w *Writer) deadLetterEntry(e spoolEntry, reason error) {
	w.metrics.deadLettered.WithLabelValues(e.Kind).Inc()
	line, err := json.Marshal(e)
	if err == nil {
		err = w.spool.deadLetter(line, reason)
	}
	if err != nil {
		w.log.Error("record refused by the database and not kept", "kind", e.Kind, "reason", reason, "err", err)
		return
	}
	w.log.Error("record refused by the database; kept in the dead-letter file",
		"kind", e.Kind, "sqlstate", sqlState(reason), "file", w.spool.path(deadLetterFile), "err", reason)
}

// write makes one bounded attempt to insert e.
func (w *Writer) write(ctx context.Context, e spoolEntry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.WriteTimeout)
	defer cancel()
	var err error
	switch e.Kind {
	case kindCall:
		err = insertCall(ctx, w.pool, *e.Call)
	case kindAnswered:
		err = w.writeAnswered(ctx, *e.Call, *e.Draft)
	default:
		err = insertCallback(ctx, w.pool, *e.Callback)
	}
	if err != nil {
		w.metrics.writeErrors.WithLabelValues(e.Kind).Inc()
		return err
	}
	w.metrics.written.WithLabelValues(e.Kind).Inc()
	return nil
}

// writeAnswered writes an answered call's record and draft ticket (S12) in
// one round trip: one batch, which PostgreSQL runs as one implicit
// transaction (both rows or neither). A transaction of its own took six
// round trips (begin, call, ticket, read back, event, commit), each holding a
// pooled connection; at a few hundred hang-ups a second on a busy machine
// those held the whole pool, and callers queueing behind them waited for a
// connection to look up their ticket owner (S16).
func (w *Writer) writeAnswered(ctx context.Context, r CallRecord, d DraftFacts) error {
	b := &pgx.Batch{}
	b.Queue(callSQL, callArgs(r)...)
	created, ref := false, ""
	b.Queue(draftSQL, draftArgs(w.opts.EntryWindow, d)...).QueryRow(func(row pgx.Row) error {
		var err error
		created, ref, err = scanDraft(row)
		return err
	})
	if err := w.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert call %s with its draft ticket: %w", r.ID, err)
	}
	if created {
		w.metrics.created.WithLabelValues(ChannelPhone).Inc()
		if w.opts.OnDraft != nil && d.AgentID != "" {
			w.opts.OnDraft(ctx, DraftWritten{CallID: d.CallID, AgentID: d.AgentID, Ref: ref,
				EntryDeadline: d.CallEndedAt.Add(w.opts.EntryWindow)})
		}
	}
	return nil
}

// Run drains the spool left by a previous process, then retries spooled
// records every RetryInterval until ctx is done. It returns nil when ctx is
// done, and an error when the spool cannot be read at all.
func (w *Writer) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("writer: already running")
	}
	defer w.running.Store(false)
	if err := w.drain(ctx); err != nil && !errors.Is(err, errDatabaseDown) {
		return fmt.Errorf("writer: %w", err)
	}
	t := time.NewTicker(w.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if w.Pending() == 0 {
			continue
		}
		switch err := w.drain(ctx); {
		case errors.Is(err, errDatabaseDown):
			w.log.Debug("database still unavailable; records wait in the spool", "pending", w.Pending(), "err", err)
		case err != nil:
			w.log.Error("drain spool", "err", err)
		}
	}
}

// errDatabaseDown ends a drain pass early: the rest waits for the next one.
var errDatabaseDown = errors.New("database unavailable")

// drain writes the spooled records in order, stopping at the first one the
// database cannot take now, then removes what it wrote or dead-lettered from
// the spool.
func (w *Writer) drain(ctx context.Context) error {
	lines, err := w.spool.snapshot()
	if err != nil {
		return err
	}
	done := 0
	var stop error
	for _, line := range lines {
		if ctx.Err() != nil {
			break
		}
		if stop = w.drainLine(ctx, line); stop != nil {
			break
		}
		done++
	}
	if done > 0 {
		if err := w.spool.commit(done); err != nil {
			return err
		}
		w.log.Info("spooled records written", "count", done, "pending", w.Pending())
	}
	w.metrics.pending.Set(float64(w.Pending()))
	return stop
}

// drainLine writes one spool line; a line the database will never take is
// moved to the dead-letter file. A nil result means the line is done with.
func (w *Writer) drainLine(ctx context.Context, line []byte) error {
	e, err := decodeEntry(line)
	if err == nil {
		err = w.write(ctx, e)
	}
	if err == nil {
		return nil
	}
	if !permanent(err) {
		return fmt.Errorf("%w: %w", errDatabaseDown, err)
	}
	if derr := w.spool.deadLetter(line, err); derr != nil {
		return derr
	}
	kind := e.Kind
	if !slices.Contains([]string{kindCall, kindCallback, kindAnswered}, kind) {
		kind = "unknown"
	}
	w.metrics.deadLettered.WithLabelValues(kind).Inc()
	w.log.Error("spooled record refused by the database; kept in the dead-letter file",
		"kind", kind, "sqlstate", sqlState(err), "file", w.spool.path(deadLetterFile), "err", err)
	return nil
}
