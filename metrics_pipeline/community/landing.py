"""Lands fetched community activity in the warehouse in one transaction: latest state per id (a
rerun changes nothing), whole timelines per refetched item, transfers, ETags and dirty days."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime

import pyarrow as pa

from metrics_pipeline.community.github_fetch import RepoActivity, parse_time
from metrics_pipeline.resources.warehouse import transaction

TS = pa.timestamp("us")
ISSUES = pa.schema([("issue_id", pa.int64()), ("repo_key", pa.string()), ("number", pa.int32()), ("is_pull_request", pa.bool_()),
                    ("author_login", pa.string()), ("state", pa.string()), ("created_at", TS), ("updated_at", TS),
                    ("closed_at", TS), ("raw", pa.string())])
PULLS = pa.schema([("pull_id", pa.int64()), ("repo_key", pa.string()), ("number", pa.int32()), ("author_login", pa.string()),
                   ("state", pa.string()), ("created_at", TS), ("updated_at", TS), ("closed_at", TS), ("merged_at", TS),
                   ("raw", pa.string())])
EVENTS = pa.schema([("event_key", pa.string()), ("issue_id", pa.int64()), ("event", pa.string()),
                    ("actor_login", pa.string()), ("created_at", TS), ("raw", pa.string())])
MEMBERS = pa.schema([("org", pa.string()), ("login", pa.string()), ("raw", pa.string())])
TRANSFERS = pa.schema([("issue_id", pa.int64()), ("from_repo_key", pa.string()), ("from_number", pa.int32()),
                       ("to_repo_key", pa.string()), ("to_number", pa.int32())])
POLLS = pa.schema([("request", pa.string()), ("etag", pa.string())])


def _raw(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _login(person: dict | None) -> str | None:
    return (person or {}).get("login")


def issue_row(repo_key: str, issue: dict) -> dict:
    return {"issue_id": issue["id"], "repo_key": repo_key, "number": issue["number"], "is_pull_request": "pull_request" in issue,
            "author_login": _login(issue.get("user")), "state": issue["state"], "created_at": parse_time(issue["created_at"]),
            "updated_at": parse_time(issue["updated_at"]), "closed_at": parse_time(issue.get("closed_at")), "raw": _raw(issue)}


def pull_row(repo_key: str, pull: dict) -> dict:
    return {"pull_id": pull["id"], "repo_key": repo_key, "number": pull["number"], "author_login": _login(pull.get("user")),
            "state": pull["state"], "created_at": parse_time(pull["created_at"]), "updated_at": parse_time(pull["updated_at"]),
            "closed_at": parse_time(pull.get("closed_at")), "merged_at": parse_time(pull.get("merged_at")), "raw": _raw(pull)}


def event_rows(issue_id: int, entry: dict) -> list[dict]:
    """A timeline entry as rows: a review's line comments are one 'review_comment' row each."""
    kind = entry.get("event") or "unknown"
    if kind == "line-commented":
        return [{"event_key": f"review_comment:{c['id']}", "issue_id": issue_id, "event": "review_comment",
                 "actor_login": _login(c.get("user")), "created_at": parse_time(c.get("created_at")), "raw": _raw(c)}
                for c in entry.get("comments", [])]
    ident = entry.get("id") or entry.get("node_id") or entry.get("sha") or hashlib.sha1(_raw(entry).encode()).hexdigest()
    return [{"event_key": f"{kind}:{ident}", "issue_id": issue_id, "event": kind,
             "actor_login": _login(entry.get("user") or entry.get("actor")),
             "created_at": parse_time(entry.get("submitted_at") or entry.get("created_at")), "raw": _raw(entry)}]


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


# Latest state per id: a row is replaced only by a copy at least as new whose content differs,
# so a rerun or an older window's fetch changes nothing.
_CHANGED = """
CREATE OR REPLACE TEMP TABLE changed_{name} AS
SELECT i.*, coalesce(c.first_landed_at, $now) AS first_landed_at, c.updated_at AS known_updated_at, c.repo_key AS known_repo_key,
       c.number AS known_number
FROM (SELECT * FROM incoming_{name} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY updated_at DESC, raw) = 1) i
LEFT JOIN {table} c USING ({key})
WHERE c.{key} IS NULL OR (i.updated_at >= c.updated_at AND (i.raw <> CAST(c.raw AS VARCHAR) OR i.repo_key <> c.repo_key))
"""


