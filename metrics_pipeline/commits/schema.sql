-- Warehouse tables of the commits domain (DuckDB; timestamps are naive UTC).

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

-- The opening balance: commits authored before the first daily partition, per month and repo.
CREATE TABLE IF NOT EXISTS opening_commits (
    month_start      DATE      NOT NULL,
    plugin_name      VARCHAR   NOT NULL,
    repo             VARCHAR   NOT NULL,  -- the registry's spelling
    commit_count     BIGINT    NOT NULL,
    latest_commit_at TIMESTAMP NOT NULL,
    PRIMARY KEY (month_start, plugin_name, repo)
);

-- Every month's commits: the monthly rollup of the partitions plus the opening balance. MONTH
-- items, TOTAL, LATEST and readers use this view.
CREATE OR REPLACE VIEW commits_by_month AS
SELECT month_start, plugin_name, repo, sum(commit_count)::BIGINT AS commit_count,
       max(latest_commit_at) AS latest_commit_at
FROM (
    SELECT month_start, plugin_name, repo, commit_count, latest_commit_at FROM monthly_commits
    UNION ALL
    SELECT month_start, plugin_name, repo, commit_count, latest_commit_at FROM opening_commits
)
GROUP BY month_start, plugin_name, repo;
