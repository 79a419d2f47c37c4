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
    # Imported only when enabled: nothing of the domain loads in a default deployment. The daily
    # landing is part of the main job's day; the rollups and the sink follow what it changed.
    from metrics_pipeline.community.assets import community_daily, community_github, community_monthly, community_total
    from metrics_pipeline.community.postgres_sink import postgres_community_activity

    return dg.Definitions(
        assets=[community_github, community_daily, community_monthly, community_total, postgres_community_activity],
    )
