"""The whole graph on generated demo data equals an independent pure-Python recount of the files,
including rows before the first partition (MONTH/TOTAL/LATEST only) and after a source file is deleted."""

import csv
import re
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import dagster as dg
import pytest

from metrics_pipeline.automation.late_data import contiguous_ranges, find_late_days
from metrics_pipeline.commits.assets import latest_commits, monthly_commits, opening_commits, raw_commits, total_commits
from metrics_pipeline.demo.generate import generate
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, opening_installs, raw_installs, total_installs
from metrics_pipeline.landing.guards import ALLOW_DROP_TAG
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline_tests.scenario import Scenario


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _registry(path: Path) -> tuple[set[str], dict[str, list[tuple[str, str]]]]:
    names, by_repo = set(), {}
    for row in csv.DictReader(path.open()):
        name = _norm(row["name"].strip())
        names.add(name)
        url = row["code_repository"].strip()
        if url.lower().startswith("https://github.com/"):
            repo = url[len("https://github.com/"):].rstrip("/").removesuffix(".git")
            by_repo.setdefault(repo.lower(), []).append((name, repo))
    return names, by_repo


def _expected_installs(root: Path, names: set[str]) -> Counter:
    daily = Counter()
    for path in sorted((root / "downloads").rglob("*.parquet")):
        for row in pq.read_table(path, columns=["timestamp", "file", "details"]).to_pylist():
            details = row["details"]
            installer = (details["installer"] or {}).get("name")
            plugin = _norm(row["file"]["project"])
            if installer == "pip" and details["ci"] is not True and plugin in names:
                daily[(row["timestamp"].astimezone(timezone.utc).date(), plugin)] += 1
    return daily


def _expected_commits(root: Path, by_repo) -> dict:
    seen = {}
    tables = [pq.read_table(p) for p in sorted((root / "commits").glob("*.parquet"))]
    rows = [r for t in tables for r in t.to_pylist()]
    for table in (pacsv.read_csv(p) for p in (root / "commits").glob("*.csv")):
        rows += table.to_pylist()
    for row in rows:
        when = row["commit_author_date"]
        when = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else when
        for plugin, repo in by_repo.get(row["repo"].lower(), []):
            seen.setdefault((plugin, repo, row["sha"]), when.astimezone(timezone.utc).replace(tzinfo=None))
    return seen


DAY_ASSETS = [raw_installs, daily_installs, raw_commits]
TOTALS = [opening_installs, opening_commits, total_installs, total_commits, latest_commits]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Demo data from 22 days before the first partition (2023-01-01 in tests) to 8 days after."""
    scenario = Scenario(tmp_path_factory.mktemp("demo"))
    root = scenario.root / "demo"
    generate(root, date(2022, 12, 10), date(2023, 1, 8), plugins=40, untracked=15)
    scenario.downloads.directory = root / "downloads"
    scenario.commits.directory = root / "commits"
    scenario.registry_path = root / "registry.csv"
    assert FIRST_DAY == date(2023, 1, 1)
    assert scenario.materialize(DAY_ASSETS, "2023-01-01", "2023-01-08").success
    assert scenario.materialize([monthly_installs, monthly_commits], "2023-01-01").success
    assert scenario.materialize(TOTALS).success
    return scenario, root


def _rollups(daily: Counter, commits: dict):
    """DAY (partition days only), MONTH and TOTAL installs; MONTH, TOTAL and LATEST commits."""
    days = {(d, p): n for (d, p), n in daily.items() if d >= FIRST_DAY}
    monthly, total = Counter(), Counter()
    for (d, p), n in daily.items():
        monthly[(d.replace(day=1), p)] += n
        total[p] += n
    month_counts, latest = Counter(), {}
    for (plugin, repo, _), when in commits.items():
        month_counts[(plugin, repo, date(when.year, when.month, 1))] += 1
        latest[(plugin, repo)] = max(latest.get((plugin, repo), when), when)
    totals = Counter()
    for (plugin, repo, _), n in month_counts.items():
        totals[(plugin, repo)] += n
    return days, monthly, total, month_counts, totals, latest


def test_installs_equal_an_independent_recount(demo):
    scenario, root = demo
    names, _ = _registry(root / "registry.csv")
    days, monthly, total, *_ = _rollups(_expected_installs(root, names), {})
    assert scenario.query("SELECT download_day, plugin_name, install_count FROM daily_installs ORDER BY ALL") == sorted(
        (d, p, n) for (d, p), n in days.items()
    )
    assert scenario.query("SELECT month_start, plugin_name, install_count FROM installs_by_month ORDER BY ALL") == sorted(
        (m, p, n) for (m, p), n in monthly.items()
    )
    assert scenario.query("SELECT plugin_name, install_count FROM total_installs ORDER BY ALL") == sorted(total.items())
    assert len(total) > 20 and any(m < FIRST_DAY for m, _ in monthly)


def test_commits_equal_an_independent_recount(demo):
    scenario, root = demo
    _, by_repo = _registry(root / "registry.csv")
    *_, month_counts, totals, latest = _rollups(Counter(), _expected_commits(root, by_repo))
    assert scenario.query("SELECT month_start, plugin_name, repo, commit_count FROM commits_by_month ORDER BY ALL") == sorted(
        (m, p, r, n) for (p, r, m), n in month_counts.items()
    )
    assert scenario.query("SELECT plugin_name, repo, commit_count FROM total_commits ORDER BY ALL") == sorted(
        (p, r, n) for (p, r), n in totals.items()
    )
    assert scenario.query("SELECT plugin_name, repo, latest_commit_at FROM latest_commits ORDER BY ALL") == sorted(
        (p, r, t) for (p, r), t in latest.items()
    )
    assert any(m < FIRST_DAY for (_, _, m) in month_counts)


def _epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _expected_sinks(root: Path):
    """Every DynamoDB item (both tables) and Postgres row, by the issues' rules, from the raw files."""
    names, by_repo = _registry(root / "registry.csv")
    days, monthly, total, month_counts, totals, latest = _rollups(
        _expected_installs(root, names), _expected_commits(root, by_repo)
    )
    installs = {(p, f"DAY:{d:%Y%m%d}"): {"type": "DAY", "install_count": n, "timestamp": _epoch_ms(d)} for (d, p), n in days.items()}
    for (m, p), n in monthly.items():
        installs[(p, f"MONTH:{m:%Y%m}")] = {"type": "MONTH", "install_count": n, "timestamp": _epoch_ms(m)}
    for p, n in total.items():
        installs[(p, "TOTAL:")] = {"type": "TOTAL", "install_count": n, "is_total": "true"}
    github = {}
    for (plugin, repo, month), n in month_counts.items():
        if date(2021, 11, 1) <= month <= date(2023, 1, 1):  # run date 2023-01-20: 15 months
            github[(plugin, f"MONTH:{month:%Y%m}:{repo}")] = {
                "type": "MONTH", "repo": repo, "commit_count": n, "timestamp": _epoch_ms(month),
                "expiry": _epoch_ms(_add_months(month, 14)) // 1000,
            }
    for (plugin, repo), n in totals.items():
        github[(plugin, f"TOTAL:{repo}")] = {"type": "TOTAL", "repo": repo, "commit_count": n}
    for (plugin, repo), when in latest.items():
        github[(plugin, f"LATEST:{repo}")] = {
            "type": "LATEST", "repo": repo, "timestamp": int(when.replace(tzinfo=timezone.utc).timestamp() * 1000)
        }
    install_rows = (
        [(p, "DAY", d, n) for (d, p), n in days.items()]
        + [(p, "MONTH", m, n) for (m, p), n in monthly.items()]
        + [(p, "TOTAL", None, n) for p, n in total.items()]
    )
    github_rows = (
        [(p, r, "MONTH", m, n, None) for (p, r, m), n in month_counts.items()]
        + [(p, r, "TOTAL", None, n, None) for (p, r), n in totals.items()]
        + [(p, r, "LATEST", None, None, t.replace(tzinfo=timezone.utc)) for (p, r), t in latest.items()]
    )
    return installs, github, sorted(install_rows, key=str), sorted(github_rows, key=str)


