"""Warning checks: download projects and commit repos that look like registry plugins but did not
match (another spelling, a renamed or transferred repo), and registry URLs that are not GitHub.

Reading what did *not* match needs the source itself; the functions here read a file source's
files for the window (its catalog's `window_files`). They are the proposed
`InstallsSource.unmatched_projects` / `CommitsSource.unmatched_repos` methods; other source kinds
report the check as not available.
"""


import difflib
import functools
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import dagster as dg
import duckdb

from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.partitions import DAILY
from metrics_pipeline.quality.evaluations import Outcome, partition_evaluations, partitioned_check
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN, NOT_GITHUB_REPO, PluginRegistry, Registry

WARN = dg.AssetCheckSeverity.WARN
SIMILARITY = 0.85  # difflib ratio above which two names are "another spelling"
EXAMPLES = 5


def _loose(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _lookalikes(candidates: Sequence[str]) -> Callable[[str], str | None]:
    """Finds the candidate a name looks like; each distinct name is compared once per check run."""
    loose = {_loose(c): c for c in candidates}
    lowered: dict[str, str] = {}
    for candidate in candidates:
        lowered.setdefault(candidate.lower(), candidate)

    @functools.cache
    def find(name: str) -> str | None:
        if _loose(name) in loose:
            return loose[_loose(name)]
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=SIMILARITY)
        return lowered[close[0]] if close else None

    return find


def project_downloads(files: list[str], installers: Sequence[str], start: date, end: date) -> dict[tuple[date, str], int]:
    """Qualifying downloads per (day, normalized project) in [start, end), registry or not."""
    if not files:
        return {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            """
            SELECT CAST(timestamp AS DATE), regexp_replace(lower(file.project), $pattern, '-', 'g'), count(*)
            FROM read_parquet($files, union_by_name = true)
            WHERE timestamp >= $start::TIMESTAMPTZ AND timestamp < $end::TIMESTAMPTZ AND file.project IS NOT NULL
              AND list_contains($installers, details.installer.name) AND details.ci IS NOT TRUE
            GROUP BY ALL
            """,
            {"files": files, "pattern": NORMALIZE_SQL_PATTERN, "installers": list(installers),
             "start": f"{start} 00:00:00+00", "end": f"{end} 00:00:00+00"},
        ).fetchall()
    return {(d, p): n for d, p, n in rows}


def commit_repos(files: list[str], start: date, end: date) -> dict[tuple[date, str], int]:
    """Commits per (author day, repo as the source spells it) in [start, end), registry or not."""
    parts, params = [], {"start": f"{start} 00:00:00+00", "end": f"{end} 00:00:00+00"}
    if parquet := [f for f in files if f.lower().endswith(".parquet")]:
        parts.append("SELECT CAST(repo AS VARCHAR) AS repo, CAST(commit_author_date AS VARCHAR) AS authored FROM read_parquet($parquet, union_by_name = true)")
        params["parquet"] = parquet
    if csv := [f for f in files if f.lower().endswith(".csv")]:
        parts.append("SELECT repo, commit_author_date AS authored FROM read_csv($csv, union_by_name = true, all_varchar = true, header = true)")
        params["csv"] = csv
    if not parts:
        return {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"""
            SELECT CAST(CAST(t AS TIMESTAMP) AS DATE), trim(repo), count(*)
            FROM (SELECT repo, TRY_CAST(authored AS TIMESTAMPTZ) AS t FROM ({' UNION ALL '.join(parts)}))
            WHERE t >= $start::TIMESTAMPTZ AND t < $end::TIMESTAMPTZ AND nullif(trim(repo), '') IS NOT NULL
            GROUP BY ALL
            """,
            params,
        ).fetchall()
    return {(d, r): n for d, r, n in rows}


