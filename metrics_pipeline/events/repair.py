"""Reconciliation of the events sinks: Postgres `events_raw` (its 90 days), `events_daily`,
`events_monthly` and InfluxDB `events_daily` made equal to the warehouse, each check run again."""

from collections import Counter
from datetime import date, datetime, timedelta

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.events.influxdb import InfluxDBResource
from metrics_pipeline.events.sinks import (
    _DAILY_COLUMNS, _MONTHLY_COLUMNS, _RAW_COLUMNS, DAILY_DESIRED, INFLUX_MEASUREMENT, MONTHLY_DESIRED, RAW_DESIRED,
    _keep_from, _point, _refused, check_influxdb_events, check_postgres_events, check_postgres_events_monthly,
)
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.read_back import influx_points
from metrics_pipeline.sinks.reconcile import Repaired, sync_table

_RAW_NAMES = tuple(c.strip() for c in _RAW_COLUMNS.split(","))
_DAILY_NAMES = tuple(c.strip() for c in _DAILY_COLUMNS.split(","))
_MONTHLY_NAMES = tuple(c.strip() for c in _MONTHLY_COLUMNS.split(","))


def reconcile_postgres_events(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> list[Repaired]:
    """Make events_raw (day by day over its 90 days; older rows leave), events_daily and events_monthly
    equal the warehouse; returns what was repaired with each sink's read-back check run again."""
    keep_from, raw = _keep_from(), Counter()
    with warehouse.connect() as con, _refused(con, keep_from), postgres.connect() as connection:
        apply_migrations(connection)
        with connection.transaction(), connection.cursor() as cursor:
            days = {d for (d,) in con.execute("SELECT DISTINCT event_day FROM raw_events WHERE event_day >= ?", [keep_from])
                    .fetchall()} | {d for (d,) in cursor.execute(
                        "SELECT DISTINCT event_day FROM events_raw WHERE event_day >= %s", [keep_from]).fetchall()}
            for day in sorted(days):  # a day at a time: memory stays one day's events
                rows = con.sql(f"SELECT * FROM ({RAW_DESIRED}) AS d WHERE event_day = $day",
                               params={"keep_from": keep_from, "day": day}).to_arrow_table()
                raw.update(sync_table(cursor, "events_raw", _RAW_NAMES, ("event_id",), rows, "event_day = %s", [day]))
            raw["deleted_extra"] += cursor.execute("DELETE FROM events_raw WHERE event_day < %s", [keep_from]).rowcount
            daily = sync_table(cursor, "events_daily", _DAILY_NAMES, _DAILY_NAMES[:3], con.sql(DAILY_DESIRED).to_arrow_table())
        with connection.transaction(), connection.cursor() as cursor:
            monthly = sync_table(cursor, "events_monthly", _MONTHLY_NAMES, _MONTHLY_NAMES[:3],
                                 con.sql(MONTHLY_DESIRED).to_arrow_table())
    raw_repairs = {"desired_rows": 0, "repaired_missing": 0, "repaired_changed": 0, "deleted_extra": 0} | dict(raw)
    return [(dg.AssetKey(["postgres", "events"]), {"events_raw": raw_repairs, "events_daily": daily,
                                                   "raw_kept_from": keep_from.isoformat()},
             check_postgres_events(warehouse, postgres)),
            (dg.AssetKey(["postgres", "events_monthly"]), {"events_monthly": monthly},
             check_postgres_events_monthly(warehouse, postgres))]


_POINT_COLUMNS = {"time", "product", "type", "events", "users", "bytes", "response_ms_p50", "response_ms_p95"}


def reconcile_influxdb_events(warehouse: DuckDBWarehouse, influxdb: InfluxDBResource) -> list[Repaired]:
    """Rewrite every day whose points differ from daily_events (a missing, changed or extra point, one off
    midnight or with a tag or field of its own) and delete the days daily_events does not have."""
    with warehouse.connect() as con:
        rows = con.execute(f"SELECT {_DAILY_COLUMNS} FROM daily_events ORDER BY ALL").fetchall()
    lines, wanted, left_out = {}, {}, []
    for row in rows:
        point, values = _point(row, left_out)
        lines.setdefault(row[0], []).append(point)
        wanted[(row[0].isoformat(), row[1], row[2])] = values
    found: dict[tuple, list] = {}
    points = influx_points(influxdb, INFLUX_MEASUREMENT)
    for p in points:
        own = p["time"][10:] == "T00:00:00Z" and not any(v is not None for k, v in p.items() if k not in _POINT_COLUMNS)
        values = tuple(p.get(k) for k in ("events", "users", "bytes", "response_ms_p50", "response_ms_p95"))
        found.setdefault((p["time"][:10], p.get("product"), p.get("type")), []).append((values, own))
    missing = [key for key in wanted if key not in found]
    changed = [key for key in wanted if key in found and found[key] != [(wanted[key], True)]]
    extra = [key for key in found if key not in wanted]
    days = sorted({date.fromisoformat(key[0]) for key in missing + changed + extra})
    for day in days:
        influxdb.replace_window(INFLUX_MEASUREMENT, datetime.combine(day, datetime.min.time()),
                                datetime.combine(day + timedelta(days=1), datetime.min.time()), lines.get(day, []))
    repairs = {"measurement": INFLUX_MEASUREMENT, "points_scanned": len(points), "desired_points": len(wanted),
               "repaired_missing": len(missing), "repaired_changed": len(changed),
               "deleted_extra": sum(len(found[key]) for key in extra), "days_rewritten": changes.describe(changes.day_ranges(days))}
    return [(dg.AssetKey(["influxdb", INFLUX_MEASUREMENT]), repairs, check_influxdb_events(warehouse, influxdb))]
