"""A model over nested download columns (`details.cpu`, `details.distro.name`, `tls_protocol`) with the
three kinds of declared rollups, hand-computed; files of an older schema read missing columns as
"unknown"; late data moves a running total from its day on; rollups reach Postgres and `/export`."""

import sys
from datetime import date

import pytest
from fastapi.testclient import TestClient

from metrics_pipeline.api.app import create_app
from metrics_pipeline.api.settings import ApiSettings
from metrics_pipeline.plugins.sink import postgres_asset
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginRollup
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline_tests.plugins.downloads import Row, checks, entry_point_package, run_plugins, write_rows
from metrics_pipeline_tests.scenario import Scenario
from metrics_pipeline_tests.support.plugin_downloads import run

FOO, BAR = "napari-foo", "napari-bar"
JAN31, FEB1, FEB2 = date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 2)

ENVIRONMENTS = MetricPlugin(
    name="environments",
    summary="Downloads and installs per plugin by CPU architecture, Linux distribution and TLS version",
    columns=(
        Column("plugin_name", "varchar", "registry plugin"),
        Column("cpu", "varchar", "details.cpu"),
        Column("distro", "varchar", "details.distro.name"),
        Column("tls", "varchar", "tls_protocol"),
        Column("downloads", "bigint", "download rows", measure=True),
        Column("installs", "bigint", "counted installs", measure=True),
    ),
    sql="""
        SELECT day, plugin_name, details.cpu AS cpu, details.distro.name AS distro, tls_protocol AS tls,
               sum(downloads) AS downloads, coalesce(sum(downloads) FILTER (WHERE countable), 0) AS installs
        FROM source_rows GROUP BY ALL
    """,
    requires=("details.cpu", "details.distro", "tls_protocol", "countable"),
    rollups=(
        PluginRollup("monthly_cpus", "Distinct CPU architectures per plugin and month", period="month",
                     columns=(Column("plugin_name", "varchar", "plugin"), Column("cpus", "bigint", "distinct", measure=True)),
                     sql="""SELECT CAST(date_trunc('month', day) AS DATE) AS month_start, plugin_name,
                                   count(DISTINCT cpu) AS cpus FROM daily_rows GROUP BY ALL"""),
        PluginRollup("downloads_to_date", "Downloads per plugin since the first day", period="day",
                     columns=(Column("plugin_name", "varchar", "plugin"), Column("downloads", "bigint", "running", measure=True)),
                     sql="""SELECT * FROM (
                                SELECT day, plugin_name, sum(sum(downloads)) OVER (PARTITION BY plugin_name ORDER BY day)
                                       AS downloads FROM daily_rows GROUP BY day, plugin_name)
                            WHERE day >= $start"""),
        PluginRollup("all_time_cpus", "Distinct CPU architectures per plugin, all time", period="all",
                     columns=(Column("plugin_name", "varchar", "plugin"), Column("cpus", "bigint", "distinct", measure=True)),
                     sql="SELECT plugin_name, count(DISTINCT cpu) AS cpus FROM daily_rows GROUP BY ALL"),
    ),
)


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    scenario = Scenario(tmp_path_factory.mktemp("models"))
    scenario.set_registry([(FOO, ""), (BAR, "")])
    write_rows(scenario, [Row("2024-01-31 10:00:00", FOO, cpu="arm64", times=2)], narrow=True)  # no distro, no TLS
    write_rows(scenario, [
        Row("2024-01-31 12:00:00", FOO, cpu="x86_64", distro="Ubuntu", tls="TLSv1.3", times=3),
        Row("2024-01-31 13:00:00", FOO, cpu=None, distro="", tls="TLSv1.2"),
        Row("2024-02-01 01:00:00", BAR, cpu="aarch64", distro="Alpine", installer="uv"),
        Row("2024-02-01 02:00:00", FOO, cpu="x86_64"),
        Row("2024-02-01 03:00:00", "numpy", cpu="x86_64", times=4),  # not in the registry: the pipeline leaves it out
        Row("2024-02-02 00:00:00", FOO, cpu="arm64", ci=True),
    ])
    result = run_plugins(scenario, [ENVIRONMENTS], "2024-01-31", "2024-02-02")
    assert result.success and checks(result)["environments_computed"].passed
    return scenario


def test_nested_columns_by_hand(computed):
    assert computed.query("SELECT * FROM plugin_environments_daily ORDER BY ALL") == [
        (JAN31, FOO, "arm64", "unknown", "unknown", 2, 2),
        (JAN31, FOO, "unknown", "unknown", "TLSv1.2", 1, 1),
        (JAN31, FOO, "x86_64", "Ubuntu", "TLSv1.3", 3, 3),
        (FEB1, BAR, "aarch64", "Alpine", "TLSv1.3", 1, 0),
        (FEB1, FOO, "x86_64", "Ubuntu", "TLSv1.3", 1, 1),
        (FEB2, FOO, "arm64", "Ubuntu", "TLSv1.3", 1, 0),
    ]
    assert computed.query("SELECT * FROM plugin_environments_total ORDER BY ALL")[:2] == [
        (BAR, "aarch64", "Alpine", "TLSv1.3", 1, 0), (FOO, "arm64", "Ubuntu", "TLSv1.3", 1, 0)]