def test_every_sink_item_and_row_equals_an_independent_recount_also_after_a_file_is_deleted(
    demo, dynamodb_endpoint, dynamodb_stack, postgres_database
):
    import psycopg

    from metrics_pipeline.resources.dynamodb import DynamoDBResource
    from metrics_pipeline.resources.postgres import PostgresResource
    from metrics_pipeline.sinks.definitions import SINK_ASSETS
    from metrics_pipeline_tests.sinks.sink_helpers import scan_table

    scenario, root = demo
    dynamodb = DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint)
    resources = {**scenario.resources(), "dynamodb": dynamodb, "postgres": PostgresResource(dsn=postgres_database)}

    def publish_and_compare():
        run = dg.materialize(
            SINK_ASSETS, resources=resources, instance=scenario.instance,
            run_config={"ops": {"dynamodb__github_activity": {"config": {"as_of_date": "2023-01-20"}}}},
        )
        assert run.success
        installs, github, install_rows, github_rows = _expected_sinks(root)
        assert scan_table(dynamodb, "install-activity", "type_timestamp") == installs
        assert scan_table(dynamodb, "github-activity", "type_identifier") == github
        with psycopg.connect(postgres_database) as con:
            assert sorted(con.execute(
                "SELECT plugin_name, granularity, period_start, install_count FROM install_activity"
            ).fetchall(), key=str) == install_rows
            assert sorted(con.execute(
                "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"
            ).fetchall(), key=str) == github_rows
        return installs

    before = publish_and_compare()

    # A partition day's file and a file from before the first partition vanish from the source.
    r = scenario.resources()
    look = lambda cursor: find_late_days(cursor, r["installs_source"], r["commits_source"], r["registry"], r["warehouse"])  # noqa: E731
    cursor = look(None).cursor
    (root / "downloads" / "2023" / "01" / "file_downloads-2023-01-05.parquet").unlink()
    (root / "downloads" / "2022" / "12" / "file_downloads-2022-12-20.parquet").unlink()
    late = look(cursor)
    assert date(2023, 1, 5) in late.installs.days and late.installs.opening
    assert late.installs.drop_confirmed
    for first, last in contiguous_ranges(late.installs.days):
        assert scenario.materialize(
            [raw_installs, daily_installs], first.isoformat(), last.isoformat(), tags={ALLOW_DROP_TAG: "true"}
        ).success
    assert scenario.materialize([monthly_installs], "2023-01-01").success
    assert scenario.materialize(TOTALS).success
    after = publish_and_compare()
    assert not any(key[1] == "DAY:20230105" for key in after) and any(key[1] == "DAY:20230105" for key in before)
