-- Warehouse tables of the events domain (DuckDB; timestamps are naive UTC).

-- Every sealed segment landed, by name: a segment is landed once, in the same transaction as its events.
CREATE TABLE IF NOT EXISTS event_segments_landed (
    segment    VARCHAR PRIMARY KEY,
    landed_at  TIMESTAMP NOT NULL,
    events     BIGINT NOT NULL,
    duplicates BIGINT NOT NULL
);

-- Sealed segments that cannot be landed (damaged: a checksum or the seal does not match), with why;
-- their events are counted nowhere until the file is repaired and the row removed.
CREATE TABLE IF NOT EXISTS event_segments_quarantined (
    segment        VARCHAR PRIMARY KEY,
    quarantined_at TIMESTAMP NOT NULL,
    reason         VARCHAR NOT NULL
);

-- Every landed event (append-only); is_duplicate marks a repeated (product, idempotency_key).
CREATE TABLE IF NOT EXISTS event_log (
    event_id        VARCHAR   NOT NULL,  -- segment/ordinal
    event_day       DATE      NOT NULL,  -- UTC date of event_time
    event_time      TIMESTAMP NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    product         VARCHAR   NOT NULL,
    event_type      VARCHAR   NOT NULL,
    user_id         VARCHAR,
    session_id      VARCHAR,
    idempotency_key VARCHAR,
    bytes           BIGINT,               -- storage and traffic events
    response_ms     DOUBLE,               -- health events
    properties      VARCHAR NOT NULL,     -- JSON of the type's own fields
    is_duplicate    BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS event_idempotency_keys (
    product         VARCHAR NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    event_id        VARCHAR NOT NULL,
    PRIMARY KEY (product, idempotency_key)
);

-- Event days with events landed since raw_events last rebuilt them; a day waits here until it has ended.
CREATE TABLE IF NOT EXISTS event_days_pending (
    day DATE PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS raw_events (
    event_day       DATE      NOT NULL,
    event_time      TIMESTAMP NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    product         VARCHAR   NOT NULL,
    event_type      VARCHAR   NOT NULL,
    user_id         VARCHAR,
    session_id      VARCHAR,
    idempotency_key VARCHAR,
    event_id        VARCHAR   NOT NULL,
    bytes           BIGINT,
    response_ms     DOUBLE,
    properties      VARCHAR   NOT NULL
);

CREATE TABLE IF NOT EXISTS daily_events (
    event_day       DATE    NOT NULL,
    product         VARCHAR NOT NULL,
    event_type      VARCHAR NOT NULL,
    events          BIGINT  NOT NULL,
    distinct_users  BIGINT  NOT NULL,
    bytes           HUGEINT,             -- storage/traffic only; a day's sum may pass int64
    response_ms_p50 DOUBLE,              -- health only
    response_ms_p95 DOUBLE,
    PRIMARY KEY (event_day, product, event_type)
);

CREATE TABLE IF NOT EXISTS monthly_events (
    month_start     DATE    NOT NULL,
    product         VARCHAR NOT NULL,
    event_type      VARCHAR NOT NULL,
    events          BIGINT  NOT NULL,
    distinct_users  BIGINT  NOT NULL,
    bytes           HUGEINT,
    PRIMARY KEY (month_start, product, event_type)
);

-- Warehouses created before bytes sums could pass int64.
ALTER TABLE daily_events ALTER COLUMN bytes SET DATA TYPE HUGEINT;
ALTER TABLE monthly_events ALTER COLUMN bytes SET DATA TYPE HUGEINT;
