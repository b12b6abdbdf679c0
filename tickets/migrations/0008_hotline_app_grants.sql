-- 0008: the server's database role. Migrations run as the role that owns the
-- tables (only an owner may drop or disable a trigger); the server logs in as
-- a role that is a member of hotline_app, which gets here exactly the DML the
-- server's code performs and nothing else: no DDL, no DELETE or TRUNCATE
-- anywhere, and the append-only logs (audit_log, ticket_events,
-- nuisance_events, agent_state_history) INSERT and SELECT only, so their
-- triggers cannot be dropped and their rows cannot be rewritten from the
-- server's connection (S5). A later migration that creates a table grants
-- hotline_app what the server needs on it.
--
-- hotline_app is created by 0004 when the migrating role may create roles;
-- without that right (a managed database) a person creates it and runs the
-- GRANTs below by hand, as README "Database roles" says.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        BEGIN
            CREATE ROLE hotline_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
            RAISE NOTICE 'role hotline_app not created here: %', SQLERRM;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hotline_app') THEN
        RAISE NOTICE 'role hotline_app does not exist: grant the server role its rights by hand';
        RETURN;
    END IF;

    -- Whatever an earlier grant or a default gave, start from nothing.
    REVOKE ALL ON calls, callback_requests, agents, agent_state_history, tickets, ticket_events,
        idempotency_keys, nuisance_numbers, nuisance_events, audit_log, schema_migrations FROM hotline_app;

    -- Call records and callback requests (writer; SIP handlers read them).
    GRANT SELECT, INSERT ON calls, callback_requests TO hotline_app;
    -- Agents: the directory adds, disables and re-keys them; never deleted,
    -- their history refers to them.
    GRANT SELECT, INSERT, UPDATE ON agents TO hotline_app;
    -- Tickets change through the store; their references come from a sequence.
    GRANT SELECT, INSERT, UPDATE ON tickets, idempotency_keys, nuisance_numbers TO hotline_app;
    -- Append-only logs.
    GRANT SELECT, INSERT ON agent_state_history, ticket_events, nuisance_events, audit_log TO hotline_app;
    -- CheckSchema at start-up reads the applied versions.
    GRANT SELECT ON schema_migrations TO hotline_app;

    GRANT USAGE ON SEQUENCE callback_requests_id_seq, agent_state_history_id_seq, tickets_id_seq,
        ticket_events_id_seq, nuisance_events_id_seq, audit_log_id_seq, ticket_ref_seq TO hotline_app;
END
$$;

-- No one but the owner creates objects in the schema (PostgreSQL 15 and
-- later already start so; an older server's public schema belongs to the
-- superuser, and then only a superuser migration can change it).
DO $$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'CREATE on schema public not revoked from PUBLIC: %', SQLERRM;
END
$$;
