"""The community domain (issues, PRs, responsiveness from GitHub): inert unless
METRICS_COMMUNITY_SOURCE=github, so deployments without a GitHub token load nothing of it."""

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.resources.definitions import setting

COMMUNITY_SOURCE_SETTING = "METRICS_COMMUNITY_SOURCE"
KINDS = ("off", "github")


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    kind = setting(env, COMMUNITY_SOURCE_SETTING, "off")
    if kind not in KINDS:
        raise ValueError(f"{COMMUNITY_SOURCE_SETTING}={kind!r} is not one of {sorted(KINDS)}")
    if kind == "off":
        return dg.Definitions()
    # Imported only when enabled: nothing of the domain loads in a default deployment.
    from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
    from metrics_pipeline.community.postgres_sink import postgres_community_activity
    from metrics_pipeline.community.sensors import community_dirty_days_sensor

    job = dg.define_asset_job(
        "community_daily_job",
        selection=dg.AssetSelection.assets(community_github, community_daily),
        description="Fetch one UTC day's window of GitHub activity and compute its daily metrics; "
        "monthly, totals and Postgres follow by automation.",
    )
    # 13:15 UTC: after the 13:00 daily metrics run, which shares the GitHub rate limit.
    schedule = dg.build_schedule_from_partitioned_job(
        job, name="community_daily_schedule", hour_of_day=13, minute_of_hour=15,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(
        assets=[community_github, community_daily, community_monthly, community_total, postgres_community_activity],
        jobs=[job],
        schedules=[schedule],
        sensors=[community_dirty_days_sensor],
    )
