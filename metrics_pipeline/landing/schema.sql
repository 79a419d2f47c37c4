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

-- What a landing could not use, by source, item (a file path) and reason: quarantined files,
-- copies of another file, rows no partition can use. Rewritten for the files each run reads.
CREATE TABLE IF NOT EXISTS quarantine (
    source      VARCHAR   NOT NULL,  -- 'installs' | 'commits'
    item        VARCHAR   NOT NULL,  -- the file
    reason      VARCHAR   NOT NULL,
    rows        BIGINT,              -- rows affected; NULL: the whole file
    sample      VARCHAR,             -- an example value, or the file it duplicates
    first_day   DATE,                -- the days it concerns, when known
    last_day    DATE,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, item, reason)
);
