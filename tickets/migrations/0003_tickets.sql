-- 0003: tickets, their append-only events, idempotency keys and nuisance
-- numbers (S12–S18, S20, S21).
--
-- Rules that must hold for every writer live here, not only in Go (STYLE 9):
-- the entry stamp and the late flag (S12), immutable references and entry
-- deadlines, append-only events with database time.

-- Human references T<YYYYMMDD>-<number>: the date is the database's, in the
-- zone of the custom setting hotline.timezone (ALTER DATABASE … SET
-- hotline.timezone = '…' or a connection parameter), Asia/Shanghai when unset;
-- the number comes from one sequence, so references are unique across nodes.
-- It has at least 6 digits (more after 999999 tickets, never a wrap-around).
CREATE SEQUENCE ticket_ref_seq;

CREATE FUNCTION ticket_ref() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'T' || to_char(now() AT TIME ZONE coalesce(nullif(current_setting('hotline.timezone', true), ''), 'Asia/Shanghai'), 'YYYYMMDD')
        || '-' || CASE WHEN length(n) < 6 THEN lpad(n, 6, '0') ELSE n END
    FROM (SELECT nextval('ticket_ref_seq')::text AS n) s
$$;

CREATE TABLE tickets (
    id                 bigserial   PRIMARY KEY,
    ref                text        NOT NULL DEFAULT ticket_ref()
        CONSTRAINT tickets_ref_key UNIQUE
        CONSTRAINT tickets_ref_format CHECK (ref ~ '^T[0-9]{8}-[0-9]{6,}$'),
    call_id            text        REFERENCES calls (id)
        CONSTRAINT tickets_call_id_key UNIQUE,          -- NULL for web and letter tickets (S20)
    channel            text        NOT NULL
        CONSTRAINT tickets_channel_check CHECK (channel IN ('phone', 'web', 'letter')),
    status             text        NOT NULL
        CONSTRAINT tickets_status_check CHECK (status IN ('draft', 'open', 'in_progress', 'resolved', 'closed', 'reopened')),
    owner_agent        text,                             -- S16: changes only by a hand-off event
    caller_number      text,
    caller_name        text,
    relation           text,                             -- S13: when calling on someone's behalf
    callback_phone     text,
    -- S4/S5: filled by the privacy code (0004) through IDProtector.
    id_type            text
        CONSTRAINT tickets_id_type_check CHECK (id_type IN ('resident', 'passport')),
    id_ciphertext      bytea,
    id_key_version     int,
    id_blind_index     bytea,
    id_masked          text,
    description        text,
    category           text
        CONSTRAINT tickets_category_check CHECK (category IN ('inquiry', 'complaint', 'suggestion', 'report', 'emergency', 'business')),
    result             text
        CONSTRAINT tickets_result_check CHECK (result IN ('answered', 'transferred', 'appointment', 'dispatched', 'follow_up')),
    follow_up_due      timestamptz,
    -- Call facts copied at call end (S12).
    call_ended_at      timestamptz,
    wait_seconds       int,
    recording_path     text,
    agent_id           text,
    -- S12: the deadline is call end + entry window; entered_at and late are
    -- written only by tickets_stamp, whatever the client sends.
    entry_deadline     timestamptz,
    entered_at         timestamptz,
    late               boolean     NOT NULL DEFAULT false,
    overdue_flagged_at timestamptz,
    -- S14/S15: deadlines computed at entry; breach and escalation by the sweeper.
    first_contact_due  timestamptz,
    due_at             timestamptz,
    breached_at        timestamptz,
    escalation_level   int         NOT NULL DEFAULT 0
        CONSTRAINT tickets_escalation_level_check CHECK (escalation_level BETWEEN 0 AND 2),
    escalated_at       timestamptz,
    next_escalation_at timestamptz,                      -- level 2 is due at this time
    survey_score       smallint
        CONSTRAINT tickets_survey_score_check CHECK (survey_score BETWEEN 1 AND 3), -- S18
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tickets_call_channel_check CHECK (call_id IS NULL OR channel = 'phone'),
    CONSTRAINT tickets_call_deadline_check CHECK (call_id IS NULL OR entry_deadline IS NOT NULL)
);

-- Sweeper work lists (S12, S14, S15): partial indexes that hold only the rows
-- still to act on, so a sweep stays an index scan among millions of tickets.
CREATE INDEX tickets_draft_overdue_idx ON tickets (entry_deadline)
    WHERE status = 'draft' AND overdue_flagged_at IS NULL;
