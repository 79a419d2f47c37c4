"""Every sink heals: drift made by hand in Postgres (events, community, plugins, restatements) and InfluxDB
fails the sink's blocking read-back check on the next publish, naming what differs; the reconciliation job's
step for that store repairs it exactly and the check passes again. Real servers, exact figures."""

import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from metrics_pipeline.community.postgres_sink import TARGETS, postgres_community_activity
from metrics_pipeline.events.influxdb import InfluxDBResource, line
from metrics_pipeline.events.sinks import influxdb_daily_events, postgres_events, postgres_events_monthly
from metrics_pipeline.plugins.sink import postgres_asset, postgres_table
from metrics_pipeline.quality.restatement_sink import postgres_restatements
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.reconcile import Stores, reconciliation_job
from metrics_pipeline_tests.events.conftest import influxdb_url  # noqa: F401 - the session's InfluxDB
from metrics_pipeline_tests.plugins.downloads import Row, counting, run_plugins, write_rows
from metrics_pipeline_tests.scenario import Scenario

UNUSED_DYNAMODB = DynamoDBResource(stack="unused", endpoint_url="http://127.0.0.1:9")  # the hub's step is not selected
TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)  # inside events_raw's 90 days


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def epoch_us(*moments: datetime) -> int:
    return sum(int(m.replace(tzinfo=UTC).timestamp()) * 1_000_000 for m in moments)


def pg_rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        return connection.execute(sql).fetchall()


def pg_do(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn) as connection:
        for statement in statements:
            connection.execute(statement)


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def failed(result, name: str) -> list[str]:
    """A check that failed blocking (ERROR) and failed its step; returns the differences it names."""
    check = checks(result)[name]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.description.startswith(f"{check.metadata['groups_differing'].value} of ")
    assert "What to do: run sink_reconciliation_job" in check.description
    return check.metadata["differences"].value


def reconcile(stores: Stores, steps: list[str], **resources) -> tuple[dict, dict]:
    """Run the job's steps for these stores: (repairs per sink asset, check evaluations)."""
    result = reconciliation_job(stores).execute_in_process(
        resources={"dynamodb": UNUSED_DYNAMODB} | resources, op_selection=steps)
    assert result.success
    repairs = {e.asset_key.to_user_string(): {k: v.value for k, v in e.metadata.items() if k != "reconciliation"}
               for e in (o.event_specific_data.asset_observation for o in result.get_asset_observation_events())}
    return repairs, {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}


# Events: Postgres events_raw / events_daily / events_monthly and InfluxDB events_daily.

RAW = [  # event_id, day, time, product, type, user, bytes, response_ms, properties
    ("e1", D1, at(D1, 10), "alpha", "storage", "u1", 100, None, '{"action": "uploaded"}'),
    ("e2", D1, at(D1, 11), "alpha", "storage", "u2", 50, None, '{"action": "deleted"}'),
    ("e3", D2, at(D2, 9), "alpha", "health", None, None, 12.5, "{}"),
    ("e4", D2, at(D2, 10), "beta", "traffic", "u3", 7, None, '{"url": "/d"}'),
    ("e6", D2, at(D2, 11), "alpha", "health", None, None, float("nan"), "{}"),  # refused by Postgres: left out
    ("e5", date(2024, 1, 15), datetime(2024, 1, 15, 12), "alpha", "storage", "u1", 9, None, "{}"),  # older than 90 days
]
DAILY = [
    (date(2024, 2, 28), "alpha", "storage", 2, 1, 101, None, None),
    (date(2024, 2, 29), "alpha", "storage", 2, 2, 45, None, None),
    (date(2024, 2, 29), "alpha", "traffic", 2, 1, 7, None, None),
    (date(2024, 3, 1), "alpha", "health", 4, 0, None, 25.0, float("inf")),  # p95 not storable: left out
    (date(2024, 3, 1), "beta", "custom", 1, 1, None, None, None),
]
MONTHLY = [
    (date(2024, 2, 1), "alpha", "storage", 4, 2, 146), (date(2024, 2, 1), "alpha", "traffic", 2, 1, 7),
    (date(2024, 3, 1), "alpha", "health", 4, 0, None), (date(2024, 3, 1), "beta", "custom", 1, 1, None),
]


