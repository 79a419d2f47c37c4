"""Fan-out of events: Postgres (raw 90 days, rollups forever) and InfluxDB, one asset each, so a failing
sink never blocks the other; each writes the days (months) that changed since it last wrote, idempotent
per day (delete the day, insert), and catches up by itself after a failure (the change log).

What a store would refuse, failing the whole day (a non-finite number, NUL in text: values an older
collector let in), is left out and counted in the materialization's metadata instead.

Each sink reads back per-day (per-month) row counts and sums in its own step (a blocking check), and
`sink_reconciliation_job` repairs drift made outside the pipeline (`reconcile_*` below)."""

import json
import math
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import psycopg
import pyarrow as pa

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import CONSUMES, OWNERS
from metrics_pipeline.collector.records import BAD_TEXT, NON_FINITE, UNPARSEABLE, bad_text
from metrics_pipeline.events.assets import GROUP, daily_events, monthly_events, raw_events
from metrics_pipeline.events.influxdb import InfluxDBError, InfluxDBResource, line, storable
from metrics_pipeline.resources.postgres import PostgresConfigError, PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.read_back import (
    Aggregate, Compared, ReadBack, compare_postgres, figures, influx_day_figures, read_back_result, read_back_spec,
)
from metrics_pipeline.sinks.scope import SinkFeed

RAW_RETENTION_DAYS = 90
INFLUX_MEASUREMENT = "events_daily"
SINK_RETRIES = 3
_RAW_COLUMNS = ("event_id, event_day, event_time, product, event_type, user_id, session_id, idempotency_key, "
                "bytes, response_ms, properties")
_DAILY_COLUMNS = ("event_day, product, event_type, events, distinct_users, bytes, response_ms_p50, response_ms_p95")
_MONTHLY_COLUMNS = "month_start, product, event_type, events, distinct_users, bytes"
_SINK = dict(group_name=GROUP, owners=OWNERS, pool=WAREHOUSE_POOL)


@contextmanager
def _retry_when_unreachable(context: dg.AssetExecutionContext):
    """A sink server that is down (restarting, failing over) gets spaced attempts (1, 2, 4 s) in the
    same run; other errors (bad data, bad SQL) fail at once."""
    try:
        yield
    except (PostgresConfigError, psycopg.OperationalError, InfluxDBError) as error:
        if isinstance(error, InfluxDBError) and not error.unreachable:
            raise
        raise dg.RetryRequested(max_retries=SINK_RETRIES, seconds_to_wait=2 ** context.retry_number) from error


def _rows(warehouse: DuckDBWarehouse, sql: str, params: list) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute(sql, params).fetchall()


def _raw_refusal(row: tuple) -> str | None:
    """Why Postgres would refuse this events_raw row (and with it the day), or None."""
    *_, response_ms, properties = row
    if response_ms is not None and not math.isfinite(response_ms):
        return NON_FINITE
    if any(text is not None and "\x00" in text for text in row[3:8]):
        return BAD_TEXT
    if "Infinity" in properties or "NaN" in properties or "\\u" in properties:  # else jsonb takes it as it is
        try:
            value = json.loads(properties)
        except ValueError:
            return UNPARSEABLE
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except ValueError:
            return NON_FINITE
        if bad_text(text):
            return BAD_TEXT
    return None


def _storable_raw(rows: list[tuple]) -> tuple[list[tuple], dict]:
    """The rows Postgres takes, and metadata counting the others by reason (with a few event ids)."""
    kept, reasons, examples = [], Counter(), []
    for row in rows:
        reason = _raw_refusal(row)
        if reason is None:
            kept.append(row)
            continue
        reasons[reason] += 1
        if len(examples) < 10:
            examples.append(f"{row[0]}: {reason}")
    return kept, {"raw_rows_refused": sum(reasons.values()), "raw_refusals_by_reason": dg.MetadataValue.json(
        dict(sorted(reasons.items()))), "raw_refused_examples": dg.MetadataValue.json(examples)}


def _finite_daily(rows: list[tuple]) -> tuple[list[tuple], int]:
    """Daily rows with non-finite percentiles as NULL (no value), and how many values were left out."""
    kept, left_out = [], 0
    for *head, p50, p95 in rows:
        percentiles = [None if value is not None and not math.isfinite(value) else value for value in (p50, p95)]
        left_out += percentiles.count(None) - (p50, p95).count(None)
        kept.append((*head, *percentiles))
    return kept, left_out


