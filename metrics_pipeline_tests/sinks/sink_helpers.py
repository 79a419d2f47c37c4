"""Hand-made rollups for sink tests, and the items/rows they must produce, computed in plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from metrics_pipeline import changes
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

ROLLUP_TABLES = ("daily_installs", "monthly_installs", "total_installs", "monthly_commits", "total_commits", "latest_commits")


@dataclass
class Rollups:
    """Rollup rows keyed like the warehouse tables; counts are chosen by the test."""

    daily: dict[tuple[str, date], int] = field(default_factory=dict)  # (plugin, day)
    monthly: dict[tuple[str, date], int] = field(default_factory=dict)  # (plugin, month start)
    total: dict[str, int] = field(default_factory=dict)
    monthly_commits: dict[tuple[str, str, date], tuple[int, datetime]] = field(default_factory=dict)
    total_commits: dict[tuple[str, str], int] = field(default_factory=dict)
    latest_commits: dict[tuple[str, str], datetime] = field(default_factory=dict)


def hub_scenario() -> Rollups:
    """Leap day, month and year boundaries; two plugins; commits across the 15-month window edge."""
    rollups = Rollups()
    for day, n in [(date(2023, 12, 31), 3), (date(2024, 1, 1), 4), (date(2024, 2, 29), 5), (date(2024, 3, 1), 6)]:
        rollups.daily[("napari-foo", day)] = n
    rollups.daily[("napari-bar", date(2024, 2, 29))] = 9
    rollups.monthly = {("napari-foo", date(2023, 12, 1)): 3, ("napari-foo", date(2024, 1, 1)): 4,
                       ("napari-foo", date(2024, 2, 1)): 5, ("napari-foo", date(2024, 3, 1)): 6,
                       ("napari-bar", date(2024, 2, 1)): 9}
    rollups.total = {"napari-foo": 18, "napari-bar": 9}
    for month, n in [(date(2023, 12, 1), 2), (date(2024, 1, 1), 3), (date(2024, 12, 1), 4), (date(2025, 3, 1), 5)]:
        rollups.monthly_commits[("napari-foo", "Org/Napari-Foo", month)] = (n, datetime(month.year, month.month, 2, 12))
    rollups.total_commits = {("napari-foo", "Org/Napari-Foo"): 14}
    rollups.latest_commits = {("napari-foo", "Org/Napari-Foo"): datetime(2025, 3, 2, 12, 0, 0, 500000)}
    return rollups


def write_rollups(warehouse: DuckDBWarehouse, rollups: Rollups) -> None:
    """Replace every rollup table's rows with `rollups` (as the lead's rollup assets would)."""
    with warehouse.connect() as con:
        for table in ROLLUP_TABLES:
            con.execute(f"DELETE FROM {table}")
        if rollups.daily:
            con.executemany("INSERT INTO daily_installs VALUES (?, ?, ?)", [[d, p, n] for (p, d), n in rollups.daily.items()])
        if rollups.monthly:
            con.executemany("INSERT INTO monthly_installs VALUES (?, ?, ?)", [[m, p, n] for (p, m), n in rollups.monthly.items()])
        if rollups.total:
            con.executemany("INSERT INTO total_installs VALUES (?, ?)", [[p, n] for p, n in rollups.total.items()])
        if rollups.monthly_commits:
            con.executemany(
                "INSERT INTO monthly_commits VALUES (?, ?, ?, ?, ?)",
                [[m, p, r, n, at] for (p, r, m), (n, at) in rollups.monthly_commits.items()],
            )
        if rollups.total_commits:
            con.executemany("INSERT INTO total_commits VALUES (?, ?, ?)", [[p, r, n] for (p, r), n in rollups.total_commits.items()])
        if rollups.latest_commits:
            con.executemany("INSERT INTO latest_commits VALUES (?, ?, ?)", [[p, r, at] for (p, r), at in rollups.latest_commits.items()])
        settle(con)


def settle(con) -> None:
    """As if the rollups had just run: their tables changed as a whole and each is up to date with its inputs."""
    changes.record(con, "raw_installs", [changes.WHOLE])
    changes.record(con, "raw_commits", [changes.WHOLE])
    for table in ROLLUP_TABLES:
        changes.record(con, table, [changes.WHOLE])
    done = changes.newest(con)
    for rollup in ROLLUP_TABLES:
        changes.advance(con, changes.Pending(rollup, done, {}))


def epoch_ms(day: date | datetime) -> int:
    if not isinstance(day, datetime):
        day = datetime(day.year, day.month, day.day)
    return int(day.replace(tzinfo=UTC).timestamp() * 1000)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def expected_install_items(rollups: Rollups) -> dict[tuple[str, str], dict]:
    items = {}
    for (plugin, day), n in rollups.daily.items():
        items[(plugin, f"DAY:{day:%Y%m%d}")] = {"type": "DAY", "install_count": n, "timestamp": epoch_ms(day)}
    for (plugin, month), n in rollups.monthly.items():
        items[(plugin, f"MONTH:{month:%Y%m}")] = {"type": "MONTH", "install_count": n, "timestamp": epoch_ms(month)}
    for plugin, n in rollups.total.items():
        items[(plugin, "TOTAL:")] = {"type": "TOTAL", "install_count": n, "is_total": "true"}
    return items


def expected_github_items(rollups: Rollups, as_of: date) -> dict[tuple[str, str], dict]:
    first, last = add_months(as_of, -14), as_of.replace(day=1)
    items = {}
    for (plugin, repo), at in rollups.latest_commits.items():
        items[(plugin, f"LATEST:{repo}")] = {"type": "LATEST", "repo": repo, "timestamp": epoch_ms(at)}
    for (plugin, repo, month), (n, _) in rollups.monthly_commits.items():
        if first <= month <= last:
            items[(plugin, f"MONTH:{month:%Y%m}:{repo}")] = {
                "type": "MONTH", "repo": repo, "commit_count": n, "timestamp": epoch_ms(month),
                "expiry": epoch_ms(add_months(month, 14)) // 1000,
            }
    for (plugin, repo), n in rollups.total_commits.items():
        items[(plugin, f"TOTAL:{repo}")] = {"type": "TOTAL", "repo": repo, "commit_count": n}
    return items


def plain(item: dict[str, dict[str, Any]]) -> dict:
    """Low-level attribute values -> Python values (N as int)."""
    return {name: int(value["N"]) if "N" in value else value["S"] for name, value in item.items()}


def scan_table(dynamodb: DynamoDBResource, suffix: str, range_key: str) -> dict[tuple[str, str], dict]:
    """Every item, keyed (plugin_name, sort key), without keys and last_updated_timestamp (checked present)."""
    client = dynamodb.client()
    items, kwargs = {}, {"TableName": dynamodb.table_name(suffix)}
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            item = plain(raw)
            assert item.pop("last_updated_timestamp") > 0
            items[(item.pop("plugin_name"), item.pop(range_key))] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def expected_install_rows(rollups: Rollups) -> set[tuple]:
    rows = {(p, "DAY", d, n) for (p, d), n in rollups.daily.items()}
    rows |= {(p, "MONTH", m, n) for (p, m), n in rollups.monthly.items()}
    return rows | {(p, "TOTAL", None, n) for p, n in rollups.total.items()}


def expected_github_rows(rollups: Rollups) -> set[tuple]:
    rows = {(p, r, "MONTH", m, n, None) for (p, r, m), (n, _) in rollups.monthly_commits.items()}
    rows |= {(p, r, "TOTAL", None, n, None) for (p, r), n in rollups.total_commits.items()}
    return rows | {(p, r, "LATEST", None, None, at.replace(tzinfo=UTC)) for (p, r), at in rollups.latest_commits.items()}


def many_install_rollups(plugins: int, days: int, start: date = date(2024, 1, 1)) -> Rollups:
    """A larger, regular scenario for the kill and throttling tests (plugins x days DAY items)."""
    from datetime import timedelta

    rollups = Rollups()
    for p in range(plugins):
        plugin = f"napari-p{p:03d}"
        for d in range(days):
            day = start + timedelta(days=d)
            rollups.daily[(plugin, day)] = p + d + 1
            month = day.replace(day=1)
            rollups.monthly[(plugin, month)] = rollups.monthly.get((plugin, month), 0) + p + d + 1
        rollups.total[plugin] = sum(n for (q, _), n in rollups.daily.items() if q == plugin)
    return rollups
