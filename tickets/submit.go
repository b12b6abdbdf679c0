package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5"
)

// CreateDraftForCall creates the draft ticket of an answered call inside tx,
// the transaction that writes its call record (S12). The entry deadline is
// call end + EntryWindow, computed by PostgreSQL. A retry for the same call
// returns the existing ticket unchanged.
func (s *Store) CreateDraftForCall(ctx context.Context, tx pgx.Tx, d DraftFacts) (Ticket, error) {
	return insertDraft(ctx, tx, s.opts.EntryWindow, d, s.metrics)
}

// insertDraft is CreateDraftForCall without a Store.
func insertDraft(ctx context.Context, tx pgx.Tx, window time.Duration, d DraftFacts, m *Metrics) (Ticket, error) {
	if err := d.validate(); err != nil {
		return Ticket{}, err
	}
	created, _, err := scanDraft(tx.QueryRow(ctx, draftSQL, draftArgs(window, d)...))
	if err != nil {
		return Ticket{}, fmt.Errorf("insert draft ticket for call %s: %w", d.CallID, err)
	}
	k, err := scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets t WHERE t.call_id = $1`, d.CallID))
	if err != nil {
		return Ticket{}, fmt.Errorf("read draft ticket for call %s: %w", d.CallID, err)
	}
	if created {
		m.created.WithLabelValues(ChannelPhone).Inc()
	}
	return k, nil
}

// draftSQL inserts the draft ticket of a call (draftArgs) and, only when it
// is new, its created event, in one statement: a retry for the same call
// changes nothing. It returns the ticket id when it created the draft, no
// row when the call already had one (scanDraft). One statement is one round
// trip, which the Writer sends with the call record in one batch.
const draftSQL = `WITH t AS (INSERT INTO tickets
		(call_id, channel, status, owner_agent, agent_id, caller_number, category,
		 call_ended_at, wait_seconds, recording_path, entry_deadline, ref, language)
		VALUES ($1, 'phone', 'draft', $2, $2, $3, $4, $5, $6, $7, $5::timestamptz + make_interval(secs => $8),
		 coalesce($9, ticket_ref()), $11)
		ON CONFLICT (call_id) DO NOTHING
		RETURNING id, ref)
	INSERT INTO ticket_events (ticket_id, kind, actor, data)
	SELECT id, '` + EventCreated + `', 'system', $10 FROM t
	RETURNING ticket_id, (SELECT ref FROM t)`

func draftArgs(window time.Duration, d DraftFacts) []any {
	return []any{d.CallID, nullText(d.AgentID), d.CallerNumber, nullText(d.Category),
		d.CallEndedAt, d.WaitSeconds, nullText(d.RecordingPath), window.Seconds(), nullText(d.Ref),
		map[string]any{"channel": ChannelPhone, "call_id": d.CallID}, d.Language}
}

// scanDraft reads draftSQL's reply: whether it created the draft, and its ref.
func scanDraft(row pgx.Row) (bool, string, error) {
	var id int64
	var ref string
	switch err := row.Scan(&id, &ref); {
	case errors.Is(err, pgx.ErrNoRows):
		return false, "", nil
	case err != nil:
		return false, "", err
	}
	return true, ref, nil
}

// Submit completes a draft with the registration form (S13) and opens it.
// PostgreSQL stamps the entry time and the late flag (S12); due_at comes
// from the category's rule at that instant (S14). A retry with the same
// idemKey returns the first result and changes nothing; an empty idemKey
// disables that (a second submission then fails with ErrInvalidTransition).
func (s *Store) Submit(ctx context.Context, ref string, in SubmitInput, actor, idemKey string) (Ticket, error) {
	pid, err := s.checkInput(in)
	if err != nil {
		return Ticket{}, err
	}
	k, replayed, err := s.idempotent(ctx, idemKey, "submit:"+ref, func(tx pgx.Tx) (Ticket, error) {
		return s.submitDraft(ctx, tx, ref, in, pid, actor)
	})
	if err != nil || replayed {
		return k, err
	}
	s.metrics.observeEntry(k)
	if k.Late {
		s.log.Warn("late ticket entry", "ref", k.Ref, "agent", k.OwnerAgent, "entered_at", k.EnteredAt, "entry_deadline", k.EntryDeadline)
	}
	return k, nil
}

func (s *Store) submitDraft(ctx context.Context, tx pgx.Tx, ref string, in SubmitInput, pid *ProtectedID, actor string) (Ticket, error) {
	k, err := getTicket(ctx, tx, ref, true)
	if err != nil {
		return Ticket{}, err
	}
	if k.Status != StatusDraft {
		return Ticket{}, fmt.Errorf("ticket %s is %s, already submitted: %w", ref, k.Status, ErrInvalidTransition)
	}
	// now() is the transaction's start, the same instant tickets_stamp
	// writes as entered_at, so due_at counts from the entry stamp.
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return Ticket{}, fmt.Errorf("read database time: %w", err)
	}
	dl := s.rules.Compute(s.opts.Calendar, in.Category, in.Result, now, in.FollowUpDue)
	status := StatusOpen
	if k.SurveyScore == 3 && in.Category == configs.CategoryComplaint {
		status = StatusReopened // S18: the caller was dissatisfied before the entry
	}
	if err := updateForm(ctx, tx, k.ID, status, in, pid, dl); err != nil {
		return Ticket{}, fmt.Errorf("submit ticket %s: %w", ref, err)
	}
	if k, err = getTicket(ctx, tx, ref, false); err != nil {
		return Ticket{}, err
	}
	return k, submitEvents(ctx, tx, k, actor)
}

func updateForm(ctx context.Context, tx pgx.Tx, id int64, status string, in SubmitInput, pid *ProtectedID, dl Deadlines) error {
	var p ProtectedID
	if pid != nil {
		p = *pid
	}
	_, err := tx.Exec(ctx, `UPDATE tickets SET status = $2, caller_name = $3, relation = $4, callback_phone = $5,
		description = $6, category = $7, result = $8, follow_up_due = $9, first_contact_due = $10, due_at = $11,
		deadline_uncertain = $17,
		id_type = coalesce($12, id_type), id_ciphertext = coalesce($13, id_ciphertext),
		id_key_version = coalesce($14, id_key_version), id_blind_index = coalesce($15, id_blind_index),
		id_masked = coalesce($16, id_masked)
		WHERE id = $1`,
		id, status, in.CallerName, nullText(in.Relation), normalizePhone(in.CallbackPhone),
		in.Description, in.Category, in.Result, nullTime(in.FollowUpDue), nullTime(dl.FirstContactDue), nullTime(dl.Due),
		nullText(p.Type), nullBytes(p.Ciphertext), nullInt(p.KeyVersion), nullBytes(p.BlindIndex), nullText(p.Masked),
		dl.Uncertain)
	return err
}

func submitEvents(ctx context.Context, tx pgx.Tx, k Ticket, actor string) error {
	data := map[string]any{"category": k.Category, "result": k.Result, "due_at": nullTime(k.DueAt), "status": k.Status}
	if k.DeadlineUncertain {
		data["deadline_uncertain"] = true
	}
	if err := addEvent(ctx, tx, k.ID, EventSubmitted, actor, data); err != nil {
		return err
	}
	if k.Late {
		late := map[string]any{"entry_deadline": k.EntryDeadline, "entered_at": k.EnteredAt}
		if err := addEvent(ctx, tx, k.ID, EventLateEntry, "system", late); err != nil {
			return err
		}
	}
	if k.Status == StatusReopened {
		return addEvent(ctx, tx, k.ID, EventReopened, "system", map[string]any{"reason": "dissatisfied survey on a complaint"})
	}
	return nil
}

// CreateWebTicket opens a ticket for a contact that did not come by phone
// (S20): channel web or letter, owned by actor, entered at once.
func (s *Store) CreateWebTicket(ctx context.Context, in SubmitInput, channel, actor, idemKey string) (Ticket, error) {
	if channel != ChannelWeb && channel != ChannelLetter {
		return Ticket{}, FieldErrors{"channel": msg(MsgChannelChoose)}
	}
	pid, err := s.checkInput(in)
	if err != nil {
		return Ticket{}, err
	}
	k, replayed, err := s.idempotent(ctx, idemKey, "create:"+channel+":"+actor, func(tx pgx.Tx) (Ticket, error) {
		return s.insertOpen(ctx, tx, in, pid, channel, actor)
	})
	if err == nil && !replayed {
		s.metrics.created.WithLabelValues(channel).Inc()
		s.metrics.observeEntry(k)
	}
	return k, err
}

func (s *Store) insertOpen(ctx context.Context, tx pgx.Tx, in SubmitInput, pid *ProtectedID, channel, actor string) (Ticket, error) {
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return Ticket{}, fmt.Errorf("read database time: %w", err)
	}
	var id int64
	var ref string
	err := tx.QueryRow(ctx, `INSERT INTO tickets (channel, status, owner_agent, caller_number)
		VALUES ($1, 'open', $2, $3) RETURNING id, ref`, channel, actor, normalizePhone(in.CallbackPhone)).Scan(&id, &ref)
	if err != nil {
		return Ticket{}, fmt.Errorf("insert %s ticket: %w", channel, err)
	}
	dl := s.rules.Compute(s.opts.Calendar, in.Category, in.Result, now, in.FollowUpDue)
	if err := updateForm(ctx, tx, id, StatusOpen, in, pid, dl); err != nil {
		return Ticket{}, fmt.Errorf("fill %s ticket %s: %w", channel, ref, err)
	}
	if err := addEvent(ctx, tx, id, EventCreated, actor, map[string]any{"channel": channel}); err != nil {
		return Ticket{}, err
	}
	k, err := getTicket(ctx, tx, ref, false)
	if err != nil {
		return Ticket{}, err
	}
	return k, submitEvents(ctx, tx, k, actor)
}

// idempotent runs op once per key (a double click or a retry
// changes nothing). The key is claimed first: a concurrent duplicate blocks
// on the primary key until the first commits, then reads its response.
func (s *Store) idempotent(ctx context.Context, key, scope string, op func(pgx.Tx) (Ticket, error)) (Ticket, bool, error) {
	var out Ticket
	replayed := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if key != "" {
			prev, found, err := claimKey(ctx, tx, key, scope)
			if err != nil || found {
				out, replayed = prev, found
				return err
			}
		}
		k, err := op(tx)
		if err != nil {
			return err
		}
		out = k
		if key == "" {
			return nil
		}
		resp, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("encode idempotent response: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET ticket_id = $2, response = $3 WHERE key = $1`, key, k.ID, resp)
		return err
	})
	return out, replayed, err
}