def _copy(cursor, table: str, columns: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


RAW_FEED = SinkFeed("postgres/events", days=("raw_events", "daily_events"))
MONTHLY_FEED = SinkFeed("postgres/events_monthly", months=("monthly_events",))
INFLUX_FEED = SinkFeed(f"influxdb/{INFLUX_MEASUREMENT}", days=("daily_events",))


RAW_CHECK, MONTHLY_CHECK, INFLUX_CHECK = ("postgres_events_read_back", "postgres_events_monthly_read_back",
                                         f"influxdb_{INFLUX_MEASUREMENT}_read_back")
_SUSPECT = " OR ".join(  # a superset of what `_raw_refusal` refuses in landed JSON; only these rows reach Python
    ["NOT isfinite(coalesce(response_ms, 0))", "contains(properties, 'Infinity')", "contains(properties, 'NaN')",
     "regexp_matches(properties, '\\\\u(0000|[dD][89a-fA-F])')"]
    + [f"contains(coalesce({c}, ''), chr(0))" for c in ("product", "event_type", "user_id", "session_id", "idempotency_key")])
_FINITE = "CASE WHEN isfinite({0}) THEN {0} END AS {0}"
# What each store should hold (DuckDB), column for column: the reconciliation writes it, the checks sum it.
RAW_DESIRED = (f"SELECT {_RAW_COLUMNS} FROM raw_events r WHERE event_day >= $keep_from "
               "AND NOT EXISTS (SELECT 1 FROM refused_raw x WHERE x.event_id = r.event_id)")
DAILY_DESIRED = (f"SELECT event_day, product, event_type, events, distinct_users, bytes, {_FINITE.format('response_ms_p50')}, "
                 f"{_FINITE.format('response_ms_p95')} FROM daily_events")
MONTHLY_DESIRED = f"SELECT {_MONTHLY_COLUMNS} FROM monthly_events"
INFLUX_DESIRED = (f"SELECT event_day, events, distinct_users AS users, CASE WHEN bytes >= -9223372036854775808 AND "
                  f"bytes <= 9223372036854775807 THEN bytes END AS bytes, {_FINITE.format('response_ms_p50')}, "
                  f"{_FINITE.format('response_ms_p95')} FROM daily_events")
RAW_SUMS = Aggregate("events_raw", "event_day", ("bytes", "response_ms"), ("event_time",))
DAILY_SUMS = Aggregate("events_daily", "event_day", ("events", "distinct_users", "bytes", "response_ms_p50", "response_ms_p95"))
MONTHLY_SUMS = Aggregate("events_monthly", "month_start", ("events", "distinct_users", "bytes"))
INFLUX_SUMS = Aggregate(INFLUX_MEASUREMENT, "event_day", ("events", "users", "bytes", "response_ms_p50", "response_ms_p95"))


def _keep_from() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=RAW_RETENTION_DAYS)


@contextmanager
def _refused(con, keep_from: date):
    """Register `refused_raw(event_id)`: the events in the window Postgres would refuse (left out by the publish)."""
    suspects = con.execute(f"SELECT {_RAW_COLUMNS} FROM raw_events WHERE event_day >= ? AND ({_SUSPECT})", [keep_from]).fetchall()
    con.register("refused_raw", pa.table({"event_id": pa.array([r[0] for r in suspects if _raw_refusal(r)], pa.string())}))
    try:
        yield
    finally:
        con.unregister("refused_raw")


