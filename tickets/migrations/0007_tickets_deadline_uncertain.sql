-- S9/S14: a deadline counted in working days past the last year whose
-- holidays calendar.yaml lists treats that year's holidays as working days.
-- The store sets this flag when it computes such a deadline, so the panel
-- and the API can say the date is provisional.
ALTER TABLE tickets ADD COLUMN deadline_uncertain boolean NOT NULL DEFAULT false;
