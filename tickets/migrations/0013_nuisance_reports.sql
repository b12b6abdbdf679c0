-- 0013: an agent reports a nuisance number; a supervisor decides (S21).
--
-- S21 lets an agent flag a caller as nuisance; a flag keeps that number out
-- of the queues, emergencies included, so one agent's flag alone would let
-- any agent cut a resident off. An agent's flag is therefore a report: it
-- blocks nothing until a supervisor flags the number (which decides every
-- open report on it) or dismisses the report. One open report per number;
-- every report and dismissal is in the append-only nuisance_events.
CREATE TABLE nuisance_reports (
    id          bigserial   PRIMARY KEY,
    number      text        NOT NULL,
    reported_by text        NOT NULL,
    reason      text        NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    decided_by  text,
    decision    text        CONSTRAINT nuisance_reports_decision_check CHECK (decision IN ('flagged', 'dismissed')),
    CONSTRAINT nuisance_reports_decided_check CHECK ((decided_at IS NULL) = (decision IS NULL))
);
CREATE UNIQUE INDEX nuisance_reports_open_idx ON nuisance_reports (number) WHERE decided_at IS NULL;

ALTER TABLE nuisance_events DROP CONSTRAINT nuisance_events_action_check;
ALTER TABLE nuisance_events ADD CONSTRAINT nuisance_events_action_check
    CHECK (action IN ('flagged', 'cleared', 'reported', 'dismissed'));

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        GRANT SELECT, INSERT, UPDATE ON nuisance_reports TO hotline_app;
        GRANT USAGE ON SEQUENCE nuisance_reports_id_seq TO hotline_app;
    ELSE
        RAISE NOTICE 'role hotline_app does not exist: grant it SELECT, INSERT, UPDATE on nuisance_reports by hand';
    END IF;
END
$$;