def check_postgres_events(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    """events_raw (its 90 days) and events_daily: per-day row counts and sums equal the warehouse's."""
    keep_from = _keep_from()
    with warehouse.connect() as con, _refused(con, keep_from), postgres.connect() as connection:
        compared = compare_postgres(con, connection, [
            ReadBack(RAW_SUMS, f"({RAW_DESIRED}) AS d", {"keep_from": keep_from}, "event_day >= %s", [keep_from]),
            ReadBack(DAILY_SUMS, f"({DAILY_DESIRED}) AS d")])
    return read_back_result(RAW_CHECK, "Postgres", compared)


def check_postgres_events_monthly(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con, postgres.connect() as connection:
        compared = compare_postgres(con, connection, [ReadBack(MONTHLY_SUMS, f"({MONTHLY_DESIRED}) AS d")])
    return read_back_result(MONTHLY_CHECK, "Postgres", compared)


def check_influxdb_events(warehouse: DuckDBWarehouse, influxdb: InfluxDBResource) -> dg.AssetCheckResult:
    """Per day: points and field sums in InfluxDB equal daily_events' (less what InfluxDB cannot store)."""
    with warehouse.connect() as con:
        expected = figures(con.execute(INFLUX_SUMS.sql(f"({INFLUX_DESIRED}) AS d")).fetchall())
    actual = influx_day_figures(influxdb, INFLUX_MEASUREMENT, "events", INFLUX_SUMS.sums)
    return read_back_result(INFLUX_CHECK, "InfluxDB", [Compared(INFLUX_MEASUREMENT, INFLUX_SUMS.labels, expected, actual)])


def _sink(key: list[str], kind: str, feed: SinkFeed, deps, check: str, what: str) -> dict:
    return dict(key=key, deps=deps, kinds={kind}, metadata={CONSUMES: ",".join(feed.inputs)},
                check_specs=[read_back_spec(check, dg.AssetKey(key), what)], **_SINK)


@contextmanager
def _feed(warehouse: DuckDBWarehouse, feed: SinkFeed):
    """The day (or month) ranges the feed has pending; its cursor moves only when the write succeeded."""
    with warehouse.connect() as con:
        todo = feed.pending(con)
        first_landed = con.execute("SELECT min(event_day) FROM raw_events").fetchall()[0][0]
    ranges = todo.ranges()
    if todo.first_run:  # everything: the days that exist
        ranges = [] if first_landed is None else [(first_landed, datetime.now(timezone.utc).date())]
    yield [(a, b + timedelta(days=1)) for a, b in changes.whole_months(ranges)] if feed.months else \
        [(a, min(b, date.max - timedelta(days=1)) + timedelta(days=1)) for a, b in ranges]
    with warehouse.connect() as con:
        changes.advance(con, todo)


@dg.asset(**_sink(["postgres", "events"], "postgres", RAW_FEED, [raw_events, daily_events], RAW_CHECK,
                  "Per-day row counts and sums of events_raw (its 90 days) and events_daily equal the warehouse's."))
def postgres_events(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, postgres: PostgresResource):
    """events_raw (last 90 days) and events_daily in Postgres for the days that changed."""
    keep_from = _keep_from()
    written = {"raw_events_written": 0, "raw_rows_deleted_or_replaced": 0, "daily_rows": 0, "daily_values_left_out": 0,
               "raw_rows_refused": 0}
    reasons, examples = Counter(), []
    with _feed(warehouse, RAW_FEED) as windows:
        for start, end in windows:
            raw = _rows(warehouse, f"SELECT {_RAW_COLUMNS} FROM raw_events WHERE event_day >= ? AND event_day < ? "
                        "AND event_day >= ?", [start, end, keep_from])
            daily = _rows(warehouse, f"SELECT {_DAILY_COLUMNS} FROM daily_events WHERE event_day >= ? AND event_day < ?",
                          [start, end])
            raw, refused = _storable_raw(raw)
            daily, left_out = _finite_daily(daily)
            if refused["raw_rows_refused"] or left_out:
                context.log.warning(f"left out of Postgres for {start}..{end}: {refused['raw_rows_refused']} raw events "
                                    f"{refused['raw_refusals_by_reason'].value} and {left_out} non-finite percentiles"[:300])
            with _retry_when_unreachable(context), postgres.connect() as connection:
                apply_migrations(connection)
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.execute("DELETE FROM events_raw WHERE (event_day >= %s AND event_day < %s) OR event_day < %s",
                                   [start, end, keep_from])
                    expired = cursor.rowcount
                    _copy(cursor, "events_raw", _RAW_COLUMNS, raw)
                    cursor.execute("DELETE FROM events_daily WHERE event_day >= %s AND event_day < %s", [start, end])
                    _copy(cursor, "events_daily", _DAILY_COLUMNS, daily)
            reasons.update(refused["raw_refusals_by_reason"].value)
            examples += refused["raw_refused_examples"].value[: 10 - len(examples)]
            for name, value in (("raw_events_written", len(raw)), ("raw_rows_deleted_or_replaced", expired),
                                ("daily_rows", len(daily)), ("daily_values_left_out", left_out),
                                ("raw_rows_refused", refused["raw_rows_refused"])):
                written[name] += value
    with _retry_when_unreachable(context):
        check = check_postgres_events(warehouse, postgres)
    return dg.MaterializeResult(metadata=written | {"dagster/row_count": written["daily_rows"],
                                                    "raw_refusals_by_reason": dg.MetadataValue.json(dict(sorted(reasons.items()))),
                                                    "raw_refused_examples": dg.MetadataValue.json(examples),
                                                    "days": changes.describe([(a, b - timedelta(days=1)) for a, b in windows]),
                                                    "raw_kept_from": keep_from.isoformat()}, check_results=[check])


@dg.asset(**_sink(["postgres", "events_monthly"], "postgres", MONTHLY_FEED, [monthly_events], MONTHLY_CHECK,
                  "Per-month row counts and sums of events_monthly equal the warehouse's."))
def postgres_events_monthly(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, postgres: PostgresResource):
    """events_monthly in Postgres for the months that changed."""
    total = 0
    with _feed(warehouse, MONTHLY_FEED) as windows:
        for start, end in windows:
            rows = _rows(warehouse, f"SELECT {_MONTHLY_COLUMNS} FROM monthly_events WHERE month_start >= ? AND month_start < ?",
                         [start, end])
            with _retry_when_unreachable(context), postgres.connect() as connection:
                apply_migrations(connection)
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.execute("DELETE FROM events_monthly WHERE month_start >= %s AND month_start < %s", [start, end])
                    _copy(cursor, "events_monthly", _MONTHLY_COLUMNS, rows)
            total += len(rows)
    with _retry_when_unreachable(context):
        check = check_postgres_events_monthly(warehouse, postgres)
    return dg.MaterializeResult(metadata={"dagster/row_count": total,
                                          "months": changes.describe([(a, b - timedelta(days=1)) for a, b in windows])},
                                check_results=[check])


def _point(row: tuple, left_out: list[str]) -> tuple[str, tuple]:
    """A daily_events row as a line-protocol point and its field values; values InfluxDB cannot store are left out."""
    day, product, event_type, events, users, bytes_, p50, p95 = row
    fields = {"events": events, "users": users, "bytes": bytes_, "response_ms_p50": p50, "response_ms_p95": p95}
    for name, value in fields.items():
        if not storable(value):
            left_out.append(f"{day} {product} {event_type} {name}: {value!r}")
            fields[name] = None
    return (line(INFLUX_MEASUREMENT, {"product": product, "type": event_type}, fields,
                 datetime.combine(day, datetime.min.time())), tuple(fields.values()))


@dg.asset(**_sink(["influxdb", INFLUX_MEASUREMENT], "influxdb", INFLUX_FEED, [daily_events], INFLUX_CHECK,
                  "Per-day point counts and field sums in InfluxDB equal daily_events' (less values it cannot store)."))
def influxdb_daily_events(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, influxdb: InfluxDBResource):
    """Daily rollups as InfluxDB points (tags product, type; time = the UTC day's midnight), for the days that changed."""
    points, left_out = 0, []
    with _feed(warehouse, INFLUX_FEED) as windows:
        for start, end in windows:
            rows = _rows(warehouse, f"SELECT {_DAILY_COLUMNS} FROM daily_events WHERE event_day >= ? AND event_day < ?",
                         [start, end])
            lines = [_point(row, left_out)[0] for row in rows]
            with _retry_when_unreachable(context):
                influxdb.replace_window(INFLUX_MEASUREMENT, datetime.combine(start, datetime.min.time()),
                                        datetime.combine(end, datetime.min.time()), lines)
            points += len(lines)
    if left_out:
        context.log.warning(f"left out of InfluxDB, not storable there: {len(left_out)} values, e.g. {left_out[:3]}"[:300])
    with _retry_when_unreachable(context):
        check = check_influxdb_events(warehouse, influxdb)
    return dg.MaterializeResult(metadata={"dagster/row_count": points, "values_left_out": len(left_out),
                                          "values_left_out_examples": dg.MetadataValue.json(left_out[:10])},
                                check_results=[check])
