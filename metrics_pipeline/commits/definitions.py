"""The commits domain: its assets and the commits source METRICS_COMMITS_SOURCE selects."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg

from metrics_pipeline.commits import assets
from metrics_pipeline.commits.sources import COMMITS_DIR_SETTING, COMMITS_TABLE_SETTING, CommitsSource, FileCommitsSource
from metrics_pipeline.landing.guards import MAX_DROP_SETTING
from metrics_pipeline.resources.definitions import COMMITS_SOURCE_SETTING, choose, fraction, setting



def _files(env: Mapping[str, str]) -> CommitsSource:
    return FileCommitsSource(directory=dg.EnvVar(COMMITS_DIR_SETTING), warehouse_path=dg.EnvVar("METRICS_WAREHOUSE_PATH"))


def _snowflake(env: Mapping[str, str]) -> CommitsSource:
    from metrics_pipeline.commits.snowflake_source import SnowflakeCommitsSource
    from metrics_pipeline.resources.snowflake import snowflake_connection_from

    table = {"commits_table": dg.EnvVar(COMMITS_TABLE_SETTING)} if env.get(COMMITS_TABLE_SETTING) else {}
    return SnowflakeCommitsSource(snowflake=snowflake_connection_from(env), **table)


def _github(env: Mapping[str, str]) -> CommitsSource:
    """Reads what the `github_commits` landing asset (resource key `github`) appended to the warehouse."""
    from metrics_pipeline.commits.github_source import GitHubCommitsSource

    return GitHubCommitsSource(warehouse_path=dg.EnvVar("METRICS_WAREHOUSE_PATH"))


SOURCES: dict[str, Callable[[Mapping[str, str]], CommitsSource]] = {
    "files": _files,
    "snowflake": _snowflake,
    "github": _github,
}


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    commits = dg.load_assets_from_modules([assets])
    if setting(env, COMMITS_SOURCE_SETTING, "files") == "github":
        from metrics_pipeline.commits.github_assets import github_commits

        # raw_commits reads what the landing asset appended, so it runs after it in the same job.
        commits = [
            *dg.map_asset_specs(
                lambda spec: spec.merge_attributes(deps=[github_commits.key]) if spec.key == assets.raw_commits.key else spec,
                commits,
            ),
            github_commits,
        ]
    source = choose(SOURCES, COMMITS_SOURCE_SETTING, env).model_copy(update={"max_drop_fraction": fraction(env, MAX_DROP_SETTING)})
    return dg.Definitions(assets=commits, resources={"commits_source": source})
