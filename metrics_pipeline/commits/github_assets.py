"""The GitHub landing asset: each day's commits (by committer date) appended to the warehouse."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
from github import BadCredentialsException, Github, UnknownObjectException

from metrics_pipeline.asset_conventions import warehouse_asset, window_dates
from metrics_pipeline.resources.github import TOKEN_SETTING, GitHubApi
from metrics_pipeline.partitions import DAILY
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.secrets import CredentialError, scrub
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction

LANDED_SCHEMA = pa.schema(
    [
        ("repo", pa.string()),
        ("sha", pa.string()),
        ("author_id", pa.string()),
        ("commit_author_date", pa.timestamp("us")),
        ("commit_message", pa.string()),
        ("repo_url", pa.string()),
    ]
)


@dataclass
class RepoFetch:
    """What fetching one registry repo found: its commits, or why there are none."""

    repo: str  # the registry's spelling
    full_history: bool
    rows: list[dict] = field(default_factory=list)
    gone: bool = False
    renamed_to: str | None = None
    error: str | None = None


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def fetch_repo(gh: Github, repo: str, since: datetime | None, until: datetime | None, secrets: list[str]) -> RepoFetch:
    """One repo's commits committed in [since, until]; its whole history when `since` is None."""
    fetch = RepoFetch(repo, full_history=since is None)
    try:
        found = gh.get_repo(repo)
        if found.full_name.lower() != repo.lower():
            fetch.renamed_to = found.full_name
        window = {} if since is None else {"since": since, "until": until}
        for commit in found.get_commits(**window):
            author = commit.author
            fetch.rows.append(
                {
                    "repo": repo,
                    "sha": commit.sha,
                    "author_id": None if author is None else str(author.id),
                    "commit_author_date": _naive_utc(commit.commit.author.date),
                    "commit_message": commit.commit.message,
                    "repo_url": found.html_url,
                }
            )
    except UnknownObjectException:
        fetch.gone, fetch.rows = True, []
    except BadCredentialsException:
        raise CredentialError(f"GitHub refused the token (401 Bad credentials): check {TOKEN_SETTING}") from None
    except Exception as error:  # one repo's failure must not stop the others; reported below
        fetch.error, fetch.rows = scrub(f"{type(error).__name__}: {error}", secrets)[:500], []
    return fetch


def land(con, fetches: list[RepoFetch], ingestion_time: datetime) -> int:
    """Append commits not yet landed (by lower(repo), sha) and mark full histories, in one transaction."""
    rows = [row for f in fetches for row in f.rows]
    full = [f.repo.lower() for f in fetches if f.full_history and not (f.gone or f.error)]
    incoming = pa.Table.from_pylist(rows, schema=LANDED_SCHEMA)
    count = "SELECT count(*) FROM github_commits_landing"
    before = con.execute(count).fetchall()[0][0]
    con.register("incoming", incoming)
    try:
        with transaction(con):
            con.execute(
                """
                INSERT INTO github_commits_landing
                    (repo, sha, author_id, commit_author_date, commit_message, ingestion_time, repo_url)
                SELECT repo, sha, author_id, commit_author_date, commit_message, $at, repo_url
                FROM incoming i
                WHERE NOT EXISTS (
                    SELECT 1 FROM github_commits_landing l WHERE lower(l.repo) = lower(i.repo) AND l.sha = i.sha
                )
                QUALIFY row_number() OVER (PARTITION BY lower(repo), sha ORDER BY commit_author_date) = 1
                """,
                {"at": ingestion_time},
            )
            if full:
                con.execute(
                    "INSERT INTO github_fetched_repos SELECT unnest($keys), $at ON CONFLICT DO NOTHING",
                    {"keys": full, "at": ingestion_time},
                )
    finally:
        con.unregister("incoming")
    return con.execute(count).fetchall()[0][0] - before


@warehouse_asset(
    group_name="commits",
    partitions_def=DAILY,
    kinds={"github", "duckdb"},
    columns=[
        ("repo", "varchar", "owner/name as the registry spells it"),
        ("sha", "varchar", "commit sha; one row per (lower(repo), sha)"),
        ("author_id", "varchar", "GitHub user id of the author, if linked"),
        ("commit_author_date", "timestamp", "author date, UTC: the day raw_commits counts it on"),
        ("commit_message", "varchar", "commit message"),
        ("ingestion_time", "timestamp", "UTC time the commit was first landed: its arrival"),
        ("repo_url", "varchar", "the repo's current GitHub URL (after renames)"),
    ],
)
def github_commits(
    context: dg.AssetExecutionContext, github: GitHubApi, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Commits committed in the window (repos new to the registry: their whole history), appended once each."""
    start, end = window_dates(context)
    since = datetime.combine(start, datetime.min.time(), timezone.utc)
    until = datetime.combine(end, datetime.min.time(), timezone.utc) - timedelta(seconds=1)  # GitHub: inclusive
    repos = {r.lower(): r for _, r in registry.load().plugin_repos}
    with warehouse.connect() as con:
        known = {row[0] for row in con.execute("SELECT repo_key FROM github_fetched_repos").fetchall()}
    gh, secrets = github.client()
    try:
        fetches = [
            fetch_repo(gh, repo, since if key in known else None, until, secrets)
            for key, repo in sorted(repos.items())
        ]
    finally:
        gh.close()
    with warehouse.connect() as con:
        landed = land(con, fetches, datetime.now(timezone.utc).replace(tzinfo=None))
    gone = [f.repo for f in fetches if f.gone]
    renamed = {f.repo: f.renamed_to for f in fetches if f.renamed_to}
    failed = {f.repo: f.error for f in fetches if f.error}
    for repo in gone:
        context.log.warning(f"GitHub repo {repo} is gone (404); fix its registry entry")
    for old, new in renamed.items():
        context.log.warning(f"GitHub repo {old} was renamed to {new} (301); commits still land under {old}")
    metadata = {
        "repos": len(repos),
        "commits_fetched": sum(len(f.rows) for f in fetches),
        "commits_landed": landed,
        "full_history_repos": dg.MetadataValue.json(sorted(f.repo for f in fetches if f.full_history and not (f.gone or f.error))),
        "gone_repos": dg.MetadataValue.json(gone),
        "renamed_repos": dg.MetadataValue.json(renamed),
        "failed_repos": dg.MetadataValue.json(failed),
        "committed_since": since.isoformat(),
        "committed_until": until.isoformat(),
    }
    if failed:
        raise dg.Failure(
            description=f"{len(failed)} of {len(repos)} repos failed to fetch (the others landed): "
            + "; ".join(f"{repo}: {error}" for repo, error in sorted(failed.items())),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
