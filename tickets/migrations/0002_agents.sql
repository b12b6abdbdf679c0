-- 0002: the agent directory and the agent state history.
--
-- An agent's id is its SIP user name. The password is never stored: only
-- HA1 = H(id:realm:password) per digest algorithm (RFC 3261 §22.4, RFC 8760
-- §3), so a leak of this table does not reveal the password, and a change of
-- realm needs new passwords (the realm is kept to tell that case apart).

CREATE TABLE agents (
    id           text        PRIMARY KEY
        CONSTRAINT agents_id_check CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    display_name text        NOT NULL
        CONSTRAINT agents_display_name_check CHECK (length(display_name) BETWEEN 1 AND 100),
    staff_number text        NOT NULL   -- announced to callers (S2)
        CONSTRAINT agents_staff_number_check CHECK (staff_number ~ '^[0-9]{1,16}$'),
    categories   text[]      NOT NULL
        CONSTRAINT agents_categories_check CHECK (
            cardinality(categories) > 0
            AND categories <@ ARRAY['inquiry', 'complaint', 'emergency', 'business']::text[]),
    role         text        NOT NULL DEFAULT 'agent'
        CONSTRAINT agents_role_check CHECK (role IN ('agent', 'supervisor')),
    enabled      boolean     NOT NULL DEFAULT true,
    realm        text        NOT NULL,
    ha1_md5      text        NOT NULL
        CONSTRAINT agents_ha1_md5_check CHECK (ha1_md5 ~ '^[0-9a-f]{32}$'),
    ha1_sha256   text        NOT NULL
        CONSTRAINT agents_ha1_sha256_check CHECK (ha1_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz,
    -- A disabled agent carries the time it was disabled, an enabled one none.
    CONSTRAINT agents_disabled_at_check CHECK (enabled = (disabled_at IS NULL))
);

-- Two agents announcing the same staff number could not be told apart (S2).
CREATE UNIQUE INDEX agents_staff_number_idx ON agents (staff_number);

-- One row per agent state transition, stamped by the database (S12).
CREATE TABLE agent_state_history (
    id       bigserial   PRIMARY KEY,
    agent_id text        NOT NULL REFERENCES agents (id),
    state    text        NOT NULL
        CONSTRAINT agent_state_history_state_check CHECK (state IN (
            'offline', 'available', 'ringing', 'on_call', 'wrap_up', 'paused', 'not_responding')),
    reason   text,                   -- pause reason code, or why the state was forced
    node     text,                   -- the node that made the transition
    call_id  text,                   -- the call that caused it (ringing, on_call, wrap_up)
    at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX agent_state_history_agent_at_idx ON agent_state_history (agent_id, at);