CREATE INDEX tickets_due_idx ON tickets (due_at)
    WHERE status IN ('open', 'in_progress', 'reopened') AND breached_at IS NULL AND due_at IS NOT NULL;
CREATE INDEX tickets_escalation_idx ON tickets (next_escalation_at)
    WHERE escalation_level = 1 AND status IN ('open', 'in_progress', 'reopened');
-- S16 repeat callers, panel lists, look-ups by ID number (blind index, S5).
CREATE INDEX tickets_caller_created_idx ON tickets (caller_number, created_at);
CREATE INDEX tickets_status_created_idx ON tickets (status, created_at);
CREATE INDEX tickets_owner_created_idx ON tickets (owner_agent, created_at);
CREATE INDEX tickets_id_lookup_idx ON tickets (id_blind_index) WHERE id_blind_index IS NOT NULL;

-- tickets_stamp enforces S12 for every writer: entered_at is the database
-- clock when the status leaves draft (or at insert of a ticket that never was
-- a draft, S20), late = entered after entry_deadline; ref, created_at and
-- entry_deadline never change; nothing goes back to draft.
CREATE FUNCTION tickets_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        IF NEW.status = 'draft' THEN
            NEW.entered_at := NULL;
            NEW.late := false;
        ELSE
            NEW.entered_at := now();
            NEW.late := NEW.entry_deadline IS NOT NULL AND now() > NEW.entry_deadline;
        END IF;
    ELSE
        NEW.ref := OLD.ref;
        NEW.created_at := OLD.created_at;
        NEW.entry_deadline := OLD.entry_deadline;
        IF NEW.status = 'draft' AND OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'ticket % cannot go back to draft', OLD.ref USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.status = 'draft' AND NEW.status <> 'draft' THEN
            NEW.entered_at := now();
            NEW.late := OLD.entry_deadline IS NOT NULL AND now() > OLD.entry_deadline;
        ELSE
            NEW.entered_at := OLD.entered_at;
            NEW.late := OLD.late;
        END IF;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER tickets_stamp BEFORE INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_stamp();

-- Append-only logs: rows carry database time and are never changed; the
-- refusal is statement-level, so even an UPDATE or DELETE matching no row fails.
CREATE FUNCTION append_only_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.at := now();
    RETURN NEW;
END
$$;

CREATE FUNCTION append_only_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Every change of a ticket is an event with actor and database time.
-- Kinds (Go constants Event*): created, submitted, late_entry, overdue,
-- status, note, extended, handoff, breach, escalated, survey, reopened.
CREATE TABLE ticket_events (
    id        bigserial   PRIMARY KEY,
    ticket_id bigint      NOT NULL REFERENCES tickets (id),
    kind      text        NOT NULL CONSTRAINT ticket_events_kind_check CHECK (kind ~ '^[a-z_]+$'),
    actor     text        NOT NULL,
    data      jsonb       NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, id);

CREATE TRIGGER ticket_events_stamp BEFORE INSERT ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION append_only_stamp();
CREATE TRIGGER ticket_events_refuse_change BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse();
CREATE TRIGGER ticket_events_refuse_truncate BEFORE TRUNCATE ON ticket_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse();

-- A submission retried with the same key returns the stored response and
-- changes nothing. The primary key makes concurrent duplicates wait
-- for the first and then find its row.
CREATE TABLE idempotency_keys (
    key        text        PRIMARY KEY,
    scope      text        NOT NULL,              -- the operation and target the key was used for
    ticket_id  bigint      REFERENCES tickets (id),
    response   jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- S21: numbers flagged as nuisance; every flag and clear is audited.
CREATE TABLE nuisance_numbers (
    number     text        PRIMARY KEY,
    flagged_by text        NOT NULL,
    reason     text        NOT NULL,
    flagged_at timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz,
    cleared_by text
);

CREATE TABLE nuisance_events (
    id     bigserial   PRIMARY KEY,
    number text        NOT NULL,
    action text        NOT NULL CONSTRAINT nuisance_events_action_check CHECK (action IN ('flagged', 'cleared')),
    actor  text        NOT NULL,
    reason text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nuisance_events_number_idx ON nuisance_events (number, id);

CREATE TRIGGER nuisance_events_stamp BEFORE INSERT ON nuisance_events
    FOR EACH ROW EXECUTE FUNCTION append_only_stamp();
CREATE TRIGGER nuisance_events_refuse_change BEFORE UPDATE OR DELETE ON nuisance_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse();
CREATE TRIGGER nuisance_events_refuse_truncate BEFORE TRUNCATE ON nuisance_events
    FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse();