def unmatched_projects(counts: dict[tuple[date, str], int], registry: Registry) -> dict[date, list[str]]:
    names = registry.plugin_names
    known, lookalike = set(names), _lookalikes(names)
    found: dict[date, list[str]] = {}
    for (day, project), n in sorted(counts.items()):
        if project in known:
            continue
        if (match := lookalike(project)) is not None:
            found.setdefault(day, []).append(f"project {project!r} ({n} downloads) looks like plugin {match!r}")
    return found


def unmatched_repos(counts: dict[tuple[date, str], int], registry: Registry) -> dict[date, list[str]]:
    repos = [repo for _, repo in registry.plugin_repos]
    known = {r.lower() for r in repos}
    by_name = {r.split("/", 1)[-1].lower(): r for r in repos}
    repo_lookalike, plugin_lookalike = _lookalikes(repos), _lookalikes(registry.plugin_names)
    found: dict[date, list[str]] = {}
    for (day, repo), n in sorted(counts.items()):
        if repo.lower() in known:
            continue
        match = by_name.get(repo.split("/", 1)[-1].lower()) or repo_lookalike(repo)
        if match is None and (plugin := plugin_lookalike(repo.split("/", 1)[-1])) is not None:
            match = f"plugin {plugin}"
        if match is not None:
            found.setdefault(day, []).append(f"repo {repo!r} ({n} commits) looks like {match!r} (renamed or moved?)")
    return found


def _outcomes(keys: list[str], found: dict[date, list[str]], extra: list[str], figure: str) -> dict[str, Outcome]:
    outcomes = {}
    for key in keys:  # registry-wide findings (`extra`) are reported once, on the newest day
        examples = found.get(date.fromisoformat(key), []) + (extra if key == max(keys) else [])
        outcomes[key] = Outcome(not examples, {figure: len(examples), "examples": "\n".join(examples[:EXAMPLES])})
    return outcomes


def _window(keys: list[str]) -> tuple[date, date]:
    days = sorted(date.fromisoformat(k) for k in keys)
    return days[0], days[-1] + timedelta(days=1)


def _not_available(keys: list[str], source) -> dict[str, Outcome]:
    note = f"not available for {type(source).__name__}"
    return {key: Outcome(True, {"note": note}) for key in keys}


@partitioned_check(asset=dg.AssetKey("raw_installs"), partitions_def=DAILY)
def raw_installs_unmatched_projects(
    context: dg.AssetCheckExecutionContext, installs_source: InstallsSource, registry: PluginRegistry
):
    """WARN: downloaded projects that are not registry plugins but look like one (another spelling)."""
    keys = context.partition_keys
    if not hasattr(installs_source, "window_files"):
        yield from partition_evaluations(context, _not_available(keys, installs_source), WARN)
        return
    start, end = _window(keys)
    files = installs_source.window_files(start, end)
    counts = project_downloads(files, getattr(installs_source, "installers", ["pip"]), start, end)
    found = unmatched_projects(counts, registry.load())
    yield from partition_evaluations(context, _outcomes(keys, found, [], "unmatched_projects"), WARN)


@partitioned_check(asset=dg.AssetKey("raw_commits"), partitions_def=DAILY)
def raw_commits_unmatched_repos(
    context: dg.AssetCheckExecutionContext, commits_source: CommitsSource, registry: PluginRegistry
):
    """WARN: commit repos that look like a registry repo but did not match (renamed, moved), and
    registry plugins whose code_repository is not a GitHub URL."""
    keys = context.partition_keys
    loaded = registry.load()
    not_github = [line for line in loaded.quarantined if NOT_GITHUB_REPO in line]
    if not hasattr(commits_source, "window_files"):
        found: dict[date, list[str]] = {}
    else:
        start, end = _window(keys)
        found = unmatched_repos(commit_repos(commits_source.window_files(start, end), start, end), loaded)
    yield from partition_evaluations(context, _outcomes(keys, found, not_github, "unmatched_repos"), WARN)


UNMATCHED_CHECKS = [raw_installs_unmatched_projects, raw_commits_unmatched_repos]