def _upsert(con, name: str, table: str, key: str, rows: pa.Table, now: datetime) -> int:
    con.register(f"incoming_{name}", rows)
    con.execute(_CHANGED.format(name=name, table=table, key=key), {"now": now})
    con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM changed_{name})")
    columns = ", ".join(rows.column_names + ["first_landed_at"])
    con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM changed_{name}")
    con.unregister(f"incoming_{name}")
    return con.execute(f"SELECT count(*) FROM changed_{name}").fetchall()[0][0]


def land(con, activities: list[RepoActivity], members: dict[str, list[dict] | None], now: datetime, today: date,
         first_day: date, member_polls: dict[str, str] | None = None, before_commit: Callable[[], None] | None = None) -> dict:
    """Everything fetched, in one transaction; returns changed-row counts per table."""
    ok = [a for a in activities if not (a.gone or a.error)]
    issues = _table([issue_row(k, i) for a in ok for k, i in a.issues], ISSUES)
    pulls = _table([pull_row(a.repo_key, p) for a in ok for p in a.pulls], PULLS)
    refetched = sorted({i for a in ok for i in a.timelines})
    events = _table([r for a in ok for i, entries in a.timelines.items() for e in entries for r in event_rows(i, e)], EVENTS)
    transfers = _table([t for a in ok for t in a.transfers], TRANSFERS)
    etags = {k: v for a in ok for k, v in a.polls.items()} | (member_polls or {})  # only for what lands
    polls = _table([{"request": k, "etag": v} for k, v in sorted(etags.items())], POLLS)
    orgs = {org: rows for org, rows in members.items() if rows is not None}
    member_rows = _table([{"org": org, "login": m["login"], "raw": _raw(m)} for org, rows in orgs.items() for m in rows], MEMBERS)
    with transaction(con):
        counts = {"issues": _upsert(con, "issues", "community_issues", "issue_id", issues, now),
                  "pull_requests": _upsert(con, "pulls", "community_pull_requests", "pull_id", pulls, now)}
        counts["events"], changed_timelines = _replace_timelines(con, events, refetched)
        counts["transfers"] = _record_transfers(con, transfers)
        counts["members"] = _replace_members(con, orgs, member_rows)
        con.register("incoming_polls", polls)
        con.execute("DELETE FROM community_event_polls WHERE request IN (SELECT request FROM incoming_polls)")
        con.execute("INSERT INTO community_event_polls SELECT DISTINCT ON (request) * FROM incoming_polls")
        con.unregister("incoming_polls")
        full = [a.repo_key for a in ok if a.full_history]
        con.execute("INSERT INTO community_repos SELECT DISTINCT k, $now FROM unnest($keys) t(k) "
                    "WHERE k NOT IN (SELECT repo_key FROM community_repos)", {"keys": full, "now": now})
        counts["dirty_days"] = _mark_dirty(con, changed_timelines, first_day, today, now)
        if before_commit is not None:
            before_commit()
    return counts


# Rows of refetched timelines that are new, or stored but no longer there (deleted comments).
_TIMELINE_DIFF = """
(SELECT issue_id, event_key, event, actor_login, created_at, raw, true AS added FROM incoming_events
 EXCEPT SELECT issue_id, event_key, event, actor_login, created_at, CAST(raw AS VARCHAR), true FROM community_events
 WHERE issue_id IN (SELECT issue_id FROM refetched))
UNION ALL
(SELECT issue_id, event_key, event, actor_login, created_at, CAST(raw AS VARCHAR), false FROM community_events
 WHERE issue_id IN (SELECT issue_id FROM refetched)
 EXCEPT SELECT issue_id, event_key, event, actor_login, created_at, raw, false FROM incoming_events)
"""


