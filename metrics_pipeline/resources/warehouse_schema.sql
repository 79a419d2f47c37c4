-- Warehouse tables. Rollups are the source of truth; sinks are projections of them.
-- All timestamps are UTC (the connection runs with TimeZone = 'UTC').

CREATE TABLE IF NOT EXISTS raw_installs (
    download_day   DATE    NOT NULL,   -- UTC date of the download's timestamp
    plugin_name    VARCHAR NOT NULL,   -- PEP 503-normalized registry name
    installer_name VARCHAR NOT NULL,
    download_count BIGINT  NOT NULL    -- qualifying download rows in this group
);

CREATE TABLE IF NOT EXISTS daily_installs (
    download_day  DATE    NOT NULL,
    plugin_name   VARCHAR NOT NULL,
    install_count BIGINT  NOT NULL,
    PRIMARY KEY (download_day, plugin_name)
);

CREATE TABLE IF NOT EXISTS monthly_installs (
    month_start   DATE    NOT NULL,
    plugin_name   VARCHAR NOT NULL,
    install_count BIGINT  NOT NULL,
    PRIMARY KEY (month_start, plugin_name)
);

CREATE TABLE IF NOT EXISTS total_installs (
    plugin_name   VARCHAR PRIMARY KEY,
    install_count BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS raw_commits (
    commit_day         DATE      NOT NULL,  -- UTC date of commit_author_date
    plugin_name        VARCHAR   NOT NULL,
    repo               VARCHAR   NOT NULL,  -- the registry's spelling
    sha                VARCHAR   NOT NULL,
    author_id          VARCHAR,
    commit_author_date TIMESTAMP NOT NULL,
    commit_message     VARCHAR,
    ingestion_time     TIMESTAMP
);

CREATE TABLE IF NOT EXISTS monthly_commits (
    month_start      DATE      NOT NULL,
    plugin_name      VARCHAR   NOT NULL,
    repo             VARCHAR   NOT NULL,
    commit_count     BIGINT    NOT NULL,
    latest_commit_at TIMESTAMP NOT NULL,  -- newest author date in the month, feeds latest_commits
    PRIMARY KEY (month_start, plugin_name, repo)
);

CREATE TABLE IF NOT EXISTS total_commits (
    plugin_name  VARCHAR NOT NULL,
    repo         VARCHAR NOT NULL,
    commit_count BIGINT  NOT NULL,
    PRIMARY KEY (plugin_name, repo)
);

CREATE TABLE IF NOT EXISTS latest_commits (
    plugin_name      VARCHAR   NOT NULL,
    repo             VARCHAR   NOT NULL,
    latest_commit_at TIMESTAMP NOT NULL,
    PRIMARY KEY (plugin_name, repo)
);

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

-- GitHub source: commits as fetched by the `github_commits` landing asset (COMMIT_ROWS_SCHEMA
-- plus repo_url); `repo` keeps the registry's spelling.
CREATE TABLE IF NOT EXISTS github_commits_landing (
    repo               VARCHAR   NOT NULL,
    sha                VARCHAR   NOT NULL,
    author_id          VARCHAR,
    commit_author_date TIMESTAMP NOT NULL,  -- UTC
    commit_message     VARCHAR,
    ingestion_time     TIMESTAMP NOT NULL,  -- UTC, when a run first landed the commit
    repo_url           VARCHAR
);

-- Repos whose full history has been fetched once; later runs fetch only their window.
CREATE TABLE IF NOT EXISTS github_fetched_repos (
    repo_key        VARCHAR PRIMARY KEY,   -- lower(owner/name)
    full_history_at TIMESTAMP NOT NULL
);

-- Sinks: what each sink last wrote, so a run writes only the difference (sinks/published.py).
CREATE TABLE IF NOT EXISTS sink_published (
    sink         VARCHAR NOT NULL,  -- e.g. 'dynamodb:install-activity'
    pk           VARCHAR NOT NULL,
    sk           VARCHAR NOT NULL,
    item_value   VARCHAR,           -- canonical value last written; NULL = write in flight
    published_at TIMESTAMP,
    PRIMARY KEY (sink, pk, sk)
);

CREATE TABLE IF NOT EXISTS sink_targets (
    sink      VARCHAR PRIMARY KEY,
    target_id VARCHAR NOT NULL      -- identity of the table written (endpoint, ARN, creation time)
);
