-- 0013: the prompt language the caller heard (the IVR's home language, or
-- another chosen by a key in the greeting or by the caller's number prefix),
-- kept on the call record and on the call's ticket, so whoever calls back
-- speaks the caller's language. '' for records written before it was kept.
ALTER TABLE calls ADD COLUMN language text NOT NULL DEFAULT ''
    CONSTRAINT calls_language_check CHECK (language ~ '^([a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3})?$');

ALTER TABLE tickets ADD COLUMN language text NOT NULL DEFAULT ''
    CONSTRAINT tickets_language_check CHECK (language ~ '^([a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3})?$');
