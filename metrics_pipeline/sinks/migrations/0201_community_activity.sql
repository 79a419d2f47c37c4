-- Community metrics per plugin repo: DAY and MONTH rows (period_start set) and one TOTAL row
-- (period_start NULL, `period_key` stands in for it in the key). Hours are NULL when no item
-- opened in the period qualifies; counts are never NULL.

CREATE TABLE community_activity (
    plugin_name            text             NOT NULL,
    repo                   text             NOT NULL,
    granularity            text             NOT NULL CHECK (granularity IN ('DAY', 'MONTH', 'TOTAL')),
    period_start           date,
    issues_opened          bigint           NOT NULL,
    prs_opened             bigint           NOT NULL,
    issues_closed          bigint           NOT NULL,
    prs_merged             bigint           NOT NULL,
    prs_closed_unmerged    bigint           NOT NULL,
    open_issues            bigint           NOT NULL,
    open_prs               bigint           NOT NULL,
    awaiting_response      bigint           NOT NULL,
    response_median_hours  double precision,
    response_p90_hours     double precision,
    unanswered             bigint           NOT NULL,
    close_median_hours     double precision,
    close_p90_hours        double precision,
    issues_not_closed      bigint           NOT NULL,
    merge_median_hours     double precision,
    merge_p90_hours        double precision,
    prs_not_merged         bigint           NOT NULL,
    new_contributors       bigint           NOT NULL,
    returning_contributors bigint           NOT NULL,
    updated_at             timestamptz      NOT NULL DEFAULT now(),
    period_key             date GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED,
    CONSTRAINT community_activity_pkey PRIMARY KEY (plugin_name, repo, granularity, period_key),
    CONSTRAINT community_activity_period CHECK ((granularity = 'TOTAL') = (period_start IS NULL))
);
