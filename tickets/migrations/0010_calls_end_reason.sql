-- 0010: why a call ended (bye, cancelled, media_timeout, no_ack, shutdown,
-- node_lost, ...), and callbacks asked for after an agent's phone vanished
-- mid-call (agent_lost).
ALTER TABLE calls ADD COLUMN end_reason text NOT NULL DEFAULT ''
    CONSTRAINT calls_end_reason_check CHECK (end_reason ~ '^[a-z_]{0,32}$');

ALTER TABLE callback_requests DROP CONSTRAINT callback_requests_reason_check;
ALTER TABLE callback_requests ADD CONSTRAINT callback_requests_reason_check
    CHECK (reason IN ('after_hours', 'max_wait', 'no_agents', 'agent_lost'));
