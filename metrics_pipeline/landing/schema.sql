-- Warehouse tables. Rollups are the source of truth; sinks are projections of them.
-- All timestamps are UTC (the connection runs with TimeZone = 'UTC').

-- What each raw partition saw of its source when it was last materialized; the late-data
-- sensor compares fresh fingerprints with these to find days to re-run.
CREATE TABLE IF NOT EXISTS source_fingerprints (
    source       VARCHAR   NOT NULL,  -- 'installs' | 'commits'
    day          DATE      NOT NULL,
    source_rows  BIGINT    NOT NULL,
    max_ingested TIMESTAMP,
    recorded_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (source, day)
);
