"""Installs: raw landing per UTC day, then daily, monthly and total rollups, all in SQL.

`raw_installs[day]` is the only partitioned step: each day shows its own figures and check outcome.
The rollups recompute only the periods whose inputs changed (rollups.py), so one run takes a day
from the source to the sinks and its cost does not grow with history.
"""

from datetime import date

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import (
    DAILY_FRESHNESS,
    landing_metadata,
    opening_metadata,
    warehouse_asset,
    window_dates,
    window_metadata,
)
from metrics_pipeline.changes import WHOLE
from metrics_pipeline.installs.sources import InstallsSource
from metrics_pipeline.landing.fingerprints import record_fingerprints
from metrics_pipeline.landing.guards import drop_allowed, source_files_spec
from metrics_pipeline.landing.window import land_window, settle
from metrics_pipeline.partitions import DAILY, FIRST_DAY
from metrics_pipeline.quality.raw_checks import INSTALLS_MATCH_CHECK, install_outcomes
from metrics_pipeline.registry import PluginRegistry, guard_registry_shrink, previous_registry_count
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, transaction
from metrics_pipeline.rollups import Rollup, blocking_check, rollup_result

GROUP = "installs"
FINGERPRINT_SOURCE = "installs"

LAND_SQL = """
SELECT download_day, plugin_name, installer_name, download_count FROM incoming
WHERE download_day >= $start AND download_day < $end AND NOT list_contains($keep, download_day)
"""


@warehouse_asset(
    group_name=GROUP,
    partitions_def=DAILY,
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[
        blocking_check(INSTALLS_MATCH_CHECK, "raw_installs",
                       "Each landed day holds exactly the source's qualifying downloads, with no nulls, untracked "
                       "plugins, non-counted installers or duplicate keys. What to do: read failing_days; fix the "
                       "source or registry, then re-run the days (nothing of a failing run landed)."),
        source_files_spec("raw_installs"),
    ],
    columns=[
        ("download_day", "date", "UTC day of the download"),
        ("plugin_name", "varchar", "PEP 503-normalized registry plugin"),
        ("installer_name", "varchar", "installer counted (default: pip)"),
        ("download_count", "bigint", "qualifying download rows"),
    ],
)
def raw_installs(
    context: dg.AssetExecutionContext,
    installs_source: InstallsSource,
    registry: PluginRegistry,
    warehouse: DuckDBWarehouse,
):
    """Qualifying downloads of registry plugins for the partition's UTC days, counted in the source."""
    start, end = window_dates(context)
    plugins = registry.load()
    guard_registry_shrink(previous_registry_count(context), plugins, drop_allowed(context), registry.max_drop_fraction)
    batch = installs_source.install_counts(start, end, plugins.plugin_names)
    keep = batch.files.incomplete_days(start, end) if batch.files else set()
    with warehouse.connect() as con:
        con.register("incoming", batch.rows)
        landed = land_window(
            con, source=FINGERPRINT_SOURCE, table="raw_installs", column="download_day", start=start, end=end,
            insert_sql=LAND_SQL, params={"start": start, "end": end}, batch=batch, keep=keep,
            resource=installs_source, drop_allowed=drop_allowed(context),
            check=lambda c: install_outcomes(c, start, end, keep, list(plugins.plugin_names), installs_source.counted),
        )
        con.unregister("incoming")
    match, files = yield from settle(context, INSTALLS_MATCH_CHECK, landed, batch, keep, start, end,
                                     lambda o: {"qualifying_downloads": o.metadata["landed_downloads"]},
                                     {"qualifying_downloads": 0})
    yield dg.MaterializeResult(
        metadata=window_metadata(start, end, landed.rows)
        | landing_metadata(batch)
        | {
            "qualifying_downloads": sum(o.metadata["landed_downloads"] for o in landed.outcomes.values()),
            "days_changed": changes.describe(changes.day_ranges(landed.changed)),
            "registry_plugins": len(plugins.plugins),
            **plugins.quarantine_metadata(),
        },
    )
    yield match
    yield files


DAILY_ROLLUP = Rollup(
    table="daily_installs",
    inputs=("raw_installs",),
    period_column="download_day",
    select_sql="""
        SELECT download_day, plugin_name, sum(download_count)::BIGINT FROM raw_installs r
        WHERE EXISTS (SELECT 1 FROM scope s WHERE r.download_day BETWEEN s.first_day AND s.last_day)
        GROUP BY download_day, plugin_name HAVING sum(download_count) > 0
    """,
    check_sql="""
        SELECT coalesce(d.download_day, r.download_day) || ' ' || coalesce(d.plugin_name, r.plugin_name), d.install_count, r.n
        FROM (SELECT * FROM daily_installs x WHERE EXISTS (
                SELECT 1 FROM scope s WHERE x.download_day BETWEEN s.first_day AND s.last_day)) d
        FULL JOIN (
            SELECT download_day, plugin_name, sum(download_count) AS n FROM raw_installs x
            WHERE EXISTS (SELECT 1 FROM scope s WHERE x.download_day BETWEEN s.first_day AND s.last_day)
            GROUP BY ALL HAVING sum(download_count) > 0
        ) r USING (download_day, plugin_name)
        WHERE d.install_count IS DISTINCT FROM r.n OR d.install_count <= 0
    """,
)

