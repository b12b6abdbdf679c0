-- 0005: the agent part of a call record. S1: the caller's total wait and
-- whether it exceeded the service-level threshold; S11: who hung up (already
-- in hung_up_by, now also 'agent'); S19: where the recording is.
ALTER TABLE calls
    ADD COLUMN agent_id        text,
    ADD COLUMN connected_at    timestamptz,
    ADD COLUMN wait_seconds    double precision,
    ADD COLUMN wait_exceeded   boolean NOT NULL DEFAULT false,
    ADD COLUMN recording_path  text;

CREATE INDEX calls_agent_idx ON calls (agent_id, ended_at) WHERE agent_id IS NOT NULL;

-- S21: a number flagged as nuisance hears a short message and is not queued.
ALTER TABLE calls DROP CONSTRAINT calls_outcome_check;
ALTER TABLE calls ADD CONSTRAINT calls_outcome_check CHECK (outcome IN (
    'abandoned_in_menu', 'abandoned_in_queue', 'after_hours', 'callback', 'failed', 'answered', 'nuisance'));
