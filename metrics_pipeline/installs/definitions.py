"""The installs domain: its assets and the installs source METRICS_INSTALLS_SOURCE selects."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg

from metrics_pipeline.installs import assets
from metrics_pipeline.installs.sources import DOWNLOADS_DIR_SETTING, DOWNLOADS_VIEW_SETTING, FileInstallsSource, InstallsSource
from metrics_pipeline.landing.guards import MAX_DROP_SETTING
from metrics_pipeline.resources.definitions import choose, fraction

INSTALLS_SOURCE_SETTING = "METRICS_INSTALLS_SOURCE"


def installers_from(env: Mapping[str, str]) -> list[str]:
    """METRICS_INSTALLERS: comma-separated installer names counted as installs (default `pip`)."""
    names = [name.strip() for name in env.get("METRICS_INSTALLERS", "pip").split(",") if name.strip()]
    if not names:
        raise ValueError("METRICS_INSTALLERS must name at least one installer, e.g. `pip`")
    return names


def _files(env: Mapping[str, str]) -> InstallsSource:
    return FileInstallsSource(directory=dg.EnvVar(DOWNLOADS_DIR_SETTING), installers=installers_from(env),
                              warehouse_path=dg.EnvVar("METRICS_WAREHOUSE_PATH"))


def _snowflake(env: Mapping[str, str]) -> InstallsSource:
    # Imported here: the connector costs a second of start-up that file deployments never need.
    from metrics_pipeline.installs.snowflake_source import SnowflakeInstallsSource
    from metrics_pipeline.resources.snowflake import snowflake_connection_from

    view = {"downloads_view": dg.EnvVar(DOWNLOADS_VIEW_SETTING)} if env.get(DOWNLOADS_VIEW_SETTING) else {}
    # METRICS_INSTALLERS names the view's download_type labels counted as installs (default `pip`).
    return SnowflakeInstallsSource(snowflake=snowflake_connection_from(env), download_types=installers_from(env), **view)


SOURCES: dict[str, Callable[[Mapping[str, str]], InstallsSource]] = {"files": _files, "snowflake": _snowflake}


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        resources={
            "installs_source": choose(SOURCES, INSTALLS_SOURCE_SETTING, env).model_copy(
                update={"max_drop_fraction": fraction(env, MAX_DROP_SETTING)}
            )
        },
    )
