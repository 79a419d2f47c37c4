"""Events: sealed segments land in the event log as they seal; once a UTC day has ended its events
become `raw_events`, then daily and monthly rollups (the periods that changed, see rollups.py).

No sink or reader ever holds a day that has not ended: today's events wait in the event log.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import warehouse_asset
from metrics_pipeline.events.landing import land_segments
from metrics_pipeline.events.segment_sources import SegmentRef, SegmentSource
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction
from metrics_pipeline.rollups import Rollup, blocking_check, refresh, rollup_result

GROUP = "events"
LOOK_BACK_DAYS = 2  # a run without a segment list lands what sealed in the last days (the sensor has the rest)


class RawEventsConfig(dg.Config):
    """Sealed segments (`DAY/NAME`) to land first; set by the sensor. Empty: the last days' unlanded ones."""

    segments: list[str] = []


def _today() -> date:
    return datetime.now(UTC).date()


@warehouse_asset(
    group_name=GROUP,
    columns=[
        ("event_day", "date", "UTC day of event_time (days that have ended)"),
        ("event_time", "timestamp", "UTC; the collector's time when the event had none"),
        ("product", "varchar", "the product whose credential sent the event"),
        ("event_type", "varchar", "storage | extraction | traffic | health | custom"),
        ("event_id", "varchar", "segment/ordinal, unique"),
    ],
)
def raw_events(config: RawEventsConfig, event_segments: SegmentSource, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Lands newly sealed segments, then rebuilds every ended day they touched: first copy per
    idempotency key, days before METRICS_START_DATE counted, never landed in a day."""
    if config.segments:
        segments = [SegmentRef.parse(ref) for ref in config.segments]
    else:
        segments = event_segments.list_sealed(_today() - timedelta(days=LOOK_BACK_DAYS), _today())
    today = _today()
    with warehouse.connect() as con:
        landed = land_segments(con, event_segments, segments)
        with transaction(con):
            ready = [row[0] for row in con.execute(
                "SELECT day FROM event_days_pending WHERE day < ? ORDER BY day", [today]).fetchall()]
            ranges = changes.day_ranges(d for d in ready if d >= FIRST_DAY)
            with changes.scope(con, ranges):
                con.execute("DELETE FROM raw_events r WHERE EXISTS "
                            "(SELECT 1 FROM scope s WHERE r.event_day BETWEEN s.first_day AND s.last_day)")
                con.execute(
                    """
                    INSERT INTO raw_events
                    SELECT event_day, event_time, received_at, product, event_type, user_id, session_id,
                           idempotency_key, event_id, bytes, response_ms, properties
                    FROM event_log l
                    WHERE NOT is_duplicate AND EXISTS (SELECT 1 FROM scope s WHERE l.event_day BETWEEN s.first_day AND s.last_day)
                    """
                )
                rows, duplicates = con.execute(
                    """
                    SELECT count(*) FILTER (NOT is_duplicate), count(*) FILTER (is_duplicate) FROM event_log l
                    WHERE EXISTS (SELECT 1 FROM scope s WHERE l.event_day BETWEEN s.first_day AND s.last_day)
                    """
                ).fetchall()[0]
            before_start = sum(1 for d in ready if d < FIRST_DAY)
            con.execute("DELETE FROM event_days_pending WHERE day < ?", [today])
            changes.record(con, "raw_events", ranges)
            waiting = con.execute("SELECT count(*) FROM event_days_pending").fetchall()[0][0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "days_rebuilt": changes.describe(ranges),
            "days_waiting_to_end": waiting,
            "segments_landed_now": landed.segments,
            "segments_already_landed": landed.already_landed,
            "events_landed_now": landed.events,
            "segments_quarantined_now": len(landed.quarantined),  # damaged: see event_segments_quarantined
            "records_quarantined_now": dg.MetadataValue.json(dict(landed.records_quarantined)),
            "duplicates_dropped_in_days": int(duplicates),
            "days_before_start_date": before_start,  # their events land in no day (METRICS_START_DATE)
        }
    )


DAILY_ROLLUP = Rollup(
    table="daily_events",
    inputs=("raw_events",),
    period_column="event_day",
    select_sql="""
        SELECT event_day, product, event_type, count(*)::BIGINT, count(DISTINCT user_id)::BIGINT,
               CASE WHEN event_type IN ('storage', 'traffic') THEN coalesce(sum(bytes), 0)::HUGEINT END,
               CASE WHEN event_type = 'health' THEN quantile_cont(response_ms, 0.5) END,
               CASE WHEN event_type = 'health' THEN quantile_cont(response_ms, 0.95) END
        FROM raw_events r WHERE EXISTS (SELECT 1 FROM scope s WHERE r.event_day BETWEEN s.first_day AND s.last_day)
        GROUP BY event_day, product, event_type
    """,
    check_sql="""
        SELECT d.event_day || ' ' || d.product || ' ' || d.event_type, d.events, r.n
        FROM (SELECT * FROM daily_events x WHERE EXISTS (
                SELECT 1 FROM scope s WHERE x.event_day BETWEEN s.first_day AND s.last_day)) d
        FULL JOIN (SELECT event_day, product, event_type, count(*) AS n FROM raw_events x
                   WHERE EXISTS (SELECT 1 FROM scope s WHERE x.event_day BETWEEN s.first_day AND s.last_day)
                   GROUP BY ALL) r USING (event_day, product, event_type)
        WHERE d.events IS DISTINCT FROM r.n
    """,
)
MONTHLY_ROLLUP = Rollup(
    table="monthly_events",
    inputs=("raw_events",),
    period_column="month_start",
    monthly=True,
    select_sql="""
        SELECT CAST(date_trunc('month', event_day) AS DATE), product, event_type, count(*)::BIGINT,
               count(DISTINCT user_id)::BIGINT,
               CASE WHEN event_type IN ('storage', 'traffic') THEN coalesce(sum(bytes), 0)::HUGEINT END
        FROM raw_events r WHERE EXISTS (SELECT 1 FROM scope s WHERE r.event_day BETWEEN s.first_day AND s.last_day)
        GROUP BY 1, product, event_type
    """,
)

DAILY_CHECK = "daily_events_match_raw"


@warehouse_asset(
    group_name=GROUP,
    deps=[raw_events],
    consumes=DAILY_ROLLUP.inputs,
    check_specs=[blocking_check(DAILY_CHECK, "daily_events",
                                "Every day's event count per product and type equals the raw events'. "
                                "What to do: re-run; if it fails again, report a bug.")],
    columns=[
        ("event_day", "date", "UTC day"),
        ("product", "varchar", "product"),
        ("event_type", "varchar", "event type"),
        ("events", "bigint", "events that day"),
        ("distinct_users", "bigint", "distinct non-null user_id"),
        ("bytes", "hugeint", "sum of bytes (storage, traffic); may pass int64"),
        ("response_ms_p50", "double", "median response time (health)"),
        ("response_ms_p95", "double", "95th percentile response time (health)"),
    ],
)
def daily_events(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Events, distinct users, bytes and health percentiles per product, type and day."""
    return rollup_result(warehouse, DAILY_ROLLUP, DAILY_CHECK, "Daily event counts differ from the raw events.")


@warehouse_asset(
    group_name=GROUP,
    deps=[raw_events],
    consumes=MONTHLY_ROLLUP.inputs,
    columns=[
        ("month_start", "date", "first day of the UTC month"),
        ("product", "varchar", "product"),
        ("event_type", "varchar", "event type"),
        ("events", "bigint", "events that month"),
        ("distinct_users", "bigint", "distinct non-null user_id that month (not a sum of days)"),
        ("bytes", "hugeint", "sum of bytes (storage, traffic)"),
    ],
)
def monthly_events(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Per product and type for the months whose days changed, from raw events (distinct users do not add up)."""
    with warehouse.connect() as con:
        done = refresh(con, MONTHLY_ROLLUP)
    return dg.MaterializeResult(metadata=done.metadata())
