-- Plugin metrics for SQL readers: the same numbers as the hub's DynamoDB tables, with full
-- monthly history. Rows with no period (TOTAL, LATEST) have period_start NULL; `period_key`
-- stands in for it in the primary key.

CREATE TABLE install_activity (
    plugin_name   text        NOT NULL,
    granularity   text        NOT NULL CHECK (granularity IN ('DAY', 'MONTH', 'TOTAL')),
    period_start  date,
    install_count bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    period_key    date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED,
    CONSTRAINT install_activity_pkey PRIMARY KEY (plugin_name, granularity, period_key),
    CONSTRAINT install_activity_period CHECK ((granularity = 'TOTAL') = (period_start IS NULL))
);

CREATE TABLE github_activity (
    plugin_name      text        NOT NULL,
    repo             text        NOT NULL,
    granularity      text        NOT NULL CHECK (granularity IN ('MONTH', 'TOTAL', 'LATEST')),
    period_start     date,
    commit_count     bigint,
    latest_commit_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    period_key       date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED,
    CONSTRAINT github_activity_pkey PRIMARY KEY (plugin_name, repo, granularity, period_key),
    CONSTRAINT github_activity_period CHECK ((granularity = 'MONTH') = (period_start IS NOT NULL)),
    CONSTRAINT github_activity_latest CHECK ((granularity = 'LATEST') = (latest_commit_at IS NOT NULL)),
    CONSTRAINT github_activity_count CHECK ((granularity = 'LATEST') = (commit_count IS NULL))
);
