-- The panel password, the end of panel sessions, normalised nuisance numbers.
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

-- S21: flags are matched on the normalised number (tickets.NormalizeNumber);
-- earlier flags kept the number as typed. This rewrites them the same way
-- (a temporary copy of the rules, gone with the migration's session), and
-- where two flags become one number keeps the active one, else the latest.
-- The audit rows keep the number as it was typed.
CREATE FUNCTION pg_temp.normalize_phone(raw text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    c text := translate(btrim(raw), E'＋０１２３４５６７８９ \t-.()/\u3000－（）', '+0123456789');
    n text;
BEGIN
    IF c !~ '^\+?[0-9]+$' THEN
        RETURN c;
    END IF;
    IF c LIKE '00%' THEN
        c := '+' || substr(c, 3);
    END IF;
    IF c ~ '^\+86[0-9]' THEN
        n := substr(c, 4);
        IF n ~ '^1[3-9][0-9]{9}$' OR n LIKE '0%' OR length(n) < 9
           OR (length(n) = 10 AND (n LIKE '400%' OR n LIKE '800%')) THEN
            RETURN n;
        END IF;
        RETURN '0' || n;
    END IF;
    IF c ~ '^861[3-9][0-9]{9}$' THEN
        RETURN substr(c, 3);
    END IF;
    RETURN c;
END
$$;

DELETE FROM nuisance_numbers d USING (
    SELECT number, row_number() OVER (PARTITION BY pg_temp.normalize_phone(number)
        ORDER BY cleared_at IS NULL DESC, flagged_at DESC, number) AS rank
    FROM nuisance_numbers) r
WHERE d.number = r.number AND r.rank > 1;

UPDATE nuisance_numbers SET number = pg_temp.normalize_phone(number)
WHERE number <> pg_temp.normalize_phone(number);

DROP FUNCTION pg_temp.normalize_phone(text);
