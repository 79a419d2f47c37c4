-- Warehouse tables of the community domain (DuckDB; timestamps are naive UTC). Entity tables
-- hold the latest state per GitHub id with the raw JSON; `repo_key` is lower(owner/name) as the
-- registry spells the tracked repo (an item transferred to an untracked repo: GitHub's name).

CREATE TABLE IF NOT EXISTS community_issues (
    issue_id        BIGINT    NOT NULL,  -- GitHub's id: kept when an issue is transferred
    repo_key        VARCHAR   NOT NULL,
    number          INTEGER   NOT NULL,
    is_pull_request BOOLEAN   NOT NULL,
    author_login    VARCHAR,
    state           VARCHAR   NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    closed_at       TIMESTAMP,            -- the current close; NULL while (re)opened
    raw             JSON      NOT NULL,
    first_landed_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS community_pull_requests (
    pull_id         BIGINT    NOT NULL,
    repo_key        VARCHAR   NOT NULL,
    number          INTEGER   NOT NULL,  -- joins community_issues on (repo_key, number)
    author_login    VARCHAR,
    state           VARCHAR   NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    closed_at       TIMESTAMP,
    merged_at       TIMESTAMP,
    raw             JSON      NOT NULL,
    first_landed_at TIMESTAMP NOT NULL
);

-- Timeline entries; a review's line comments are one row each ('review_comment').
CREATE TABLE IF NOT EXISTS community_events (
    event_key   VARCHAR   NOT NULL,  -- '<event>:<GitHub id or node id>'
    issue_id    BIGINT    NOT NULL,
    event       VARCHAR   NOT NULL,  -- commented, reviewed, review_comment, closed, reopened, merged, ...
    actor_login VARCHAR,
    created_at  TIMESTAMP,
    raw         JSON      NOT NULL
);

CREATE TABLE IF NOT EXISTS community_members (
    org   VARCHAR NOT NULL,  -- lower(owner)
    login VARCHAR NOT NULL,
    raw   JSON    NOT NULL
);

CREATE TABLE IF NOT EXISTS community_transfers (
    issue_id       BIGINT    NOT NULL,
    from_repo_key  VARCHAR   NOT NULL,
    from_number    INTEGER   NOT NULL,
    to_repo_key    VARCHAR   NOT NULL,
    to_number      INTEGER   NOT NULL,
    transferred_at TIMESTAMP NOT NULL  -- the 'transferred' timeline event, else the item's updated_at
);

-- Conditional requests: the ETag each poll last returned (a 304 to it costs no rate limit).
CREATE TABLE IF NOT EXISTS community_event_polls (
    request VARCHAR NOT NULL,  -- path?sorted params
    etag    VARCHAR NOT NULL
);

-- Tracked repos whose whole history has been fetched once; later runs fetch their window.
CREATE TABLE IF NOT EXISTS community_repos (
    repo_key        VARCHAR   NOT NULL,
    full_history_at TIMESTAMP NOT NULL
);

-- Days whose metrics a landing changed (besides its own window); cleared by community_daily.
CREATE TABLE IF NOT EXISTS community_dirty_days (
    day       DATE      NOT NULL,
    marked_at TIMESTAMP NOT NULL  -- the landing that marked it (keeps the sensor's run keys unique)
);

CREATE TABLE IF NOT EXISTS community_daily (
    period_start DATE NOT NULL, plugin_name VARCHAR NOT NULL, repo VARCHAR NOT NULL,
    issues_opened BIGINT, prs_opened BIGINT, issues_closed BIGINT, prs_merged BIGINT, prs_closed_unmerged BIGINT,
    open_issues BIGINT, open_prs BIGINT, awaiting_response BIGINT,
    response_median_hours DOUBLE, response_p90_hours DOUBLE, unanswered BIGINT,
    close_median_hours DOUBLE, close_p90_hours DOUBLE, issues_not_closed BIGINT,
    merge_median_hours DOUBLE, merge_p90_hours DOUBLE, prs_not_merged BIGINT,
    new_contributors BIGINT, returning_contributors BIGINT
);

CREATE TABLE IF NOT EXISTS community_monthly AS SELECT * FROM community_daily LIMIT 0;
CREATE TABLE IF NOT EXISTS community_total AS SELECT * EXCLUDE (period_start) FROM community_daily LIMIT 0;
