"""Blocking checks on the landed days: what landed is exactly what the source counted for each day.

They run inside the landing transaction (landing/window.py), over the days landed from readable
files (days a quarantined file could hold keep their rows and are not compared): a day fails when
its rows hold nulls, times outside the day, untracked plugins or repos, non-counted installers,
duplicate keys, or a count other than the source's own for that day. A failure lands nothing.
"""

from __future__ import annotations

from datetime import date

import duckdb

from metrics_pipeline.quality.evaluations import Outcome

INSTALLS_MATCH_CHECK = "raw_installs_match_source"
COMMITS_MATCH_CHECK = "raw_commits_match_source"

INSTALL_FAULTS_SQL = """
SELECT download_day,
       count(*) FILTER (WHERE plugin_name IS NULL OR installer_name IS NULL OR download_count IS NULL),
       count(*) FILTER (WHERE NOT list_contains($plugins, plugin_name)),
       count(*) FILTER (WHERE NOT list_contains($installers, installer_name)),
       count(*) FILTER (WHERE download_count <= 0),
       count(*) - count(DISTINCT (plugin_name, installer_name)),
       coalesce(sum(download_count), 0)
FROM raw_installs WHERE download_day >= $start AND download_day < $end AND NOT list_contains($keep, download_day)
GROUP BY download_day
"""
# The source's figures: what the source counted per day of the window, and rows it returned outside it.
INSTALL_SOURCE_SQL = """
SELECT download_day, coalesce(sum(download_count), 0) FROM incoming
WHERE download_day >= $start AND download_day < $end GROUP BY 1
"""
INSTALL_OUTSIDE_SQL = "SELECT count(*) FROM incoming WHERE download_day IS NULL OR download_day < $start OR download_day >= $end"

COMMIT_FAULTS_SQL = """
SELECT commit_day,
       count(*) FILTER (WHERE plugin_name IS NULL OR repo IS NULL OR sha IS NULL OR commit_author_date IS NULL),
       count(*) FILTER (WHERE NOT list_contains($pairs, plugin_name || ' ' || repo)),
       count(*) FILTER (WHERE CAST(commit_author_date AS DATE) IS DISTINCT FROM commit_day),
       count(*) - count(DISTINCT (plugin_name, repo, sha)),
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM raw_commits o
           WHERE o.plugin_name = r.plugin_name AND o.repo = r.repo AND o.sha = r.sha AND o.commit_day <> r.commit_day)),
       count(*)
FROM raw_commits r
WHERE commit_day >= $start AND commit_day < $end AND NOT list_contains($keep, commit_day)
GROUP BY commit_day
"""
# One per (plugin, repo, sha), as the landing counts them.
COMMIT_SOURCE_SQL = """
SELECT CAST(c.commit_author_date AS DATE) AS day, count(DISTINCT (r.plugin_name, r.repo, c.sha))
FROM incoming c JOIN registry_repos r ON lower(c.repo) = lower(r.repo)
WHERE c.sha IS NOT NULL AND c.commit_author_date >= $start AND c.commit_author_date < $end
GROUP BY ALL
"""
COMMIT_OUTSIDE_SQL = """
SELECT count(*) FROM incoming
WHERE commit_author_date IS NULL OR commit_author_date < $start OR commit_author_date >= $end
"""


def _days(start: date, end: date, keep: set[date]) -> list[date]:
    return [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal()) if date.fromordinal(o) not in keep]


def install_outcomes(
    con: duckdb.DuckDBPyConnection, start: date, end: date, keep: set[date], plugins: list[str], installers: list[str],
) -> dict[date, Outcome]:
    """Each landed day's figures against the source's (`incoming` is the source's window)."""
    window = {"start": start, "end": end}
    found = {row[0]: row[1:] for row in con.execute(
        INSTALL_FAULTS_SQL, window | {"keep": sorted(keep), "plugins": plugins, "installers": installers}).fetchall()}
    source = dict(con.execute(INSTALL_SOURCE_SQL, window).fetchall())
    outside = con.execute(INSTALL_OUTSIDE_SQL, window).fetchall()[0][0]
    outcomes = {}
    for day in _days(start, end, keep):
        nulls, untracked, not_counted, non_positive, duplicates, landed = found.get(day, (0, 0, 0, 0, 0, 0))
        figures = {
            "null_values": nulls, "untracked_plugin_rows": untracked, "non_counted_installer_rows": not_counted,
            "non_positive_counts": non_positive, "duplicate_keys": duplicates, "out_of_window_source_rows": outside,
            "landed_downloads": int(landed), "source_downloads": int(source.get(day, 0)),
        }
        faults = [k for k in ("null_values", "untracked_plugin_rows", "non_counted_installer_rows", "non_positive_counts",
                              "duplicate_keys", "out_of_window_source_rows") if figures[k]]
        passed = landed == source.get(day, 0) and not faults
        outcomes[day] = Outcome(passed, figures, None if passed else
                                f"landed {int(landed)} downloads, source {int(source.get(day, 0))}" + "".join(f", {k}" for k in faults))
    return outcomes


def commit_outcomes(
    con: duckdb.DuckDBPyConnection, start: date, end: date, keep: set[date], pairs: list[tuple[str, str]],
) -> dict[date, Outcome]:
    """Each landed day's commits against the source's distinct commits of registry repos."""
    window = {"start": start, "end": end}
    found = {row[0]: row[1:] for row in con.execute(
        COMMIT_FAULTS_SQL, window | {"keep": sorted(keep), "pairs": [f"{p} {r}" for p, r in pairs]}).fetchall()}
    source = dict(con.execute(COMMIT_SOURCE_SQL, window).fetchall())
    outside = con.execute(COMMIT_OUTSIDE_SQL, window).fetchall()[0][0]
    outcomes = {}
    for day in _days(start, end, keep):
        nulls, untracked, off_day, duplicates, elsewhere, landed = found.get(day, (0, 0, 0, 0, 0, 0))
        figures = {
            "null_values": nulls, "untracked_repo_rows": untracked, "rows_outside_their_day": off_day,
            "duplicate_commits": duplicates, "commits_also_on_another_day": elsewhere,
            "out_of_window_source_rows": outside, "landed_commits": landed, "source_commits": int(source.get(day, 0)),
        }
        faults = [k for k in ("null_values", "untracked_repo_rows", "rows_outside_their_day", "duplicate_commits",
                              "commits_also_on_another_day", "out_of_window_source_rows") if figures[k]]
        passed = landed == source.get(day, 0) and not faults
        outcomes[day] = Outcome(passed, figures, None if passed else
                                f"landed {landed} commits, source {int(source.get(day, 0))}" + "".join(f", {k}" for k in faults))
    return outcomes
