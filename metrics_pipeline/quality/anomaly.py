"""Warning check on each day's installs: a zero day, a drop or spike against the trailing median
(site-wide and for the largest plugins), and plugins that drop to zero. Never blocking."""


from datetime import date, timedelta

import dagster as dg
import duckdb

from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.quality.evaluations import Outcome, partition_evaluations, partitioned_check
from metrics_pipeline.quality.settings import QualitySettings
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse

# Per plugin and day (missing days count as zero; '' is the whole site): the day's installs,
# the median and count of the `trailing` days before it, and the plugin's rank by their sum.
# `{trailing}` is an int from QualitySettings, formatted because window frames take constants.
SERIES_SQL = """
WITH days AS (
    SELECT CAST(d AS DATE) AS day FROM range($lo::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY) t(d)
),
counts AS (
    SELECT download_day AS day, plugin_name, install_count AS n FROM daily_installs
    WHERE download_day >= $lo AND download_day < $end
    UNION ALL
    SELECT download_day, '', sum(install_count) FROM daily_installs
    WHERE download_day >= $lo AND download_day < $end GROUP BY download_day
),
grid AS (
    SELECT days.day, p.plugin_name, coalesce(c.n, 0) AS n
    FROM days CROSS JOIN (SELECT DISTINCT plugin_name FROM counts UNION SELECT '') p
    LEFT JOIN counts c ON c.day = days.day AND c.plugin_name = p.plugin_name
),
series AS (
    SELECT day, plugin_name, n,
           median(n) OVER w AS trailing_median,
           count(*) OVER w AS history_days,
           sum(n) OVER w AS trailing_sum
    FROM grid
    WINDOW w AS (PARTITION BY plugin_name ORDER BY day ROWS BETWEEN {trailing} PRECEDING AND 1 PRECEDING)
)
, ranked AS (
    SELECT day, plugin_name, n, trailing_median, history_days,
           rank() OVER (PARTITION BY day ORDER BY trailing_sum DESC NULLS LAST) - 1 AS size_rank
    FROM series WHERE day >= $start
)
-- Only the site's rows and the plugin rows that can be findings (see `_finding`) reach Python.
SELECT * FROM ranked
WHERE plugin_name = '' OR (trailing_median > 0 AND history_days >= $min_history
      AND ((n = 0 AND trailing_median >= $zero_min_median) OR (n <> 0 AND size_rank <= $largest_plugins)))
ORDER BY day, plugin_name
"""


def _finding(name: str, n: int, median, history: int, settings: QualitySettings) -> str | None:
    if name == "" and n == 0:
        return "site: zero installs"
    if median is None or history < settings.min_history_days or median <= 0:
        return None
    if n == 0 and name:  # below a steady level a day without installs is ordinary
        return f"{name}: dropped to zero (trailing median {median:g})" if median >= settings.zero_min_median else None
    ratio = n / median
    if ratio < settings.low_ratio:
        return f"{name or 'site'}: {n} is {ratio:.2f}x the trailing median {median:g} (below {settings.low_ratio:g}x)"
    if ratio > settings.high_ratio:
        return f"{name or 'site'}: {n} is {ratio:.2f}x the trailing median {median:g} (above {settings.high_ratio:g}x)"
    return None


def anomaly_outcomes(keys: list[str], settings: QualitySettings, con: duckdb.DuckDBPyConnection) -> dict[str, Outcome]:
    days = sorted(date.fromisoformat(k) for k in keys)
    start, end = days[0], days[-1] + timedelta(days=1)
    lo = max(start - timedelta(days=settings.trailing_days), FIRST_DAY)
    rows = con.execute(
        SERIES_SQL.format(trailing=int(settings.trailing_days)),
        {"lo": lo, "start": start, "end": end, "min_history": settings.min_history_days,
         "zero_min_median": settings.zero_min_median, "largest_plugins": settings.largest_plugins},
    ).fetchall()
    by_day: dict[date, list[tuple]] = {}
    for row in rows:
        by_day.setdefault(row[0], []).append(row[1:])
    outcomes = {}
    for key in keys:
        found, site = [], (0, None, 0)
        for name, n, median, history, rank in by_day.get(date.fromisoformat(key), ()):
            if name == "":
                site = (n, median, history)
                finding = _finding(name, n, median, history, settings)
            elif n == 0:  # any plugin that drops to zero from a steady level
                finding = _finding(name, n, median, history, settings)
            elif rank <= settings.largest_plugins:  # rank 0 is the site row
                finding = _finding(name, n, median, history, settings)
            else:
                finding = None
            if finding:
                found.append(finding)
        n, median, history = site
        outcomes[key] = Outcome(
            not found,
            {
                "site_installs": int(n),
                "site_trailing_median": float(median) if median is not None else None,
                "history_days": int(history or 0),
                "anomalies": len(found),
                "examples": "; ".join(found[:5]),
            },
        )
    return outcomes


@partitioned_check(asset=dg.AssetKey("daily_installs"), pool=WAREHOUSE_POOL)
def daily_installs_anomalies(
    context: dg.AssetCheckExecutionContext, quality_settings: QualitySettings, warehouse: DuckDBWarehouse
):
    """WARN: a zero day, or installs below/above the trailing median's thresholds (site-wide and
    for the largest plugins), or a plugin dropping to zero. What to do: check the source for that
    day; re-run it if data arrives late."""
    with warehouse.connect() as con:
        keys = _days_of_run(context, con)
        outcomes = anomaly_outcomes(keys, quality_settings, con) if keys else {}
    yield from partition_evaluations(context, outcomes, dg.AssetCheckSeverity.WARN)


def _days_of_run(context: dg.AssetCheckExecutionContext, con: duckdb.DuckDBPyConnection) -> list[str]:
    """The run's days; a run without days (a catch-up of the rollups) looks at the newest landed day."""
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    newest = con.execute("SELECT max(download_day) FROM daily_installs").fetchall()[0][0]
    return [] if newest is None else [newest.isoformat()]
