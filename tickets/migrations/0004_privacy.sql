-- 0004: the audit log of personal data views (S5).
--
-- Every unmasked view of an ID number, and every refused request for one,
-- leaves a row here. The application may only INSERT: the triggers below
-- refuse UPDATE, DELETE and TRUNCATE for every role that does not first
-- disable them (only the table owner can), and the role hotline_app, the
-- one the application should log in through, gets no UPDATE/DELETE grant.
--
-- ticket_id has no foreign key: tickets belong to another migration (0003),
-- and an audit row must outlive anything it refers to.

CREATE TABLE audit_log (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL
        CONSTRAINT audit_log_actor_check CHECK (actor <> ''),
    actor_role text,
    action     text        NOT NULL            -- e.g. unmask_id, unmask_denied
        CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z][a-z_]*$'),
    ticket_id  bigint,
    reason     text        NOT NULL,           -- as the person stated it
    detail     text,                           -- why a request was refused
    client_ip  text
);

CREATE INDEX audit_log_ticket_id_at_idx ON audit_log (ticket_id, at);
CREATE INDEX audit_log_actor_at_idx ON audit_log (actor, at);

-- The time of a view is the database's, never the client's (S12).
CREATE FUNCTION audit_log_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_stamp
    BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_stamp();

-- Statement-level, so that even an UPDATE or DELETE matching no row fails:
-- an attempt to rewrite the log is an error, whatever it hits.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed (S5)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The application role. Roles are cluster-wide: another database of the same
-- server may have created it (or be creating it right now), and a migration
-- run by a user without CREATEROLE must still succeed.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        BEGIN
            CREATE ROLE hotline_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
            RAISE NOTICE 'role hotline_app not created here: %', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM hotline_app;
        GRANT SELECT, INSERT ON audit_log TO hotline_app;
        GRANT USAGE ON SEQUENCE audit_log_id_seq TO hotline_app;
    END IF;
END
$$;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
