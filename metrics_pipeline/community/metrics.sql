-- Community metrics per tracked repo and period, from the latest entity state.
-- Inputs (registered by the caller): periods(period_start, period_end) naive UTC timestamps,
-- tracked(plugin_name, repo, repo_key). Bots are logins ending in '[bot]'. Columns in the
-- order of community_daily.
WITH items AS (
    SELECT i.issue_id, i.repo_key, i.is_pull_request AS is_pr, i.author_login AS author,
           i.created_at, i.closed_at, p.merged_at
    FROM community_issues i
    LEFT JOIN community_pull_requests p ON p.repo_key = i.repo_key AND p.number = i.number
    WHERE i.repo_key IN (SELECT repo_key FROM tracked)
),
-- comments, reviews and review comments by people (any author), with whether an org member
-- (or the owning account itself) wrote them
responses AS (
    SELECT e.issue_id, e.actor_login AS actor, e.created_at,
           lower(e.actor_login) = split_part(it.repo_key, '/', 1) OR EXISTS (
               SELECT 1 FROM community_members m
               WHERE m.org = split_part(it.repo_key, '/', 1) AND lower(m.login) = lower(e.actor_login)
           ) AS by_member
    FROM community_events e JOIN items it USING (issue_id)
    WHERE e.event IN ('commented', 'reviewed', 'review_comment') AND e.created_at IS NOT NULL
      AND NOT ends_with(coalesce(e.actor_login, ''), '[bot]')
),
first_response AS (
    SELECT it.issue_id, min(r.created_at) AS responded_at
    FROM items it JOIN responses r ON r.issue_id = it.issue_id AND r.actor IS DISTINCT FROM it.author
    GROUP BY it.issue_id
),
state_changes AS (
    SELECT issue_id, created_at, event = 'reopened' AS opens
    FROM community_events
    WHERE event IN ('closed', 'reopened', 'merged') AND created_at IS NOT NULL
),
grid AS (
    SELECT p.period_start, p.period_end, t.plugin_name, t.repo, t.repo_key
    FROM periods p CROSS JOIN tracked t
    WHERE t.repo_key IN (SELECT repo_key FROM community_repos)
),
-- when each item was open: from its creation or a reopen to the next close (or merge); an item
-- without close/reopen events is open from creation to its closed_at
changes AS (
    SELECT issue_id, created_at AS changed_at, true AS opens FROM items
    UNION ALL SELECT s.issue_id, s.created_at, s.opens FROM state_changes s SEMI JOIN items USING (issue_id)
    UNION ALL SELECT issue_id, closed_at, false FROM items
    WHERE closed_at IS NOT NULL AND issue_id NOT IN (SELECT issue_id FROM state_changes)
),
open_spans AS (
    SELECT issue_id, changed_at AS open_from, next_at AS open_to
    FROM (SELECT *, lead(changed_at) OVER (PARTITION BY issue_id ORDER BY changed_at, opens) AS next_at FROM changes)
    WHERE opens
),
-- open at the period's end: a span begun before it and not closed before it
open_at_end AS (
    SELECT DISTINCT p.period_start, p.period_end, it.*
    FROM periods p
    JOIN open_spans o ON o.open_from < p.period_end AND (o.open_to IS NULL OR o.open_to >= p.period_end)
    JOIN items it USING (issue_id)
),
backlog AS (
    SELECT period_start, repo_key,
           count(*) FILTER (NOT is_pr) AS open_issues, count(*) FILTER (is_pr) AS open_prs
    FROM open_at_end GROUP BY ALL
),
-- open items with no member comment yet, or whose latest comment is by a non-member
awaiting_items AS (
    SELECT o.period_start, o.repo_key, o.issue_id
    FROM open_at_end o LEFT JOIN responses r ON r.issue_id = o.issue_id AND r.created_at < o.period_end
    GROUP BY ALL
    HAVING NOT coalesce(bool_or(r.by_member), false) OR NOT arg_max(r.by_member, r.created_at)
),
awaiting AS (SELECT period_start, repo_key, count(*) AS awaiting_response FROM awaiting_items GROUP BY ALL),
closes AS (
    SELECT p.period_start, it.repo_key,
           count(*) FILTER (NOT it.is_pr AND it.closed_at >= p.period_start AND it.closed_at < p.period_end) AS issues_closed,
           count(*) FILTER (it.merged_at >= p.period_start AND it.merged_at < p.period_end) AS prs_merged,
           count(*) FILTER (it.is_pr AND it.merged_at IS NULL
                            AND it.closed_at >= p.period_start AND it.closed_at < p.period_end) AS prs_closed_unmerged
    FROM periods p JOIN items it
      ON (it.closed_at >= p.period_start AND it.closed_at < p.period_end)
      OR (it.merged_at >= p.period_start AND it.merged_at < p.period_end)
    GROUP BY ALL
),
-- items opened in the period, with their waits in hours
opened AS (
    SELECT p.period_start, it.*,
           date_diff('second', it.created_at, fr.responded_at) / 3600.0 AS response_hours,
           CASE WHEN NOT it.is_pr THEN date_diff('second', it.created_at, it.closed_at) / 3600.0 END AS close_hours,
           date_diff('second', it.created_at, it.merged_at) / 3600.0 AS merge_hours
    FROM periods p JOIN items it ON it.created_at >= p.period_start AND it.created_at < p.period_end
    LEFT JOIN first_response fr USING (issue_id)
),
first_item AS (
    SELECT repo_key, author, min(created_at) AS first_at FROM items
    WHERE author IS NOT NULL AND NOT ends_with(author, '[bot]')
    GROUP BY ALL
),
opened_stats AS (
    SELECT o.period_start, o.repo_key,
           count(*) FILTER (NOT o.is_pr) AS issues_opened,
           count(*) FILTER (o.is_pr) AS prs_opened,
           quantile_cont(o.response_hours, 0.5) AS response_median_hours,
           quantile_cont(o.response_hours, 0.9) AS response_p90_hours,
           count(*) FILTER (o.response_hours IS NULL) AS unanswered,
           quantile_cont(o.close_hours, 0.5) AS close_median_hours,
           quantile_cont(o.close_hours, 0.9) AS close_p90_hours,
           count(*) FILTER (NOT o.is_pr AND o.close_hours IS NULL) AS issues_not_closed,
           quantile_cont(o.merge_hours, 0.5) AS merge_median_hours,
           quantile_cont(o.merge_hours, 0.9) AS merge_p90_hours,
           count(*) FILTER (o.is_pr AND o.merge_hours IS NULL) AS prs_not_merged,
           count(DISTINCT o.author) FILTER (f.first_at >= o.period_start) AS new_contributors,
           count(DISTINCT o.author) FILTER (f.first_at < o.period_start) AS returning_contributors
    FROM opened o LEFT JOIN first_item f ON f.repo_key = o.repo_key AND f.author = o.author
    GROUP BY ALL
)
SELECT CAST(g.period_start AS DATE) AS period_start, g.plugin_name, g.repo,
       coalesce(s.issues_opened, 0), coalesce(s.prs_opened, 0),
       coalesce(c.issues_closed, 0), coalesce(c.prs_merged, 0), coalesce(c.prs_closed_unmerged, 0),
       coalesce(b.open_issues, 0), coalesce(b.open_prs, 0), coalesce(a.awaiting_response, 0),
       s.response_median_hours, s.response_p90_hours, coalesce(s.unanswered, 0),
       s.close_median_hours, s.close_p90_hours, coalesce(s.issues_not_closed, 0),
       s.merge_median_hours, s.merge_p90_hours, coalesce(s.prs_not_merged, 0),
       coalesce(s.new_contributors, 0), coalesce(s.returning_contributors, 0)
FROM grid g
LEFT JOIN opened_stats s USING (period_start, repo_key)
LEFT JOIN closes c USING (period_start, repo_key)
LEFT JOIN backlog b USING (period_start, repo_key)
LEFT JOIN awaiting a USING (period_start, repo_key)
ORDER BY 1, 2, 3
