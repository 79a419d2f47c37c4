-- A publish deletes within the periods it changed: a range of (granularity, period_key), not a scan.
CREATE INDEX IF NOT EXISTS install_activity_period ON install_activity (granularity, period_key);
CREATE INDEX IF NOT EXISTS github_activity_period ON github_activity (granularity, period_key);
