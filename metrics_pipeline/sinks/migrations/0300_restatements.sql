-- The restatement log (metrics_pipeline/quality/restatements.py), copied from the warehouse:
-- already-published values that a re-materialization changed or removed.
CREATE TABLE restatements (
    id           bigint      PRIMARY KEY,  -- the warehouse row's id
    sink         text        NOT NULL,
    plugin_name  text        NOT NULL,
    metric       text        NOT NULL CHECK (metric IN ('installs', 'commits')),
    granularity  text        NOT NULL CHECK (granularity IN ('DAY', 'MONTH')),
    period_start date        NOT NULL,
    repo         text,
    old_value    bigint      NOT NULL,
    new_value    bigint,                   -- NULL: the value was removed
    run_id       text,
    restated_at  timestamptz NOT NULL
);
CREATE INDEX restatements_plugin ON restatements (plugin_name, period_start);
