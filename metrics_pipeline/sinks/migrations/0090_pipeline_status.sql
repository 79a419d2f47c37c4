-- Data status for readers (metrics_pipeline/sinks/status.py): the last complete day per source.
CREATE TABLE pipeline_status (
    source            text        PRIMARY KEY CHECK (source IN ('installs', 'commits')),
    last_complete_day date,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