MONTHLY_ROLLUP = Rollup(
    table="monthly_installs",
    inputs=("daily_installs",),
    period_column="month_start",
    monthly=True,
    select_sql="""
        SELECT CAST(date_trunc('month', download_day) AS DATE), plugin_name, sum(install_count)::BIGINT
        FROM daily_installs d
        WHERE EXISTS (SELECT 1 FROM scope s WHERE d.download_day BETWEEN s.first_day AND s.last_day)
        GROUP BY ALL
    """,
    check_sql="""
        SELECT coalesce(m.month_start, d.month_start) || ' ' || coalesce(m.plugin_name, d.plugin_name), m.install_count, d.n
        FROM (SELECT * FROM monthly_installs x WHERE EXISTS (
                SELECT 1 FROM scope s WHERE x.month_start BETWEEN s.first_day AND s.last_day)) m
        FULL JOIN (
            SELECT CAST(date_trunc('month', download_day) AS DATE) AS month_start, plugin_name, sum(install_count) AS n
            FROM daily_installs x
            WHERE EXISTS (SELECT 1 FROM scope s WHERE x.download_day BETWEEN s.first_day AND s.last_day) GROUP BY ALL
        ) d USING (month_start, plugin_name)
        WHERE m.install_count IS DISTINCT FROM d.n OR m.install_count <= 0
    """,
)

TOTAL_ROLLUP = Rollup(
    table="total_installs",
    inputs=("monthly_installs", "opening_installs"),
    select_sql="SELECT plugin_name, sum(install_count)::BIGINT FROM installs_by_month GROUP BY plugin_name",
    check_sql="""
        SELECT coalesce(t.plugin_name, m.plugin_name), t.install_count, m.n
        FROM total_installs t
        FULL JOIN (SELECT plugin_name, sum(install_count) AS n FROM installs_by_month GROUP BY ALL) m USING (plugin_name)
        WHERE t.install_count IS DISTINCT FROM m.n OR t.install_count <= 0
    """,
)

DAILY_CHECK = "daily_installs_match_raw"
MONTHLY_CHECK = "monthly_installs_match_days"
TOTAL_CHECK = "total_installs_match_months"


@warehouse_asset(
    group_name=GROUP,
    deps=[raw_installs],
    consumes=DAILY_ROLLUP.inputs,
    check_specs=[blocking_check(DAILY_CHECK, "daily_installs",
                                "Every DAY value equals the day's landed downloads of that plugin and is positive. "
                                "What to do: re-run the day; if it fails again, report a bug.")],
    columns=[
        ("download_day", "date", "UTC day"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "installs that day (> 0)"),
    ],
)
def daily_installs(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """DAY installs per plugin for the days whose landing changed: the unit larger periods sum."""
    return rollup_result(warehouse, DAILY_ROLLUP, DAILY_CHECK, "DAY values differ from the landed downloads.")


@warehouse_asset(
    group_name=GROUP,
    deps=[daily_installs],
    consumes=MONTHLY_ROLLUP.inputs,
    check_specs=[blocking_check(MONTHLY_CHECK, "monthly_installs",
                                "Every MONTH value equals the sum of that plugin's DAY values in the month. "
                                "What to do: re-run the month's days; if it fails again, report a bug.")],
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "installs that month (> 0)"),
    ],
)
def monthly_installs(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """MONTH installs per plugin for the months whose days changed, summed from the daily rollup."""
    return rollup_result(warehouse, MONTHLY_ROLLUP, MONTHLY_CHECK, "MONTH values differ from their days.")


@warehouse_asset(
    group_name=GROUP,
    columns=[
        ("month_start", "date", "first day of the UTC calendar month"),
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "installs that month on days before the first partition (> 0)"),
    ],
)
def opening_installs(
    installs_source: InstallsSource, registry: PluginRegistry, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Installs before the first daily partition, per month: history counts toward MONTH and TOTAL."""
    plugins = registry.load()
    batch = installs_source.install_counts_before(FIRST_DAY, plugins.plugin_names)
    with warehouse.connect() as con, transaction(con):
        con.register("incoming", batch.rows)
        con.execute("DELETE FROM opening_installs")
        con.execute("INSERT INTO opening_installs SELECT month_start, plugin_name, install_count FROM incoming")
        con.unregister("incoming")
        record_fingerprints(con, FINGERPRINT_SOURCE, date.min, FIRST_DAY, batch.fingerprints)
        changes.record(con, "opening_installs", [(WHOLE[0], FIRST_DAY)])
    installs = int(sum(batch.rows.column("install_count").to_pylist()))
    return dg.MaterializeResult(
        metadata=opening_metadata(batch, FIRST_DAY) | {"qualifying_installs": installs, "months": batch.rows.num_rows}
    )


def _installs(con) -> dict:
    return {"installs": int(con.execute("SELECT coalesce(sum(install_count), 0) FROM total_installs").fetchall()[0][0])}


@warehouse_asset(
    group_name=GROUP,
    deps=[monthly_installs, opening_installs],
    consumes=TOTAL_ROLLUP.inputs,
    check_specs=[blocking_check(TOTAL_CHECK, "total_installs",
                                "Every TOTAL equals the sum of the plugin's months, the opening balance included. "
                                "What to do: re-run; if it fails again, report a bug.")],
    columns=[
        ("plugin_name", "varchar", "normalized plugin"),
        ("install_count", "bigint", "all-time installs (> 0)"),
    ],
)
def total_installs(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """TOTAL installs per plugin: every month, the opening balance's included."""
    return rollup_result(warehouse, TOTAL_ROLLUP, TOTAL_CHECK, "TOTAL values differ from the months.", _installs)
