"""Finds already-materialized days whose source rows changed since they were materialized.

Looks only at what arrived since the cursor (new or changed files, newer ingestion times) and at
plugins the registry added or dropped; compares with the fingerprints recorded by the raw assets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.landing.fingerprints import recorded_fingerprints
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.landing.batch import Arrivals


@dataclass
class LateDays:
    installs: set[date]
    commits: set[date]
    cursor: str


def _stale(arrivals: Arrivals, registry_days: set[date], recorded: dict) -> set[date]:
    """Materialized days that saw less than has arrived since, plus those the registry touched."""
    stale = {
        day
        for day, newest in arrivals.newest_by_day.items()
        if day in recorded and (recorded[day] is None or newest > recorded[day])
    }
    return stale | {day for day in registry_days if day in recorded}


def find_late_days(
    cursor: str | None,
    installs_source: InstallsSource,
    commits_source: CommitsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
    lock_wait_seconds: float = 20.0,
) -> LateDays:
    state = json.loads(cursor) if cursor else {}
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
    install_registry_days = installs_source.days_with_downloads(sorted(added_names))
    commit_registry_days = commits_source.days_with_commits(sorted({r.split("\t")[1] for r in added_repos}))

    if not Path(warehouse.path).exists():  # nothing materialized yet, so nothing can be late
        return LateDays(set(), set(), _cursor(install_arrivals, commit_arrivals, names, repos))
    with warehouse.connect(read_only=True, lock_wait_seconds=lock_wait_seconds) as con:
        if dropped_names:
            install_registry_days |= {
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT download_day FROM raw_installs WHERE list_contains(?, plugin_name)",
                    [sorted(dropped_names)],
                ).fetchall()
            }
        if dropped_repos:
            commit_registry_days |= {
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT commit_day FROM raw_commits WHERE list_contains(?, plugin_name || chr(9) || repo)",
                    [sorted(dropped_repos)],
                ).fetchall()
            }
        installs_recorded = recorded_fingerprints(
            con, "installs", set(install_arrivals.newest_by_day) | install_registry_days
        )
        commits_recorded = recorded_fingerprints(
            con, "commits", set(commit_arrivals.newest_by_day) | commit_registry_days
        )

    new_cursor = _cursor(install_arrivals, commit_arrivals, names, repos)
    return LateDays(
        _stale(install_arrivals, install_registry_days, installs_recorded),
        _stale(commit_arrivals, commit_registry_days, commits_recorded),
        new_cursor,
    )


def _cursor(install_arrivals: Arrivals, commit_arrivals: Arrivals, names: set[str], repos: set[str]) -> str:
    return json.dumps(
        {
            "installs": install_arrivals.cursor,
            "commits": commit_arrivals.cursor,
            "plugins": sorted(names),
            "repos": sorted(repos),
        }
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
