"""Warning checks: download projects and commit repos that look like registry plugins but did not
match (another spelling, a renamed or transferred repo), and registry URLs that are not GitHub.

Reading what did *not* match needs the source itself; the functions here read a file source's
files for the window (its catalog's `window_files`). They are the proposed
`InstallsSource.unmatched_projects` / `CommitsSource.unmatched_repos` methods; other source kinds
report the check as not available.

A renamed repo is told apart two ways. With a GitHub token, the registry repos that could explain an
unmatched repo (no commits under their own spelling in the window) are looked up: GitHub answers a
renamed or transferred repo with its new `full_name`. Without one (and for repos not looked up),
owner and name are compared apart: the same name under another owner, or the same owner with a
similar name, is a probable rename even when the whole strings differ more than `SIMILARITY` allows.
"""


import difflib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from metrics_pipeline.commits.sources import CommitsSource
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.partitions import DAILY
from metrics_pipeline.quality.evaluations import Outcome, partition_evaluations, partitioned_check
from metrics_pipeline.registry import NORMALIZE_SQL_PATTERN, NOT_GITHUB_REPO, PluginRegistry, Registry
from metrics_pipeline.resources.github import GitHubApi, Resolution
from metrics_pipeline.resources.warehouse import scratch

WARN = dg.AssetCheckSeverity.WARN
SIMILARITY = 0.85  # difflib ratio above which two names are "another spelling"
EXAMPLES = 5
CONTAINED_NAME = 4  # a name inside another of the same owner (spotfinder, napari-spotfinder) counts from this length
RENAME_LOOKUPS = 50  # registry repos looked up on GitHub per check run, most suspect first


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


