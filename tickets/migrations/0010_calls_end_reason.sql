-- Why a call ended, beside its outcome: the SIP leg's reason (bye, cancelled,
-- media_timeout, shutdown, ...) or node_lost when another node closed the
-- record of a call whose node died. NULL on records written before.
ALTER TABLE calls ADD COLUMN end_reason text;
