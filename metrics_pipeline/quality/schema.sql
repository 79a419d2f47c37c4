-- Warehouse tables of the quality domain (DuckDB; timestamps are naive UTC).

-- Restatements: an already-published value that a re-materialization changed or removed
-- (late file, removal, corrected source). Written with the sink's record of what it published.
CREATE SEQUENCE IF NOT EXISTS restatements_id;
CREATE TABLE IF NOT EXISTS restatements (
    id           BIGINT    PRIMARY KEY DEFAULT nextval('restatements_id'),
    sink         VARCHAR   NOT NULL,  -- e.g. 'dynamodb:install-activity'
    plugin_name  VARCHAR   NOT NULL,
    metric       VARCHAR   NOT NULL,  -- 'installs' | 'commits'
    granularity  VARCHAR   NOT NULL,  -- 'DAY' | 'MONTH'
    period_start DATE      NOT NULL,
    repo         VARCHAR,             -- commits only: the registry's spelling
    old_value    BIGINT    NOT NULL,
    new_value    BIGINT,              -- NULL: the value was removed
    run_id       VARCHAR,
    restated_at  TIMESTAMP NOT NULL
);
