"""The restatement log: an already-published DAY value, or the value of a month already over, that
a re-materialization changed or removed (a late file, a removal, a corrected source).

The sink's published-state diff (`sinks/published.py`) knows each key's previously published
value; `record_restatements` turns those pairs into rows of `restatements`, in the transaction
that records the write. TOTAL, LATEST and the current month change every day and are not logged.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import duckdb
import pyarrow as pa

# Columns of the (pk, sk, old_value, new_value) pairs the diff hands over; new_value NULL: deleted.
PREVIOUS_SCHEMA = pa.schema(
    [("pk", pa.string()), ("sk", pa.string()), ("old_value", pa.string()), ("new_value", pa.string())]
)

# Where the count sits in each sink's canonical item_value ('|'-separated), and its metric name.
VALUE_LAYOUT = {
    "dynamodb:install-activity": ("installs", 2, None),  # DAY|count|ts
    "dynamodb:github-activity": ("commits", 3, 2),  # MONTH|repo|count|ts|expiry
}
# github-activity MONTH items also leave when they age out of its 15-month window: a removal
# there is not a restatement, so only install-activity logs removals.
LOGS_REMOVALS = {"dynamodb:install-activity"}

RESTATED_SQL = """
SELECT pk, granularity, period_start, repo, old_count, new_count FROM (
    SELECT pk, split_part(sk, ':', 1) AS granularity,
           CASE split_part(sk, ':', 1)
               WHEN 'DAY' THEN CAST(strptime(split_part(sk, ':', 2), '%Y%m%d') AS DATE)
               WHEN 'MONTH' THEN CAST(strptime(split_part(sk, ':', 2) || '01', '%Y%m%d') AS DATE)
           END AS period_start,
           CASE WHEN $repo_field > 0 THEN split_part(old_value, '|', $repo_field) END AS repo,
           TRY_CAST(split_part(old_value, '|', $count_field) AS BIGINT) AS old_count,
           TRY_CAST(nullif(split_part(new_value, '|', $count_field), '') AS BIGINT) AS new_count
    FROM restated_pairs
)
WHERE old_count IS NOT NULL AND new_count IS DISTINCT FROM old_count AND (new_count IS NOT NULL OR $log_removals)
  AND (granularity = 'DAY' OR (granularity = 'MONTH' AND period_start < $this_month))
"""


def _running_asset() -> dg.AssetExecutionContext | None:
    """The asset run recording the write, if any (sinks are also called from scripts and tests)."""
    try:
        return dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None


def record_restatements(con: duckdb.DuckDBPyConnection, sink: str, previous: pa.Table, now: datetime | None = None) -> int:
    """Insert the restatements among `previous`; call inside the transaction recording the write.
    Returns how many rows were logged."""
    context = _running_asset()
    return _insert(con, sink, previous, now, context.run.run_id if context else None) if sink in VALUE_LAYOUT else 0


def _insert(con: duckdb.DuckDBPyConnection, sink: str, previous: pa.Table, now: datetime | None, run_id: str | None) -> int:
    if previous.num_rows == 0:
        return 0
    metric, count_field, repo_field = VALUE_LAYOUT[sink]
    now = now or datetime.now(UTC).replace(tzinfo=None)
    con.register("restated_pairs", previous)
    try:
        logged = con.execute(
            f"""
            INSERT INTO restatements (sink, plugin_name, metric, granularity, period_start, repo,
                                      old_value, new_value, run_id, restated_at)
            SELECT $sink, pk, $metric, granularity, period_start, repo, old_count, new_count, $run_id, $now
            FROM ({RESTATED_SQL}) ORDER BY pk, granularity, period_start, repo
            """,
            {"sink": sink, "metric": metric, "count_field": count_field, "repo_field": repo_field or 0,
             "log_removals": sink in LOGS_REMOVALS,
             "this_month": now.date().replace(day=1), "run_id": run_id, "now": now},
        ).fetchall()[0][0]
    finally:
        con.unregister("restated_pairs")
    return logged
