-- Community activity (issues, PRs, timelines, members, transfers) as landed from GitHub: the
-- latest state per GitHub id with the raw JSON, equal to the warehouse's community_* tables.
-- repo_key is lower(owner/name) as the plugin registry spells the repo.

CREATE TABLE community_issues (
    issue_id        bigint      PRIMARY KEY,
    repo_key        text        NOT NULL,
    number          integer     NOT NULL,
    is_pull_request boolean     NOT NULL,
    author_login    text,
    state           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    raw             jsonb       NOT NULL,
    first_landed_at timestamptz NOT NULL
);
CREATE INDEX community_issues_repo ON community_issues (repo_key, number);

CREATE TABLE community_pull_requests (
    pull_id         bigint      PRIMARY KEY,
    repo_key        text        NOT NULL,
    number          integer     NOT NULL,
    author_login    text,
    state           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    merged_at       timestamptz,
    raw             jsonb       NOT NULL,
    first_landed_at timestamptz NOT NULL
);
CREATE INDEX community_pull_requests_repo ON community_pull_requests (repo_key, number);

CREATE TABLE community_events (
    event_key   text        PRIMARY KEY,
    issue_id    bigint      NOT NULL,
    event       text        NOT NULL,
    actor_login text,
    created_at  timestamptz,
    raw         jsonb       NOT NULL
);
CREATE INDEX community_events_issue ON community_events (issue_id, created_at);

CREATE TABLE community_members (
    org   text  NOT NULL,
    login text  NOT NULL,
    raw   jsonb NOT NULL,
    PRIMARY KEY (org, login)
);

CREATE TABLE community_transfers (
    issue_id       bigint      NOT NULL,
    from_repo_key  text        NOT NULL,
    from_number    integer     NOT NULL,
    to_repo_key    text        NOT NULL,
    to_number      integer     NOT NULL,
    transferred_at timestamptz NOT NULL,
    PRIMARY KEY (issue_id, from_repo_key)
);