// claimKey inserts key; when it already exists it returns the stored result.
func claimKey(ctx context.Context, tx pgx.Tx, key, scope string) (Ticket, bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (key, scope, response) VALUES ($1, $2, '{}')
		ON CONFLICT (key) DO NOTHING`, key, scope)
	if err != nil {
		return Ticket{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return Ticket{}, false, nil
	}
	var stored string
	var id *int64
	var resp []byte
	if err := tx.QueryRow(ctx, `SELECT scope, ticket_id, response FROM idempotency_keys WHERE key = $1`, key).
		Scan(&stored, &id, &resp); err != nil {
		return Ticket{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if stored != scope || id == nil {
		return Ticket{}, false, fmt.Errorf("key for %s used for %s: %w", scope, stored, ErrIdempotencyConflict)
	}
	var k Ticket
	if err := json.Unmarshal(resp, &k); err != nil {
		return Ticket{}, false, fmt.Errorf("decode idempotent response: %w", err)
	}
	k.ID = *id
	return k, true, nil
}

// checkInput validates the form (S13), one message per field, and protects
// the ID number (S4, S5).
func (s *Store) checkInput(in SubmitInput) (*ProtectedID, error) {
	errs := s.validateForm(in)
	var pid *ProtectedID
	if _, bad := errs["id_type"]; in.IDNumber != "" && !bad {
		p, err := s.opts.IDs.Protect(in.IDType, in.IDNumber)
		switch {
		case errors.Is(err, ErrInvalidID):
			errs["id_number"] = IDMessage(err)
		case err != nil:
			return nil, fmt.Errorf("protect id number: %w", err)
		default:
			pid = &p
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return pid, nil
}

func (s *Store) validateForm(in SubmitInput) FieldErrors {
	errs := FieldErrors{}
	req := func(field, v, code string) {
		if strings.TrimSpace(v) == "" {
			errs[field] = msg(code)
		}
	}
	req("caller_name", in.CallerName, MsgCallerNameRequired)
	if in.OnBehalf {
		req("relation", in.Relation, MsgRelationRequired)
	}
	if p := normalizePhone(in.CallbackPhone); len(p) < 5 || len(p) > 20 || strings.Trim(p, "0123456789") != "" {
		errs["callback_phone"] = msg(MsgCallbackPhone, "min", "5", "max", "20")
	}
	req("description", in.Description, MsgDescriptionRequired)
	if !slices.Contains(configs.TicketCategories(), in.Category) {
		errs["category"] = msg(MsgCategoryChoose, "choices", strings.Join(configs.TicketCategories(), ", "))
	}
	if !slices.Contains(results, in.Result) {
		errs["result"] = msg(MsgResultChoose, "choices", strings.Join(results, ", "))
	}
	if s.rules.followUpNeeded(in.Category, in.Result) && in.FollowUpDue.IsZero() {
		errs["follow_up_due"] = msg(MsgFollowUpRequired)
	} else if !in.FollowUpDue.IsZero() && !in.FollowUpDue.After(time.Now()) {
		errs["follow_up_due"] = msg(MsgFollowUpPast)
	}
	switch {
	case in.IDNumber == "" && s.rules.idRequired(in.Category):
		errs["id_number"] = msg(MsgIDNumberRequired)
	case in.IDNumber != "" && in.IDType != IDTypeResident && in.IDType != IDTypePassport:
		errs["id_type"] = msg(MsgIDTypeChoose)
	}
	return errs
}

// normalizePhone drops the spaces and dashes people type in numbers.
func normalizePhone(p string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(p))
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
