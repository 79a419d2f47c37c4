"""The jobs: one for the whole graph (a day, a range of days, or whatever the sensors ask for),
one that republishes every sink."""

import dagster as dg

TRIGGER_TAG = "metrics/trigger"  # who launched a run: schedule, late-data, catch-up, backfill, demo, dev

# Every asset the definitions hold: the day's landings ([day] partitions), the rollups and plugin
# models that recompute what changed, and every sink. Sensors and the schedule choose subsets.
daily_metrics_job = dg.define_asset_job(
    "daily_metrics_job",
    selection=dg.AssetSelection.all(),
    description="Land one or more UTC days and carry what changed through rollups, plugin models and sinks, in one run.",
)

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.key_prefixes(["dynamodb"], ["postgres"], ["influxdb"]),
    description="Every sink: publish what the rollups changed since each sink last published.",
)
