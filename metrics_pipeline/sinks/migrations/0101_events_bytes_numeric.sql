-- A day's or month's bytes may pass int64 (the warehouse sums them as HUGEINT).
ALTER TABLE events_daily ALTER COLUMN bytes TYPE numeric(39, 0);
ALTER TABLE events_monthly ALTER COLUMN bytes TYPE numeric(39, 0);