def _replace_timelines(con, events: pa.Table, refetched: list[int]) -> tuple[int, pa.Table]:
    """Each refetched item's timeline replaces its stored one; returns the rows added and, per item
    whose timeline changed, its earliest changed entry (where its metrics may have changed)."""
    con.register("incoming_events", events)
    con.register("refetched", pa.table({"issue_id": pa.array(refetched, pa.int64())}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE timeline_diff AS {_TIMELINE_DIFF}")
    added = con.execute("SELECT count(*) FROM timeline_diff WHERE added").fetchall()[0][0]
    changed = con.sql("SELECT issue_id, min(created_at) AS since FROM timeline_diff GROUP BY issue_id").to_arrow_table()
    con.execute("DELETE FROM community_events WHERE issue_id IN (SELECT issue_id FROM refetched)")
    con.execute("INSERT INTO community_events SELECT DISTINCT ON (event_key) * FROM incoming_events ORDER BY event_key, raw")
    con.unregister("incoming_events")
    con.unregister("refetched")
    return added, changed


def _record_transfers(con, found: pa.Table) -> int:
    """Transfers seen by a 301, or by an id that now lives in another repo (recorded before the
    move in `changed_issues`); each (issue, from) once."""
    con.register("found_transfers", found)
    before = con.execute("SELECT count(*) FROM community_transfers").fetchall()[0][0]
    con.execute(
        """
        INSERT INTO community_transfers
        SELECT DISTINCT ON (t.issue_id, t.from_repo_key) t.issue_id, t.from_repo_key, t.from_number, t.to_repo_key,
               t.to_number, coalesce((SELECT max(e.created_at) FROM community_events e
                                      WHERE e.issue_id = t.issue_id AND e.event = 'transferred'), c.updated_at)
        FROM (SELECT * FROM found_transfers
              UNION SELECT issue_id, known_repo_key, known_number, repo_key, number FROM changed_issues
                    WHERE known_repo_key <> repo_key) t
        JOIN community_issues c USING (issue_id)
        WHERE NOT EXISTS (SELECT 1 FROM community_transfers x WHERE x.issue_id = t.issue_id AND x.from_repo_key = t.from_repo_key)
        ORDER BY t.issue_id, t.from_repo_key, t.to_repo_key
        """
    )
    con.unregister("found_transfers")
    return con.execute("SELECT count(*) FROM community_transfers").fetchall()[0][0] - before


def _replace_members(con, orgs: dict, rows: pa.Table) -> int:
    con.register("incoming_members", rows)
    changed = con.execute(
        "SELECT count(*) FROM ((SELECT org, login FROM incoming_members EXCEPT SELECT org, login FROM community_members "
        " WHERE list_contains($orgs, org)) UNION ALL (SELECT org, login FROM community_members WHERE list_contains($orgs, org)"
        " EXCEPT SELECT org, login FROM incoming_members))", {"orgs": list(orgs)}).fetchall()[0][0]
    con.execute("DELETE FROM community_members WHERE list_contains($orgs, org)", {"orgs": list(orgs)})
    con.execute("INSERT INTO community_members SELECT DISTINCT ON (org, login) * FROM incoming_members")
    con.unregister("incoming_members")
    return changed


def _mark_dirty(con, changed_timelines: pa.Table, first_day: date, today: date, now: datetime) -> int:
    """Days whose metrics may have changed: each changed item's opening day, and every day from
    its earliest change (first fetch: its opening; else its last known update or new event) to today."""
    con.register("changed_timelines", changed_timelines)
    before = con.execute("SELECT count(*) FROM community_dirty_days").fetchall()[0][0]
    con.execute(
        """
        INSERT INTO community_dirty_days
        SELECT DISTINCT d, $now FROM (
            SELECT CAST(created_at AS DATE) AS d FROM changed_issues
            UNION ALL
            SELECT CAST(unnest(generate_series(CAST(since AS DATE), $today, INTERVAL 1 DAY)) AS DATE)
            FROM (SELECT CASE WHEN known_repo_key IS NULL OR known_repo_key <> repo_key THEN created_at
                              ELSE known_updated_at END AS since FROM changed_issues
                  UNION ALL SELECT least(created_at, coalesce(known_updated_at, created_at)) FROM changed_pulls
                  UNION ALL SELECT since FROM changed_timelines WHERE since IS NOT NULL)
        ) WHERE d >= $first AND d <= $today AND d NOT IN (SELECT day FROM community_dirty_days)
        """,
        {"today": today, "first": first_day, "now": now},
    )
    con.unregister("changed_timelines")
    return con.execute("SELECT count(*) FROM community_dirty_days").fetchall()[0][0] - before