def test_declared_rollups_by_hand(computed):
    assert computed.query("SELECT * FROM plugin_environments_monthly_cpus ORDER BY ALL") == [
        (date(2024, 1, 1), FOO, 3), (date(2024, 2, 1), BAR, 1), (date(2024, 2, 1), FOO, 2)]
    assert computed.query("SELECT * FROM plugin_environments_downloads_to_date ORDER BY ALL") == [
        (JAN31, FOO, 6), (FEB1, BAR, 1), (FEB1, FOO, 7), (FEB2, FOO, 8)]
    assert computed.query("SELECT * FROM plugin_environments_all_time_cpus ORDER BY ALL") == [(BAR, 1), (FOO, 3)]


def test_late_data_moves_the_running_total_from_its_day_on(computed):
    write_rows(computed, [Row("2024-02-01 05:00:00", FOO, cpu="riscv64")])
    result = run_plugins(computed, [ENVIRONMENTS], "2024-02-01")
    metadata = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("plugin_models")}
    assert metadata["plugins/environments_downloads_to_date"]["periods_refreshed"].value == "2024-02-01..2024-02-02"
    assert metadata["plugins/environments_monthly_cpus"]["periods_refreshed"].value == "2024-02-01..2024-02-29"
    assert computed.query("SELECT * FROM plugin_environments_downloads_to_date ORDER BY ALL") == [
        (JAN31, FOO, 6), (FEB1, BAR, 1), (FEB1, FOO, 8), (FEB2, FOO, 9)]
    assert computed.query("SELECT * FROM plugin_environments_monthly_cpus ORDER BY ALL") == [
        (date(2024, 1, 1), FOO, 3), (date(2024, 2, 1), BAR, 1), (date(2024, 2, 1), FOO, 3)]
    assert computed.query("SELECT * FROM plugin_environments_all_time_cpus ORDER BY ALL") == [(BAR, 1), (FOO, 4)]


def test_rollups_reach_postgres_and_export(computed, postgres_database, tmp_path, monkeypatch):
    postgres = PostgresResource(dsn=postgres_database)
    assert run(computed, [postgres_asset(ENVIRONMENTS)], postgres=postgres).success
    with postgres.connect() as connection:
        assert connection.execute("SELECT granularity, period_start, plugin_name, cpus FROM plugin_environments_monthly_cpus "
                                  "ORDER BY 2, 3").fetchall() == [
            ("MONTH", date(2024, 1, 1), FOO, 3), ("MONTH", date(2024, 2, 1), BAR, 1), ("MONTH", date(2024, 2, 1), FOO, 3)]
        assert connection.execute("SELECT granularity, period_start, plugin_name, cpus FROM plugin_environments_all_time_cpus "
                                  "ORDER BY 3").fetchall() == [("TOTAL", None, BAR, 1), ("TOTAL", None, FOO, 4)]
    entry_point_package(tmp_path, "environments_metrics", "from metrics_pipeline_tests.plugins.test_models import ENVIRONMENTS\n",
                        {"environments": "environments_metrics:ENVIRONMENTS"})
    monkeypatch.syspath_prepend(str(tmp_path))
    for kind in ("duckdb", "postgres"):
        settings = ApiSettings(backend=kind, export_backend=kind, warehouse_path=str(computed.warehouse_path),
                               postgres_dsn=postgres_database, today=date(2024, 2, 3))
        with TestClient(create_app(settings)) as client:
            assert client.get("/export/plugin_environments_downloads_to_date?format=json").json() == [
                {"day": "2024-01-31", "plugin_name": FOO, "downloads": 6}, {"day": "2024-02-01", "plugin_name": BAR, "downloads": 1},
                {"day": "2024-02-01", "plugin_name": FOO, "downloads": 8}, {"day": "2024-02-02", "plugin_name": FOO, "downloads": 9}]
            assert client.get("/export/plugin_environments_all_time_cpus").text == "plugin_name,cpus\nnapari-bar,1\nnapari-foo,4\n"
            assert client.get("/export/plugin_environments_monthly_cpus?start=2024-02-01&format=json").json() == [
                {"month": "2024-02-01", "plugin_name": BAR, "cpus": 1}, {"month": "2024-02-01", "plugin_name": FOO, "cpus": 3}]
    sys.modules.pop("environments_metrics", None)
