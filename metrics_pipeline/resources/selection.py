"""Chooses each source's implementation from one setting per source kind; assets never branch."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg

from metrics_pipeline.commits.sources import CommitsSource, FileCommitsSource
from metrics_pipeline.installs.sources import FileInstallsSource, InstallsSource
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import DuckDBWarehouse

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


INSTALLS_SOURCES: dict[str, Callable[[Mapping[str, str]], InstallsSource]] = {"files": _file_installs}
COMMITS_SOURCES: dict[str, Callable[[Mapping[str, str]], CommitsSource]] = {"files": _file_commits}


def _choose(kinds: dict, setting: str, env: Mapping[str, str]):
    kind = env.get(setting, "files").strip().lower()
    if kind not in kinds:
        raise ValueError(f"{setting}={kind!r} is not one of {sorted(kinds)}")
    return kinds[kind](env)


def build_resources(env: Mapping[str, str]) -> dict:
    """Resources for a deployment; paths and secrets stay `dg.EnvVar`s, resolved at run time."""
    return {
        "warehouse": DuckDBWarehouse(path=dg.EnvVar("METRICS_WAREHOUSE_PATH")),
        "registry": PluginRegistry(csv_path=dg.EnvVar("METRICS_REGISTRY_CSV")),
        "installs_source": _choose(INSTALLS_SOURCES, INSTALLS_SOURCE_SETTING, env),
        "commits_source": _choose(COMMITS_SOURCES, COMMITS_SOURCE_SETTING, env),
    }
