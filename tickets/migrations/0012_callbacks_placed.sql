-- 0012: callback requests are placed (S9, S14, S15).
--
-- A request becomes a ticket of channel 'callback' with its own deadline
-- (deadlines.yaml "callback"), so the sweeper breaches and escalates a
-- callback nobody returned like any other ticket. The placing state lives on
-- the request: each attempt is leased to one node (leased_by, lease_until;
-- taken with FOR UPDATE SKIP LOCKED), so two nodes never dial the same
-- request at the same time, and a node that dies mid-attempt lets the lease
-- run out for another node to retry.
ALTER TABLE tickets DROP CONSTRAINT tickets_channel_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_channel_check
    CHECK (channel IN ('phone', 'web', 'letter', 'callback'));

ALTER TABLE callback_requests
    ADD COLUMN ticket_id       bigint      REFERENCES tickets (id),
    ADD COLUMN attempts        int         NOT NULL DEFAULT 0
        CONSTRAINT callback_requests_attempts_check CHECK (attempts BETWEEN 0 AND 100),
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN claimed_by      text,
    ADD COLUMN leased_by       text,
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN last_result     text
        CONSTRAINT callback_requests_last_result_check CHECK (last_result ~ '^[a-z_]{1,32}$'),
    ADD COLUMN closed_at       timestamptz,
    ADD COLUMN connected_at    timestamptz;

ALTER TABLE callback_requests ADD CONSTRAINT callback_requests_status_check
    CHECK (status IN ('pending', 'connected', 'failed'));

-- The placers' work list: pending requests with a ticket, oldest first.
CREATE INDEX callback_requests_due_idx ON callback_requests (requested_at)
    WHERE status = 'pending' AND ticket_id IS NOT NULL;
-- Requests still to be turned into tickets.
CREATE INDEX callback_requests_unticketed_idx ON callback_requests (id)
    WHERE ticket_id IS NULL AND status = 'pending';

-- The server leases, retries and closes requests.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        GRANT UPDATE ON callback_requests TO hotline_app;
    ELSE
        RAISE NOTICE 'role hotline_app does not exist: grant it UPDATE on callback_requests by hand';
    END IF;
END
$$;