def write_events(warehouse) -> None:
    with warehouse.connect() as con:
        con.executemany("INSERT INTO raw_events (event_id, event_day, event_time, received_at, product, event_type, user_id, "
                        "bytes, response_ms, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[i, d, t, t, p, e, u, b, r, props] for i, d, t, p, e, u, b, r, props in RAW])
        con.executemany("INSERT INTO daily_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [list(row) for row in DAILY])
        con.executemany("INSERT INTO monthly_events VALUES (?, ?, ?, ?, ?, ?)", [list(row) for row in MONTHLY])


def influx_points(influxdb: InfluxDBResource) -> list[list]:
    results = influxdb.query('SELECT * FROM "events_daily"')
    return [row for series in results[0].get("series", []) for row in series["values"]]


def test_events_in_postgres_and_influxdb_heal(warehouse, postgres_database, influxdb_url):  # noqa: F811
    dsn = postgres_database
    influxdb = InfluxDBResource(url=influxdb_url, database=f"heal_{uuid.uuid4().hex[:8]}")
    resources = {"warehouse": warehouse, "postgres": PostgresResource(dsn=dsn), "influxdb": influxdb}
    sinks = [postgres_events, postgres_events_monthly, influxdb_daily_events]
    write_events(warehouse)
    first = dg.materialize(sinks, resources=resources)
    assert first.success and all(c.passed for c in checks(first).values()) and len(checks(first)) == 3
    tables = {t: pg_rows(dsn, f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in ("events_raw", "events_daily", "events_monthly")}
    assert [r[0] for r in tables["events_raw"]] == ["e1", "e2", "e3", "e4"]  # 90 days; e6 refused
    points = influx_points(influxdb)
    assert len(points) == 5

    pg_do(dsn, "DELETE FROM events_raw WHERE event_id = 'e1'", "UPDATE events_raw SET bytes = 70 WHERE event_id = 'e4'",
          f"INSERT INTO events_raw VALUES ('x1', '{D2}', '{at(D2, 12)}', 'beta', 'traffic', NULL, NULL, NULL, 1, NULL, '{{}}')",
          f"INSERT INTO events_raw VALUES ('x-old', '{TODAY - timedelta(days=120)}', '{at(TODAY, 0) - timedelta(days=120)}', "
          "'beta', 'traffic', NULL, NULL, NULL, 1, NULL, '{}')",  # outside the 90 days: not compared, deleted by repair
          "UPDATE events_daily SET events = 3 WHERE event_day = '2024-02-29' AND event_type = 'storage'",
          "DELETE FROM events_daily WHERE product = 'beta'",
          "INSERT INTO events_daily VALUES ('2024-02-27', 'ghost', 'custom', 1, 1, NULL, NULL, NULL)",
          "UPDATE events_monthly SET bytes = 1 WHERE month_start = '2024-02-01' AND event_type = 'storage'",
          "DELETE FROM events_monthly WHERE product = 'beta'",
          "INSERT INTO events_monthly VALUES ('2023-12-01', 'ghost', 'custom', 1, 1, NULL)")
    influxdb.query("""DELETE FROM "events_daily" WHERE "type" = 'traffic' AND time >= '2024-02-29T00:00:00Z'""")
    influxdb._request("/write", {"db": influxdb.database, "precision": "s"}, "\n".join([
        line("events_daily", {"product": "alpha", "type": "storage"}, {"events": 9}, datetime(2024, 2, 28)),
        line("events_daily", {"product": "ghost", "type": "custom"}, {"events": 1}, datetime(2024, 2, 27))]).encode())

    drifted = dg.materialize(sinks, resources=resources, raise_on_error=False)
    assert not drifted.success  # blocking: each sink's step fails
    assert {e.step_key for e in drifted.all_events if e.is_step_failure} == {
        "postgres__events", "postgres__events_monthly", "influxdb__events_daily"}
    assert failed(drifted, "postgres_events_read_back") == [
        f"events_raw {D1}: rows 2 in the warehouse, 1 in Postgres, sum(bytes) 150 in the warehouse, 50 in Postgres, "
        f"sum(event_time in epoch µs) {epoch_us(at(D1, 10), at(D1, 11))} in the warehouse, {epoch_us(at(D1, 11))} in Postgres",
        f"events_raw {D2}: rows 2 in the warehouse, 3 in Postgres, sum(bytes) 7 in the warehouse, 71 in Postgres, "
        f"sum(event_time in epoch µs) {epoch_us(at(D2, 9), at(D2, 10))} in the warehouse, "
        f"{epoch_us(at(D2, 9), at(D2, 10), at(D2, 12))} in Postgres",
        "events_daily 2024-02-27: only in Postgres (rows 1, sum(events) 1, sum(distinct_users) 1, sum(bytes) None, "
        "sum(response_ms_p50) None, sum(response_ms_p95) None)",
        "events_daily 2024-02-29: sum(events) 4 in the warehouse, 5 in Postgres",
        "events_daily 2024-03-01: rows 2 in the warehouse, 1 in Postgres, sum(events) 5 in the warehouse, 4 in Postgres, "
        "sum(distinct_users) 1 in the warehouse, 0 in Postgres"]
    assert failed(drifted, "postgres_events_monthly_read_back") == [
        "events_monthly 2023-12-01: only in Postgres (rows 1, sum(events) 1, sum(distinct_users) 1, sum(bytes) None)",
        "events_monthly 2024-02-01: sum(bytes) 153 in the warehouse, 8 in Postgres",
        "events_monthly 2024-03-01: rows 2 in the warehouse, 1 in Postgres, sum(events) 5 in the warehouse, 4 in Postgres, "
        "sum(distinct_users) 1 in the warehouse, 0 in Postgres"]
    assert failed(drifted, "influxdb_events_daily_read_back") == [
        "events_daily 2024-02-27: only in InfluxDB (rows 1, sum(events) 1, sum(users) None, sum(bytes) None, "
        "sum(response_ms_p50) None, sum(response_ms_p95) None)",
        "events_daily 2024-02-28: sum(events) 2 in the warehouse, 9 in InfluxDB",
        "events_daily 2024-02-29: rows 2 in the warehouse, 1 in InfluxDB, sum(events) 4 in the warehouse, 2 in InfluxDB, "
        "sum(users) 3 in the warehouse, 2 in InfluxDB, sum(bytes) 52 in the warehouse, 45 in InfluxDB"]

    repairs, evaluations = reconcile(Stores(events=True, influxdb=True),
                                     ["reconcile_postgres_events", "reconcile_influxdb_events_daily"], **resources)
    assert repairs == {
        "postgres/events": {
            "events_raw": {"desired_rows": 4, "repaired_missing": 1, "repaired_changed": 1, "deleted_extra": 2},
            "events_daily": {"desired_rows": 5, "repaired_missing": 1, "repaired_changed": 1, "deleted_extra": 1},
            "raw_kept_from": (TODAY - timedelta(days=90)).isoformat()},
        "postgres/events_monthly": {
            "events_monthly": {"desired_rows": 4, "repaired_missing": 1, "repaired_changed": 1, "deleted_extra": 1}},
        "influxdb/events_daily": {"measurement": "events_daily", "points_scanned": 5, "desired_points": 5,
                                  "repaired_missing": 1, "repaired_changed": 1, "deleted_extra": 1,
                                  "days_rewritten": "2024-02-27..2024-02-29"}}
    assert evaluations == {name: (True, dg.AssetCheckSeverity.ERROR) for name in (
        "postgres_events_read_back", "postgres_events_monthly_read_back", "influxdb_events_daily_read_back")}
    assert {t: pg_rows(dsn, f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in tables} == tables
    assert influx_points(influxdb) == points
    again = dg.materialize(sinks, resources=resources)
    assert again.success and all(c.passed for c in checks(again).values())
    repairs, _ = reconcile(Stores(events=True, influxdb=True),
                           ["reconcile_postgres_events", "reconcile_influxdb_events_daily"], **resources)
    assert (repairs["postgres/events"]["events_raw"], repairs["influxdb/events_daily"]["days_rewritten"]) == (
        {"desired_rows": 4, "repaired_missing": 0, "repaired_changed": 0, "deleted_extra": 0}, "")  # nothing left to do


# Community: community_activity and the entity tables.

def write_community(warehouse) -> None:
    metrics = [1, 0, 1, 0, 0, 0, 0, 0, 2.5, 4.0, 0, 24.0, 24.0, 0, None, None, 0, 1, 0]
    with warehouse.connect() as con:
        con.execute("""INSERT INTO community_issues VALUES
            (11, 'org/alpha', 1, false, 'alice', 'closed', '2024-01-30 10:00', '2024-01-31 10:00', '2024-01-31 10:00',
             '{"title": "one"}', '2024-02-01 00:00'),
            (12, 'org/alpha', 2, false, 'bob', 'open', '2024-01-31 08:00', '2024-01-31 09:00', NULL, '{}', '2024-02-01 00:00')""")
        con.execute("INSERT INTO community_events VALUES ('commented:1', 11, 'commented', 'maint', '2024-01-30 12:30', '{}')")
        con.execute("""INSERT INTO community_members VALUES ('org', 'maint', '{"login": "maint"}')""")
        for table, period in (("community_daily", date(2024, 1, 30)), ("community_monthly", date(2024, 1, 1))):
            con.execute(f"INSERT INTO {table} VALUES (?, 'p-alpha', 'org/alpha', {', '.join('?' * len(metrics))})",
                        [period, *metrics])
        con.execute(f"INSERT INTO community_total VALUES ('p-alpha', 'org/alpha', {', '.join('?' * len(metrics))})", metrics)


def test_community_tables_heal(warehouse, postgres_database):
    dsn = postgres_database
    resources = {"warehouse": warehouse, "postgres": PostgresResource(dsn=dsn)}
    write_community(warehouse)
    first = dg.materialize([postgres_community_activity], resources=resources)
    assert first.success and checks(first)["postgres_community_activity_read_back"].passed
    snapshot = {t.name: pg_rows(dsn, f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY 1, 2, 3") for t in TARGETS}

    pg_do(dsn, "DELETE FROM community_issues WHERE issue_id = 12",
          "UPDATE community_events SET created_at = '2024-01-30 13:30+00'",
          "UPDATE community_activity SET response_median_hours = 3.5 WHERE granularity = 'DAY'",
          "INSERT INTO community_members VALUES ('org', 'intruder', '{}')")
    drifted = dg.materialize([postgres_community_activity], resources=resources, raise_on_error=False)
    assert not drifted.success
    issue_12 = epoch_us(datetime(2024, 1, 31, 8))
    assert failed(drifted, "postgres_community_activity_read_back") == [
        "community_issues all: rows 2 in the warehouse, 1 in Postgres, sum(issue_id) 23 in the warehouse, 11 in Postgres, "
        "sum(number) 3 in the warehouse, 1 in Postgres, "
        f"sum(created_at in epoch µs) {epoch_us(datetime(2024, 1, 30, 10)) + issue_12} in the warehouse, "
        f"{epoch_us(datetime(2024, 1, 30, 10))} in Postgres, "
        f"sum(updated_at in epoch µs) {epoch_us(datetime(2024, 1, 31, 10), datetime(2024, 1, 31, 9))} in the warehouse, "
        f"{epoch_us(datetime(2024, 1, 31, 10))} in Postgres",
        f"community_events all: sum(created_at in epoch µs) {epoch_us(datetime(2024, 1, 30, 12, 30))} in the warehouse, "
        f"{epoch_us(datetime(2024, 1, 30, 13, 30))} in Postgres",
        "community_members all: rows 1 in the warehouse, 2 in Postgres",
        "community_activity DAY: sum(response_median_hours) 2.5 in the warehouse, 3.5 in Postgres"]

    repairs, evaluations = reconcile(Stores(community=True), ["reconcile_postgres_community"], **resources)
    repaired = {name: counts for name, counts in repairs["postgres/community_activity"].items()
                if counts["repaired_rows"] or counts["deleted_extra"]}
    assert repaired == {
        "community_issues": {"desired_rows": 2, "repaired_rows": 1, "deleted_extra": 0},
        "community_events": {"desired_rows": 1, "repaired_rows": 1, "deleted_extra": 0},
        "community_members": {"desired_rows": 1, "repaired_rows": 0, "deleted_extra": 1},
        "community_activity": {"desired_rows": 3, "repaired_rows": 1, "deleted_extra": 0}}
    assert evaluations == {"postgres_community_activity_read_back": (True, dg.AssetCheckSeverity.ERROR)}
    assert {t.name: pg_rows(dsn, f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY 1, 2, 3") for t in TARGETS} == snapshot


# Plugins: every table of every installed plugin (behind its view).

def test_plugin_tables_heal(tmp_path, postgres_database):
    dsn = postgres_database
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    write_rows(scenario, [Row("2024-01-31 10:00:00", "napari-foo", times=3), Row("2024-02-01 10:00:00", "napari-foo"),
                          Row("2024-02-01 11:00:00", "napari-bar", times=2)])
    plugin = counting("heal")
    postgres = PostgresResource(dsn=dsn)
    first = run_plugins(scenario, [plugin], "2024-01-31", "2024-02-01", extra=[postgres_asset(plugin)], postgres=postgres)
    assert first.success and checks(first)["postgres_plugin_heal_read_back"].passed
    (published,) = [m for m in first.get_asset_materialization_events() if m.asset_key == dg.AssetKey(["postgres", "plugin_heal"])]
    assert published.materialization.metadata["dagster/row_count"].value == 8  # the sink's rows, as the UI shows them
    select = "SELECT granularity, period_start, plugin_name, downloads FROM plugin_heal ORDER BY 1, 2, 3"
    assert pg_rows(dsn, select) == [
        ("DAY", date(2024, 1, 31), "napari-foo", 3), ("DAY", date(2024, 2, 1), "napari-bar", 2),
        ("DAY", date(2024, 2, 1), "napari-foo", 1), ("MONTH", date(2024, 1, 1), "napari-foo", 3),
        ("MONTH", date(2024, 2, 1), "napari-bar", 2), ("MONTH", date(2024, 2, 1), "napari-foo", 1),
        ("TOTAL", None, "napari-bar", 2), ("TOTAL", None, "napari-foo", 4)]
    snapshot = pg_rows(dsn, select)

    pg_do(dsn, "DELETE FROM plugin_heal WHERE granularity = 'DAY' AND plugin_name = 'napari-bar'",  # through the view
          "UPDATE plugin_heal SET downloads = 40 WHERE granularity = 'TOTAL' AND plugin_name = 'napari-foo'",
          "INSERT INTO plugin_heal (granularity, period_start, plugin_name, downloads) VALUES ('MONTH', '2023-12-01', 'ghost', 5)")
    # The sink's step compares only the periods it published (none here); the nightly reconciliation
    # compares every period.
    quiet = run_plugins(scenario, [plugin], extra=[postgres_asset(plugin)], postgres=postgres)
    assert checks(quiet)["postgres_plugin_heal_read_back"].passed
    assert checks(quiet)["postgres_plugin_heal_read_back"].metadata["periods_compared"].value == "plugin_heal: nothing"

    repairs, evaluations = reconcile(Stores(plugins=(plugin,)), ["reconcile_postgres_plugins"],
                                     warehouse=scenario.resources()["warehouse"], postgres=postgres)
    assert repairs == {"postgres/plugin_heal": {"plugin_heal": {"desired_rows": 8, "repaired_rows": 2, "deleted_extra": 1}}}
    assert evaluations == {"postgres_plugin_heal_read_back": (True, dg.AssetCheckSeverity.ERROR)}
    assert pg_rows(dsn, select) == snapshot
    assert pg_rows(dsn, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'plugin_heal%'") == [(postgres_table(plugin).name,)]


def test_plugin_read_back_compares_the_periods_published(tmp_path, postgres_database):
    """What a publish wrote is read back within its periods: a store that alters rows as they arrive
    (here a trigger adding 1) fails the check for exactly the day, month and totals published."""
    dsn = postgres_database
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    write_rows(scenario, [Row("2024-01-31 10:00:00", "napari-foo", times=3), Row("2024-02-01 10:00:00", "napari-foo")])
    plugin, postgres = counting("heal"), PostgresResource(dsn=dsn)
    assert run_plugins(scenario, [plugin], "2024-01-31", "2024-02-01", extra=[postgres_asset(plugin)], postgres=postgres).success
    pg_do(dsn, "CREATE FUNCTION plus_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.downloads := NEW.downloads + 1; "
               "RETURN NEW; END $$",
          f"CREATE TRIGGER plus_one BEFORE INSERT ON {postgres_table(plugin).name} FOR EACH ROW EXECUTE FUNCTION plus_one()")
    write_rows(scenario, [Row("2024-02-01 12:00:00", "napari-bar", times=2)])
    drifted = run_plugins(scenario, [plugin], "2024-02-01", "2024-02-01", extra=[postgres_asset(plugin)], postgres=postgres,
                          raise_on_error=False)
    assert not drifted.success
    evaluation = checks(drifted)["postgres_plugin_heal_read_back"]
    assert evaluation.metadata["periods_compared"].value == "plugin_heal: days 2024-02-01; months 2024-02-01..2024-02-29; totals"
    assert failed(drifted, "postgres_plugin_heal_read_back") == [
        # Every row offered to the upsert passes the trigger: napari-foo's 1 becomes 2 and differs, so it is written.
        "plugin_heal DAY: sum(downloads) 3 in the warehouse, 5 in Postgres",
        "plugin_heal MONTH: sum(downloads) 3 in the warehouse, 5 in Postgres",
        "plugin_heal TOTAL: sum(downloads) 6 in the warehouse, 8 in Postgres"]


# Restatements: Postgres holds exactly the warehouse's rows.

def test_restatements_heal(warehouse, postgres_database):
    dsn = postgres_database
    resources = {"warehouse": warehouse, "postgres": PostgresResource(dsn=dsn)}
    with warehouse.connect() as con:
        con.execute("""INSERT INTO restatements (id, sink, plugin_name, metric, granularity, period_start, repo, old_value,
                       new_value, run_id, restated_at) VALUES
            (1, 'dynamodb:install-activity', 'napari-foo', 'installs', 'DAY', '2024-02-29', NULL, 5, 6, 'r1', '2024-03-02 13:00'),
            (2, 'dynamodb:install-activity', 'napari-bar', 'installs', 'MONTH', '2024-02-01', NULL, 9, NULL, 'r1', '2024-03-02 13:00'),
            (3, 'dynamodb:github-activity', 'napari-foo', 'commits', 'MONTH', '2024-02-01', 'Org/Foo', 2, 3, 'r2', '2024-03-03 13:00')""")
    first = dg.materialize([postgres_restatements], resources=resources)
    assert first.success and checks(first)["postgres_restatements_read_back"].passed
    (published,) = first.get_asset_materialization_events()
    assert published.materialization.metadata["dagster/row_count"].value == 3
    select = "SELECT * FROM restatements ORDER BY id"
    snapshot = pg_rows(dsn, select)
    assert [r[0] for r in snapshot] == [1, 2, 3]

    pg_do(dsn, "DELETE FROM restatements WHERE id = 2", "UPDATE restatements SET old_value = 50 WHERE id = 1",
          "INSERT INTO restatements VALUES (99, 'dynamodb:install-activity', 'ghost', 'installs', 'DAY', '2024-01-01', NULL,"
          " 1, 2, 'hand', '2024-03-04 00:00+00')")
    drifted = dg.materialize([postgres_restatements], resources=resources, raise_on_error=False)
    assert not drifted.success  # an extra row with a high id also stops the append-only copy: only a repair helps
    restated = epoch_us(datetime(2024, 3, 2, 13))
    assert failed(drifted, "postgres_restatements_read_back") == [
        "restatements dynamodb:install-activity: sum(id) 3 in the warehouse, 100 in Postgres, sum(old_value) 14 in the "
        "warehouse, 51 in Postgres, sum(new_value) 6 in the warehouse, 8 in Postgres, sum(restated_at in epoch µs) "
        f"{2 * restated} in the warehouse, {restated + epoch_us(datetime(2024, 3, 4))} in Postgres"]

    repairs, evaluations = reconcile(Stores(restatements=True), ["reconcile_postgres_restatements"], **resources)
    assert repairs == {"postgres/restatements": {"desired_rows": 3, "repaired_missing": 1, "repaired_changed": 1,
                                                 "deleted_extra": 1}}
    assert evaluations == {"postgres_restatements_read_back": (True, dg.AssetCheckSeverity.ERROR)}
    assert pg_rows(dsn, select) == snapshot


# The job and publish_job cover every configured sink, and only those.

@pytest.mark.parametrize("configured, steps", [
    ({}, ["reconcile_postgres_plugins"]),
    ({"METRICS_EVENTS_SPOOL": "/tmp/spool", "METRICS_INFLUXDB_URL": "http://127.0.0.1:9",
      "METRICS_COMMUNITY_SOURCE": "github", "METRICS_POSTGRES_DSN": "postgresql://nobody@127.0.0.1:9/none"},
     ["reconcile_postgres_events", "reconcile_influxdb_events_daily", "reconcile_postgres_community",
      "reconcile_postgres_plugins", "reconcile_postgres_restatements"]),
])
def test_every_configured_sink_has_a_blocking_read_back_a_reconciliation_step_and_is_published(configured, steps, monkeypatch):
    from metrics_pipeline.definitions import defs

    for name in ("METRICS_EVENTS_SPOOL", "METRICS_EVENTS_S3_BUCKET", "METRICS_INFLUXDB_URL", "METRICS_COMMUNITY_SOURCE",
                 "METRICS_POSTGRES_DSN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in configured.items():
        monkeypatch.setenv(name, value)
    definitions = defs()
    job = definitions.resolve_job_def("sink_reconciliation_job")
    assert {node.name for node in job.graph.nodes} == {"reconcile_dynamodb_tables", "reconcile_postgres_tables", *steps}
    graph = definitions.resolve_asset_graph()
    sinks = {key for key in graph.get_all_asset_keys() if key.path[0] in ("dynamodb", "postgres", "influxdb")}
    published = set(definitions.resolve_job_def("publish_job").asset_layer.executable_asset_keys)
    assert sinks <= published
    expected = {"postgres/plugin_python_versions", "postgres/plugin_countries"} | (
        {"postgres/events", "postgres/events_monthly", "influxdb/events_daily", "postgres/community_activity",
         "postgres/restatements"} if configured else set())
    assert expected <= {k.to_user_string() for k in sinks}
    for key in sinks:  # every sink reads back what it wrote, blocking, in its own step
        read_backs = [graph.get_check_spec(k) for k in graph.get_check_keys_for_assets({key}) if k.name.endswith("_read_back")]
        assert len(read_backs) == 1 and read_backs[0].blocking and "What to do:" in read_backs[0].description, key
