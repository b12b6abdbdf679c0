-- The panel password and the end of panel sessions.
--
-- panel_hash is an argon2id hash (PHC string) of the agent's panel password:
-- the HA1 digests are fast unsalted hashes that SIP digest needs, unfit to
-- guard the web panel. NULL until set: such an agent cannot sign in to the
-- panel until `hotline agent password` sets it.
--
-- session_epoch ends every panel session of the agent when it changes: the
-- API compares it with the epoch a session was issued under on each request,
-- so every node sees the change at once. The trigger bumps it for every
-- writer, not only the ones that remember to.

ALTER TABLE agents
    ADD COLUMN panel_hash text
        CONSTRAINT agents_panel_hash_check CHECK (panel_hash LIKE '$argon2id$%' AND length(panel_hash) <= 200),
    ADD COLUMN session_epoch bigint NOT NULL DEFAULT 1;

CREATE FUNCTION agents_bump_session_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled IS DISTINCT FROM OLD.enabled
       OR NEW.role IS DISTINCT FROM OLD.role
       OR NEW.panel_hash IS DISTINCT FROM OLD.panel_hash
       OR NEW.ha1_md5 IS DISTINCT FROM OLD.ha1_md5
       OR NEW.ha1_sha256 IS DISTINCT FROM OLD.ha1_sha256 THEN
        NEW.session_epoch := OLD.session_epoch + 1;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER agents_session_epoch BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_bump_session_epoch();
