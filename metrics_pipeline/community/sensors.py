"""Re-runs `community_daily` for the days a landing changed outside its own window (a late close,
a first response to an old item, a transfer); monthly and totals follow by automation."""

from pathlib import Path

import dagster as dg

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.automation.late_data import contiguous_ranges
from metrics_pipeline.community.assets import community_daily
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, WarehouseBusyError


def dirty_day_requests(warehouse: DuckDBWarehouse) -> list[dg.RunRequest]:
    """One range run per contiguous block of dirty days; the newest mark keeps run keys unique."""
    if not Path(warehouse.path).exists():
        return []
    with warehouse.connect(read_only=True, lock_wait_seconds=5) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'community_dirty_days'").fetchall()[0][0]:
            return []
        rows = con.execute("SELECT day, max(marked_at) FROM community_dirty_days GROUP BY day").fetchall()
    marked = dict(rows)
    requests = []
    for first, last in contiguous_ranges(set(marked)):
        newest = max(marked[d] for d in marked if first <= d <= last)
        requests.append(
            dg.RunRequest(
                run_key=f"community-dirty-{first}-{last}-{newest.isoformat()}",
                asset_selection=[community_daily.key],
                tags={PARTITION_RANGE_START_TAG: first.isoformat(), PARTITION_RANGE_END_TAG: last.isoformat(),
                      "metrics/reason": "community-dirty-days"},
            )
        )
    return requests


@dg.sensor(
    name="community_dirty_days_sensor",
    target=dg.AssetSelection.assets(community_daily),
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes the community days whose metrics a landing changed besides its own window.",
)
def community_dirty_days_sensor(warehouse: DuckDBWarehouse):
    try:
        requests = dirty_day_requests(warehouse)
    except WarehouseBusyError:
        return dg.SkipReason("warehouse busy with a run; will look again next tick")
    return dg.SensorResult(run_requests=requests) if requests else dg.SkipReason("no dirty community days")
