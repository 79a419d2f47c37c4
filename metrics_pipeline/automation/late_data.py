"""Finds already-landed days whose source rows changed since they were landed: additions and removals.

Each tick looks only at what arrived since the cursor (new or changed files, newer ingestion times)
and at plugins the registry added or dropped. Removals leave no arrival time, so once a day (and at
once when a file seen before vanished or changed) the sources' per-day row counts are compared with
the counts the raw assets recorded. Days before the first partition map to the opening balance.
The warehouse is only ever opened read-only, with its own bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.landing.batch import Arrivals
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

RECONCILE_EVERY = timedelta(days=1)


@dataclass
class SourceLook:
    """What one tick found for one source: stale landed days, and whether the opening balance is."""

    days: set[date] = field(default_factory=set)
    opening: bool = False
    reconciled: bool = False
    drop_confirmed: bool = True  # the source as a whole still holds what was landed: shrunk days may shrink


@dataclass
class LateDays:
    installs: SourceLook
    commits: SourceLook
    cursor: str


def _changed(
    arrivals: Arrivals, touched: set[date], recorded: dict[date, tuple[int, datetime | None]],
    counts: dict[date, int] | None,
) -> set[date]:
    """Days whose rows changed since recorded: newer arrivals, registry changes, and (when the source
    was counted) a row count other than the recorded one; an unrecorded day had no rows."""
    changed = {
        day for day, newest in arrivals.newest_by_day.items()
        if day not in recorded or recorded[day][1] is None or newest > recorded[day][1]
    }
    changed |= touched
    if counts is not None:
        changed |= {day for day in recorded.keys() | counts.keys() if counts.get(day, 0) != recorded.get(day, (0,))[0]}
    return changed


def _look(
    changed: set[date], recorded: dict, counts: dict | None, opening_landed: bool, opening_touched: bool, max_drop: float
) -> SourceLook:
    """Landed partition days to re-run, and whether anything before the first day changed."""
    landed = sum(rows for rows, _ in recorded.values() if rows > 0)
    still = sum(min(counts.get(day, 0), rows) for day, (rows, _) in recorded.items() if rows > 0) if counts else landed
    return SourceLook(
        days={day for day in changed if day >= FIRST_DAY and day in recorded},
        opening=opening_landed and (opening_touched or any(day < FIRST_DAY for day in changed)),
        reconciled=counts is not None,
        drop_confirmed=counts is None or still >= landed * (1 - max_drop),
    )


def _recorded(con, source: str, days: Iterable[date] | None) -> dict[date, tuple[int, datetime | None]]:
    """Recorded (row count, newest arrival) per landed day; all of them when `days` is None."""
    if days is None:
        rows = con.execute("SELECT day, source_rows, max_ingested FROM source_fingerprints WHERE source = ?", [source])
    else:
        rows = con.execute(
            "SELECT day, source_rows, max_ingested FROM source_fingerprints WHERE source = ? AND list_contains(?, day)",
            [source, sorted(set(days))],
        )
    return {day: (count, newest) for day, count, newest in rows.fetchall()}


def find_late_days(
    cursor: str | None,
    installs_source: InstallsSource,
    commits_source: CommitsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
    opening_landed: tuple[bool, bool] = (True, True),
    lock_wait_seconds: float = 20.0,
    now: datetime | None = None,
) -> LateDays:
    """`opening_landed`: whether the installs and commits opening balances were ever materialized."""
    state = json.loads(cursor) if cursor else {}
    now = now or datetime.now(UTC).replace(tzinfo=None)
    plugins = registry.load()
    names = set(plugins.plugin_names)
    repos = {f"{name}\t{repo}" for name, repo in plugins.plugin_repos}
    first_look = "plugins" not in state  # the registry seen now is the baseline
    added_names = set() if first_look else names - set(state["plugins"])
    dropped_names = set() if first_look else set(state["plugins"]) - names
    added_repos = set() if first_look else repos - set(state["repos"])
    dropped_repos = set() if first_look else set(state["repos"]) - repos

    install_arrivals = installs_source.arrivals_since(state.get("installs"))
    commit_arrivals = commits_source.arrivals_since(state.get("commits"))
    install_touched = installs_source.days_with_downloads(sorted(added_names))
    commit_touched = commits_source.days_with_commits(sorted({r.split("\t")[1] for r in added_repos}))
    reconciled_at = state.get("reconciled_at")
    due = reconciled_at is None or now - datetime.fromisoformat(reconciled_at) >= RECONCILE_EVERY
    install_counts = installs_source.day_counts() if due or install_arrivals.reconcile else None
    commit_counts = commits_source.day_counts() if due or commit_arrivals.reconcile else None
    new_state = {
        "installs": install_arrivals.cursor,
        "commits": commit_arrivals.cursor,
        "plugins": sorted(names),
        "repos": sorted(repos),
        "reconciled_at": now.isoformat() if due else reconciled_at,
    }
    if not Path(warehouse.path).exists():  # nothing landed yet, so nothing can be late
        return LateDays(SourceLook(), SourceLook(), json.dumps(new_state))

    with warehouse.connect(read_only=True, lock_wait_seconds=lock_wait_seconds) as con:
        opening_installs_touched = opening_commits_touched = False
        if dropped_names:
            dropped = [sorted(dropped_names)]
            install_touched |= {
                row[0] for row in con.execute(
                    "SELECT DISTINCT download_day FROM raw_installs WHERE list_contains(?, plugin_name)", dropped
                ).fetchall()
            }
            opening_installs_touched = con.execute(
                "SELECT count(*) > 0 FROM opening_installs WHERE list_contains(?, plugin_name)", dropped
            ).fetchall()[0][0]
        if dropped_repos:
            dropped = [sorted(dropped_repos)]
            commit_touched |= {
                row[0] for row in con.execute(
                    "SELECT DISTINCT commit_day FROM raw_commits WHERE list_contains(?, plugin_name || chr(9) || repo)",
                    dropped,
                ).fetchall()
            }
            opening_commits_touched = con.execute(
                "SELECT count(*) > 0 FROM opening_commits WHERE list_contains(?, plugin_name || chr(9) || repo)", dropped
            ).fetchall()[0][0]
        install_recorded = _recorded(
            con, "installs", None if install_counts is not None else {*install_arrivals.newest_by_day, *install_touched}
        )
        commit_recorded = _recorded(
            con, "commits", None if commit_counts is not None else {*commit_arrivals.newest_by_day, *commit_touched}
        )

    return LateDays(
        _look(
            _changed(install_arrivals, install_touched, install_recorded, install_counts),
            install_recorded, install_counts, opening_landed[0], opening_installs_touched, installs_source.max_drop_fraction,
        ),
        _look(
            _changed(commit_arrivals, commit_touched, commit_recorded, commit_counts),
            commit_recorded, commit_counts, opening_landed[1], opening_commits_touched, commits_source.max_drop_fraction,
        ),
        json.dumps(new_state),
    )


def contiguous_ranges(days: set[date]) -> list[tuple[date, date]]:
    """Sorted days as inclusive (first, last) runs, so each run of days is one backfill-style run."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
