"""Events: sealed segments land in `raw_events[day]` (UTC event day), then daily and monthly rollups."""

import dagster as dg

from metrics_pipeline.asset_conventions import ROLLUP_AUTOMATION, warehouse_asset, window_dates, window_metadata
from metrics_pipeline.events.landing import land_segments
from metrics_pipeline.events.segment_sources import SegmentRef, SegmentSource
from metrics_pipeline.partitions import MONTHLY, days_of_month, partitions_start_date
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, replace_window, transaction

GROUP = "events"
# Like DAILY, but today is a partition too: events arrive all day and today's partition is re-run.
EVENT_DAILY = dg.DailyPartitionsDefinition(start_date=partitions_start_date(), timezone="UTC", end_offset=1)


class RawEventsConfig(dg.Config):
    """Sealed segments (`DAY/NAME`) to land before the partitions are rebuilt; set by the sensor."""

    segments: list[str] = []


@warehouse_asset(
    group_name=GROUP,
    partitions_def=EVENT_DAILY,
    columns=[
        ("event_day", "date", "UTC day of event_time"),
        ("event_time", "timestamp", "UTC; the collector's time when the event had none"),
        ("product", "varchar", "the product whose credential sent the event"),
        ("event_type", "varchar", "storage | extraction | traffic | health | custom"),
        ("event_id", "varchar", "segment/ordinal, unique"),
    ],
)
def raw_events(
    context: dg.AssetExecutionContext, config: RawEventsConfig, event_segments: SegmentSource, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """The day's events, first copy per idempotency key, after landing any newly sealed segments."""
    start, end = window_dates(context)
    segments = [SegmentRef.parse(ref) for ref in config.segments]
    with warehouse.connect() as con:
        landed = land_segments(con, event_segments, segments)
        with transaction(con):
            rows = replace_window(
                con, "raw_events", "event_day", start, end,
                """
                SELECT event_day, event_time, received_at, product, event_type, user_id, session_id,
                       idempotency_key, event_id, bytes, response_ms, properties
                FROM event_log WHERE event_day >= $start AND event_day < $end AND NOT is_duplicate
                """,
                {"start": start, "end": end},
            )
            duplicates, before_start = con.execute(
                """
                SELECT count(*) FILTER (event_day >= $start AND event_day < $end AND is_duplicate),
                       count(*) FILTER (event_day < $first)
                FROM event_log WHERE (event_day >= $start AND event_day < $end) OR event_day < $first
                """,
                {"start": start, "end": end, "first": partitions_start_date()},
            ).fetchall()[0]
    return dg.MaterializeResult(
        metadata=window_metadata(start, end, rows) | {
            "segments_landed_now": landed.segments,
            "segments_already_landed": landed.already_landed,
            "events_landed_now": landed.events,
            "segments_quarantined_now": len(landed.quarantined),  # damaged: see event_segments_quarantined
            "duplicates_dropped_in_window": int(duplicates),
            "events_before_start_date": int(before_start),  # land in no partition (METRICS_START_DATE)
        }
    )


_DAILY_SQL = """
    SELECT event_day, product, event_type, count(*)::BIGINT, count(DISTINCT user_id)::BIGINT,
           CASE WHEN event_type IN ('storage', 'traffic') THEN coalesce(sum(bytes), 0)::BIGINT END,
           CASE WHEN event_type = 'health' THEN quantile_cont(response_ms, 0.5) END,
           CASE WHEN event_type = 'health' THEN quantile_cont(response_ms, 0.95) END
    FROM raw_events WHERE event_day >= $start AND event_day < $end
    GROUP BY event_day, product, event_type
"""


@warehouse_asset(
    group_name=GROUP,
    partitions_def=EVENT_DAILY,
    deps=[raw_events],
    columns=[
        ("event_day", "date", "UTC day"),
        ("product", "varchar", "product"),
        ("event_type", "varchar", "event type"),
        ("events", "bigint", "events that day"),
        ("distinct_users", "bigint", "distinct non-null user_id"),
        ("bytes", "bigint", "sum of bytes (storage, traffic)"),
        ("response_ms_p50", "double", "median response time (health)"),
        ("response_ms_p95", "double", "95th percentile response time (health)"),
    ],
)
def daily_events(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Events, distinct users, bytes and health percentiles per product, type and day."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(con, "daily_events", "event_day", start, end, _DAILY_SQL, {"start": start, "end": end})
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows))


@warehouse_asset(
    group_name=GROUP,
    partitions_def=MONTHLY,
    deps=[days_of_month(raw_events)],
    automation_condition=ROLLUP_AUTOMATION,
    columns=[
        ("month_start", "date", "first day of the UTC month"),
        ("product", "varchar", "product"),
        ("event_type", "varchar", "event type"),
        ("events", "bigint", "events that month"),
        ("distinct_users", "bigint", "distinct non-null user_id that month (not a sum of days)"),
        ("bytes", "bigint", "sum of bytes (storage, traffic)"),
    ],
)
def monthly_events(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Per product and type for the month, from the month's raw events (distinct users do not add up)."""
    start, end = window_dates(context)
    with warehouse.connect() as con, transaction(con):
        rows = replace_window(
            con, "monthly_events", "month_start", start, end,
            """
            SELECT CAST(date_trunc('month', event_day) AS DATE), product, event_type, count(*)::BIGINT,
                   count(DISTINCT user_id)::BIGINT,
                   CASE WHEN event_type IN ('storage', 'traffic') THEN coalesce(sum(bytes), 0)::BIGINT END
            FROM raw_events WHERE event_day >= $start AND event_day < $end
            GROUP BY 1, product, event_type
            """,
            {"start": start, "end": end},
        )
    return dg.MaterializeResult(metadata=window_metadata(start, end, rows))