def project_downloads(files: list[str], installers: Sequence[str], start: date, end: date,
                      known: Sequence[str] = ()) -> dict[tuple[date, str], int]:
    """Qualifying downloads per (day, normalized project) in [start, end), of the projects not in
    `known` (the registry's: only the rest can be a misspelling, and a year of them is millions of rows)."""
    if not files:
        return {}
    with scratch() as con:
        rows = con.execute(
            """
            SELECT day, project, count(*) FROM (
                SELECT CAST(timestamp AS DATE) AS day, regexp_replace(lower(file.project), $pattern, '-', 'g') AS project
                FROM read_parquet($files, union_by_name = true)
                WHERE timestamp >= $start::TIMESTAMPTZ AND timestamp < $end::TIMESTAMPTZ AND file.project IS NOT NULL
                  AND list_contains($installers, details.installer.name) AND details.ci IS NOT TRUE)
            WHERE NOT list_contains($known, project)
            GROUP BY ALL
            """,
            {"files": files, "pattern": NORMALIZE_SQL_PATTERN, "installers": list(installers), "known": list(known),
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
    with scratch() as con:
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


def _owner_and_name(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    return _loose(owner), _loose(name)


def _similar_names(a: str, b: str) -> float:
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) >= CONTAINED_NAME and shorter in longer:
        return 1.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def _owner_apart(repos: Sequence[str]) -> Callable[[str], str | None]:
    """Finds the registry repo a repo probably is, renamed: the same name under another owner, or
    the same owner with a similar name; each distinct repo is compared once per check run."""
    by_name: dict[str, str] = {}
    by_owner: dict[str, list[tuple[str, str]]] = {}
    for repo in repos:
        owner, name = _owner_and_name(repo)
        by_name.setdefault(name, repo)
        by_owner.setdefault(owner, []).append((name, repo))

    @functools.cache
    def find(repo: str) -> str | None:
        owner, name = _owner_and_name(repo)
        if name in by_name:
            return by_name[name]
        score, match = max(((_similar_names(name, n), r) for n, r in by_owner.get(owner, [])), default=(0.0, None))
        return match if score >= SIMILARITY else None

    return find


@dataclass
class RepoFindings:
    """What a window's commits say about the registry's repos: per day, and GitHub figures for the window."""

    examples: dict[date, list[str]] = field(default_factory=dict)
    renamed: dict[date, dict[str, str]] = field(default_factory=dict)  # registry spelling -> GitHub's full_name
    window_figures: dict = field(default_factory=dict)


def _suspects(unmatched: list[str], guesses: dict[str, str | None], repos: list[str], active: set[str]) -> list[str]:
    """Registry repos worth a lookup, most suspect first: those a comparison points at, then those
    without commits under their own spelling in the window (sharing an owner or a name first)."""
    guessed = sorted({g for g in guesses.values() if g in repos})
    near = {part for u in unmatched for part in _owner_and_name(u)}
    silent = [r for r in repos if r.lower() not in active and r not in guessed]
    silent.sort(key=lambda r: (not set(_owner_and_name(r)) & near, r.lower()))
    return guessed + silent


def _github_lookups(github: GitHubApi, unmatched: list[str], guesses: dict, repos: list[str], active: set[str]):
    suspects = _suspects(unmatched, guesses, repos, active)
    resolved = github.current_full_names(suspects[:RENAME_LOOKUPS], until_found=unmatched)
    figures = {"github_lookups": len(resolved.full_names)}
    if len(resolved.full_names) == RENAME_LOOKUPS < len(suspects):
        figures["github_lookups_skipped"] = len(suspects) - RENAME_LOOKUPS
    if resolved.stopped:
        figures["github_lookup_stopped"] = resolved.stopped
    return resolved, figures


def unmatched_repos(
    counts: dict[tuple[date, str], int], registry: Registry, github: GitHubApi | None = None
) -> RepoFindings:
    """Commit repos that match no registry repo but probably are one, renamed or moved; GitHub is
    asked (with a token) only when some repo did not match, and only about suspect registry repos."""
    repos = sorted({repo for _, repo in registry.plugin_repos})
    known = {r.lower() for r in repos}
    owner_apart, repo_lookalike = _owner_apart(repos), _lookalikes(repos)
    plugin_lookalike = _lookalikes(registry.plugin_names)
    unmatched = sorted({repo for (_, repo) in counts if repo.lower() not in known})
    guesses: dict[str, str | None] = {}
    for repo in unmatched:
        guesses[repo] = owner_apart(repo) or repo_lookalike(repo)
        if guesses[repo] is None and (plugin := plugin_lookalike(repo.split("/", 1)[-1])) is not None:
            guesses[repo] = f"plugin {plugin}"
    findings, resolved = RepoFindings(), Resolution()
    if unmatched and github is not None and github.has_credentials():
        active = {repo.lower() for (_, repo) in counts}
        resolved, findings.window_figures = _github_lookups(github, unmatched, guesses, repos, active)
    renamed_to = {new.lower(): (old, new) for old, new in resolved.full_names.items() if new and new.lower() != old.lower()}
    for (day, repo), n in sorted(counts.items()):
        if repo.lower() in known:
            continue
        if repo.lower() in renamed_to:
            old, new = renamed_to[repo.lower()]
            findings.examples.setdefault(day, []).append(
                f"repo {repo!r} ({n} commits) is registry repo {old!r}, renamed on GitHub to {new!r}")
            findings.renamed.setdefault(day, {})[old] = new
        elif guesses[repo] is not None and resolved.full_names.get(guesses[repo]) is None:
            # (a guessed registry repo GitHub found where it was is not this one renamed)
            findings.examples.setdefault(day, []).append(
                f"repo {repo!r} ({n} commits) looks like {guesses[repo]!r} (renamed or moved?)")
    return findings


def _outcomes(
    keys: list[str], found: dict[date, list[str]], extra: list[str], figure: str,
    day_figures: dict[date, dict] | None = None, window_figures: dict | None = None,
) -> dict[str, Outcome]:
    outcomes = {}
    for key in keys:  # registry-wide findings (`extra`, `window_figures`) are reported once, on the newest day
        day, newest = date.fromisoformat(key), key == max(keys)
        examples = found.get(day, []) + (extra if newest else [])
        figures = {figure: len(examples), "examples": "\n".join(examples[:EXAMPLES])}
        figures |= (day_figures or {}).get(day, {}) | ((window_figures or {}) if newest else {})
        outcomes[key] = Outcome(not examples, figures)
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
    """WARN: downloaded projects that are not registry plugins but look like one (another spelling).
    What to do: correct the plugin's name in the registry; the late-data sensor re-runs the days."""
    keys = context.partition_keys
    if not hasattr(installs_source, "window_files"):
        yield from partition_evaluations(context, _not_available(keys, installs_source), WARN)
        return
    start, end = _window(keys)
    files = installs_source.window_files(start, end)
    loaded = registry.load()
    counts = project_downloads(files, getattr(installs_source, "installers", ["pip"]), start, end, loaded.plugin_names)
    found = unmatched_projects(counts, loaded)
    yield from partition_evaluations(context, _outcomes(keys, found, [], "unmatched_projects"), WARN)


@partitioned_check(asset=dg.AssetKey("raw_commits"), partitions_def=DAILY)
def raw_commits_unmatched_repos(
    context: dg.AssetCheckExecutionContext, commits_source: CommitsSource, registry: PluginRegistry, github: GitHubApi
):
    """WARN: commit repos that are a registry repo renamed or moved (GitHub's answer with a token,
    owner and name compared apart without), and registry plugins whose code_repository is not GitHub.
    What to do: set code_repository to the repo's current URL; the late-data sensor re-runs the days."""
    keys = context.partition_keys
    loaded = registry.load()
    not_github = [line for line in loaded.quarantined if NOT_GITHUB_REPO in line]
    findings = RepoFindings()
    if hasattr(commits_source, "window_files"):
        start, end = _window(keys)
        findings = unmatched_repos(commit_repos(commits_source.window_files(start, end), start, end), loaded, github)
    renamed = {day: {"renamed_repos": names} for day, names in findings.renamed.items()}
    outcomes = _outcomes(keys, findings.examples, not_github, "unmatched_repos", renamed, findings.window_figures)
    yield from partition_evaluations(context, outcomes, WARN)


UNMATCHED_CHECKS = [raw_installs_unmatched_projects, raw_commits_unmatched_repos]
