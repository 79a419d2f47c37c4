-- Open issues and PRs awaiting a response now, by the rule of community_activity's
-- awaiting_response: no comment/review yet by a member of the owning org (or the owning
-- account), or the latest non-bot one is by a non-member. For the read API's item lists.

CREATE VIEW community_awaiting_items AS
WITH responses AS (
    SELECT e.issue_id, e.created_at,
           lower(e.actor_login) = split_part(i.repo_key, '/', 1) OR EXISTS (
               SELECT 1 FROM community_members m
               WHERE m.org = split_part(i.repo_key, '/', 1) AND lower(m.login) = lower(e.actor_login)
           ) AS by_member
    FROM community_events e JOIN community_issues i USING (issue_id)
    WHERE e.event IN ('commented', 'reviewed', 'review_comment') AND e.created_at IS NOT NULL
      AND right(coalesce(e.actor_login, ''), 5) <> '[bot]'
)
SELECT i.repo_key, i.number, i.is_pull_request, i.author_login, i.created_at,
       i.raw ->> 'title' AS title, i.raw ->> 'html_url' AS html_url, latest.created_at AS last_response_at
FROM community_issues i
LEFT JOIN LATERAL (
    SELECT r.by_member, r.created_at FROM responses r WHERE r.issue_id = i.issue_id ORDER BY r.created_at DESC LIMIT 1
) latest ON true
WHERE i.state = 'open'
  AND (NOT EXISTS (SELECT 1 FROM responses r WHERE r.issue_id = i.issue_id AND r.by_member) OR NOT latest.by_member);
