"""Chooses each source's implementation from one setting per source kind; assets never branch."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg

from metrics_pipeline.commits.github_assets import github_commits
from metrics_pipeline.commits.github_source import GitHubCommitsSource, github_api_from
from metrics_pipeline.commits.snowflake_source import COMMITS_TABLE_SETTING, SnowflakeCommitsSource
from metrics_pipeline.commits.sources import CommitsSource, FileCommitsSource
from metrics_pipeline.installs.snowflake_source import DOWNLOADS_VIEW_SETTING, SnowflakeInstallsSource
from metrics_pipeline.installs.sources import FileInstallsSource, InstallsSource
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.snowflake import snowflake_connection_from
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks import sink_resources

INSTALLS_SOURCE_SETTING = "METRICS_INSTALLS_SOURCE"
COMMITS_SOURCE_SETTING = "METRICS_COMMITS_SOURCE"


def installers_from(env: Mapping[str, str]) -> list[str]:
    """METRICS_INSTALLERS: comma-separated installer names counted as installs (default `pip`)."""
    names = [name.strip() for name in env.get("METRICS_INSTALLERS", "pip").split(",") if name.strip()]
    if not names:
        raise ValueError("METRICS_INSTALLERS must name at least one installer, e.g. `pip`")
    return names


def _file_installs(env: Mapping[str, str]) -> InstallsSource:
    return FileInstallsSource(directory=dg.EnvVar("METRICS_DOWNLOADS_DIR"), installers=installers_from(env))


def _file_commits(env: Mapping[str, str]) -> CommitsSource:
    return FileCommitsSource(directory=dg.EnvVar("METRICS_COMMITS_DIR"))


def _snowflake_installs(env: Mapping[str, str]) -> InstallsSource:
    view = {"downloads_view": dg.EnvVar(DOWNLOADS_VIEW_SETTING)} if env.get(DOWNLOADS_VIEW_SETTING) else {}
    # METRICS_INSTALLERS names the view's download_type labels counted as installs (default `pip`).
    return SnowflakeInstallsSource(snowflake=snowflake_connection_from(env), download_types=installers_from(env), **view)


def _snowflake_commits(env: Mapping[str, str]) -> CommitsSource:
    table = {"commits_table": dg.EnvVar(COMMITS_TABLE_SETTING)} if env.get(COMMITS_TABLE_SETTING) else {}
    return SnowflakeCommitsSource(snowflake=snowflake_connection_from(env), **table)


def _github_commits(env: Mapping[str, str]) -> CommitsSource:
    """Reads what the `github_commits` landing asset (resource key `github`) appended to the warehouse."""
    return GitHubCommitsSource(warehouse_path=dg.EnvVar("METRICS_WAREHOUSE_PATH"))


INSTALLS_SOURCES: dict[str, Callable[[Mapping[str, str]], InstallsSource]] = {
    "files": _file_installs,
    "snowflake": _snowflake_installs,
}
COMMITS_SOURCES: dict[str, Callable[[Mapping[str, str]], CommitsSource]] = {
    "files": _file_commits,
    "snowflake": _snowflake_commits,
    "github": _github_commits,
}


def _choose(kinds: dict, setting: str, env: Mapping[str, str]):
    kind = env.get(setting, "files").strip().lower()
    if kind not in kinds:
        raise ValueError(f"{setting}={kind!r} is not one of {sorted(kinds)}")
    return kinds[kind](env)


def _commits_kind(env: Mapping[str, str]) -> str:
    return env.get(COMMITS_SOURCE_SETTING, "files").strip().lower()


def build_resources(env: Mapping[str, str]) -> dict:
    """Resources for a deployment; paths and secrets stay `dg.EnvVar`s, resolved at run time."""
    resources = {
        "warehouse": DuckDBWarehouse(path=dg.EnvVar("METRICS_WAREHOUSE_PATH")),
        "registry": PluginRegistry(csv_path=dg.EnvVar("METRICS_REGISTRY_CSV")),
        "installs_source": _choose(INSTALLS_SOURCES, INSTALLS_SOURCE_SETTING, env),
        "commits_source": _choose(COMMITS_SOURCES, COMMITS_SOURCE_SETTING, env),
    }
    if _commits_kind(env) == "github":
        resources["github"] = github_api_from(env)
    return resources | sink_resources(env)


def landing_assets(env: Mapping[str, str]) -> list[dg.AssetsDefinition]:
    """Assets that must land a source's rows in the warehouse before `raw_commits` reads them."""
    return [github_commits] if _commits_kind(env) == "github" else []
