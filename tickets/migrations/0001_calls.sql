-- 0001: call records and callback requests (S9, S11).
--
-- calls.id is our call id, so a later ticket can reference calls(id) and be
-- written in the same transaction as its call record (S12).

CREATE TABLE calls (
    id          text        PRIMARY KEY,
    sip_call_id text        NOT NULL,
    caller      text        NOT NULL,
    dialled     text        NOT NULL,
    category    text,                      -- NULL when the caller left before choosing (S3)
    priority    boolean     NOT NULL DEFAULT false,
    node        text        NOT NULL,
    started_at  timestamptz NOT NULL,
    answered_at timestamptz,               -- NULL when the call ended before our answer
    queued_at   timestamptz,               -- NULL when the call never reached a queue
    ended_at    timestamptz NOT NULL,
    outcome     text        NOT NULL
        CONSTRAINT calls_outcome_check CHECK (outcome IN (
            'abandoned_in_menu', 'abandoned_in_queue', 'after_hours',
            'callback', 'failed', 'answered')),
    hung_up_by  text        NOT NULL       -- S11: who hung up first
        CONSTRAINT calls_hung_up_by_check CHECK (hung_up_by IN ('caller', 'system', 'agent')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Repeat-caller look-ups (S16) and reports by time.
CREATE INDEX calls_caller_started_at_idx ON calls (caller, started_at);
CREATE INDEX calls_ended_at_idx ON calls (ended_at);

-- No foreign key to calls: the IVR records a callback request while the call is
-- still in progress, before the call record exists (and either may arrive late
-- from the writer's spool after a database outage).
CREATE TABLE callback_requests (
    id           bigserial   PRIMARY KEY,
    call_id      text        NOT NULL,
    caller       text        NOT NULL,
    category     text,
    reason       text        NOT NULL
        CONSTRAINT callback_requests_reason_check CHECK (reason IN ('after_hours', 'max_wait', 'no_agents')),
    requested_at timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'pending',
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- A retry after an outage must never duplicate a request.
    CONSTRAINT callback_requests_call_reason_key UNIQUE (call_id, reason)
);

-- The work list of callbacks still to be turned into tickets (S9).
CREATE INDEX callback_requests_pending_idx ON callback_requests (requested_at)
    WHERE status = 'pending';
