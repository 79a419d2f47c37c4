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

-- The change log: which periods of which table a write changed, in order. Every rollup, plugin
-- and sink keeps a cursor here (changes.py), so a run recomputes exactly what changed since it
-- last ran and a crash before the cursor moves only repeats idempotent work.
CREATE SEQUENCE IF NOT EXISTS change_seq;
CREATE TABLE IF NOT EXISTS changes (
    seq         BIGINT    PRIMARY KEY DEFAULT nextval('change_seq'),
    table_name  VARCHAR   NOT NULL,
    first_day   DATE      NOT NULL,  -- inclusive; a whole table is 0001-01-01 .. 9999-12-31
    last_day    DATE      NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS change_cursors (
    consumer   VARCHAR   PRIMARY KEY,
    seq        BIGINT    NOT NULL,     -- every change up to this one is reflected in the consumer
    updated_at TIMESTAMP NOT NULL
);
