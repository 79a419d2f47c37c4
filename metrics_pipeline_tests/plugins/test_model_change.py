"""A plugin package upgraded to another model (a column removed, one added, one retyped, other SQL):
the next run migrates the warehouse and Postgres tables and rebuilds every day by itself, and
`/export` answers 200 or 503 (not built yet) on both backends before, during and after, never 500."""

import sys
from datetime import date

from fastapi.testclient import TestClient

from metrics_pipeline.api.app import create_app
from metrics_pipeline.api.settings import ApiSettings
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline.plugins.sink import postgres_asset, postgres_table
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline_tests.plugins.downloads import Row, checks, entry_point_package, run_plugins, write_rows
from metrics_pipeline_tests.plugins.test_continuity import _behind
from metrics_pipeline_tests.scenario import Scenario
from metrics_pipeline_tests.support.plugin_downloads import run

FOO, BAR = "napari-foo", "napari-bar"
JAN31, FEB1 = date(2024, 1, 31), date(2024, 2, 1)
HEAD = "from metrics_pipeline.plugins.spec import Column, MetricPlugin\n"
V1 = HEAD + """ARCHS = MetricPlugin(
    name="archs", summary="Downloads per plugin, CPU architecture and Python",
    columns=(Column("plugin_name", "varchar", "plugin"), Column("cpu", "varchar", "details.cpu"),
             Column("python", "varchar", "details.python"), Column("downloads", "bigint", "rows", measure=True)),
    sql="SELECT day, plugin_name, details.cpu AS cpu, details.python AS python, sum(downloads) AS downloads "
        "FROM source_rows GROUP BY ALL",
    requires=("details.cpu", "details.python"))
"""
V2 = HEAD + """ARCHS = MetricPlugin(
    name="archs", summary="Half the downloads per plugin, CPU architecture and TLS version",
    columns=(Column("plugin_name", "varchar", "plugin"), Column("cpu", "varchar", "details.cpu"),
             Column("tls", "varchar", "tls_protocol"), Column("downloads", "double", "half the rows", measure=True)),
    sql="SELECT day, plugin_name, details.cpu AS cpu, tls_protocol AS tls, sum(downloads) / 2 AS downloads "
        "FROM source_rows GROUP BY ALL",
    requires=("details.cpu", "tls_protocol"))
"""


def _install(root, monkeypatch, body: str):
    entry_point_package(root, "archs_metrics", body, {"archs": "archs_metrics:ARCHS"})
    sys.modules.pop("archs_metrics", None)
    monkeypatch.syspath_prepend(str(root))
    return next(p for p in installed_plugins().plugins if p.name == "archs")


def _apps(scenario: Scenario, dsn: str) -> dict[str, TestClient]:
    """The read API on each export backend, loading the plugins installed now."""
    clients = {kind: TestClient(create_app(ApiSettings(backend=kind, export_backend=kind, postgres_dsn=dsn, today=date(2024, 2, 2),
                                                       warehouse_path=str(scenario.warehouse_path))))
               for kind in ("duckdb", "postgres")}
    for client in clients.values():
        client.__enter__()
    return clients


def _export(clients: dict[str, TestClient]) -> dict[str, tuple[int, object]]:
    found = {}
    for kind, client in clients.items():
        response = client.get("/export/plugin_archs_daily?format=json")
        found[kind] = (response.status_code, response.json() if response.status_code == 200 else None)
    return found


def test_a_changed_model_migrates_both_stores_and_rebuilds_without_a_person(tmp_path, monkeypatch, postgres_database):
    scenario = Scenario(tmp_path / "pipeline")
    scenario.set_registry([(FOO, ""), (BAR, "")])
    write_rows(scenario, [Row("2024-01-31 10:00:00", FOO, cpu="x86_64", python="3.11", tls="TLSv1.3", times=3),
                          Row("2024-01-31 11:00:00", FOO, cpu="arm64", python="3.12", tls="TLSv1.2"),
                          Row("2024-02-01 00:00:00", BAR, cpu="x86_64", python="3.11", tls="TLSv1.3", times=2)])
    postgres = PostgresResource(dsn=postgres_database)
    package = tmp_path / "package"
    package.mkdir()

    v1 = _install(package, monkeypatch, V1)
    assert run_plugins(scenario, [v1], "2024-01-31", "2024-02-01", extra=[postgres_asset(v1)], postgres=postgres).success
    with postgres.connect() as connection:
        assert connection.execute("SELECT granularity, period_start, plugin_name, cpu, python, downloads FROM plugin_archs "
                                  "ORDER BY 1, 2, 3, 4").fetchall() == [
            ("DAY", JAN31, FOO, "arm64", "3.12", 1), ("DAY", JAN31, FOO, "x86_64", "3.11", 3),
            ("DAY", FEB1, BAR, "x86_64", "3.11", 2),
            ("MONTH", date(2024, 1, 1), FOO, "arm64", "3.12", 1), ("MONTH", date(2024, 1, 1), FOO, "x86_64", "3.11", 3),
            ("MONTH", date(2024, 2, 1), BAR, "x86_64", "3.11", 2),
            ("TOTAL", None, BAR, "x86_64", "3.11", 2), ("TOTAL", None, FOO, "arm64", "3.12", 1),
            ("TOTAL", None, FOO, "x86_64", "3.11", 3)]
    old_apps = _apps(scenario, postgres_database)
    v1_rows = [{"day": "2024-01-31", "plugin_name": FOO, "cpu": "arm64", "python": "3.12", "downloads": 1},
               {"day": "2024-01-31", "plugin_name": FOO, "cpu": "x86_64", "python": "3.11", "downloads": 3},
               {"day": "2024-02-01", "plugin_name": BAR, "cpu": "x86_64", "python": "3.11", "downloads": 2}]
    assert _export(old_apps) == {"duckdb": (200, v1_rows), "postgres": (200, v1_rows)}

    # The package is upgraded; the API restarts with it before any run has migrated a store.
    v2 = _install(package, monkeypatch, V2)
    new_apps = _apps(scenario, postgres_database)
    assert _export(new_apps) == {"duckdb": (200, []), "postgres": (503, None)}
    assert _behind(scenario, [v2]) == {}  # the cursors are the asset's; the model's own rebuild is pending
    sink_alone = run(scenario, [postgres_asset(v2)], postgres=postgres)  # e.g. publish_job: waits for the rebuild
    assert sink_alone.success and not sink_alone.get_asset_materialization_events()
    assert _export(new_apps) == {"duckdb": (200, []), "postgres": (503, None)}

    # The next run (no day given: nothing lands) migrates and rebuilds both stores.
    result = run_plugins(scenario, [v2], extra=[postgres_asset(v2)], postgres=postgres)
    assert result.success and checks(result)["archs_computed"].passed
    assert scenario.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'plugin_archs_daily' "
                          "ORDER BY ordinal_position") == [
        ("day", "DATE"), ("plugin_name", "VARCHAR"), ("cpu", "VARCHAR"), ("tls", "VARCHAR"), ("downloads", "DOUBLE")]
    assert scenario.query("SELECT * FROM plugin_archs_total ORDER BY ALL") == [
        (BAR, "x86_64", "TLSv1.3", 1.0), (FOO, "arm64", "TLSv1.2", 0.5), (FOO, "x86_64", "TLSv1.3", 1.5)]
    with postgres.connect() as connection:
        assert connection.execute("SELECT granularity, period_start, plugin_name, cpu, tls, downloads FROM plugin_archs "
                                  "WHERE granularity <> 'MONTH' ORDER BY 1, 2, 3, 4").fetchall() == [
            ("DAY", JAN31, FOO, "arm64", "TLSv1.2", 0.5), ("DAY", JAN31, FOO, "x86_64", "TLSv1.3", 1.5),
            ("DAY", FEB1, BAR, "x86_64", "TLSv1.3", 1.0),
            ("TOTAL", None, BAR, "x86_64", "TLSv1.3", 1.0), ("TOTAL", None, FOO, "arm64", "TLSv1.2", 0.5),
            ("TOTAL", None, FOO, "x86_64", "TLSv1.3", 1.5)]
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'plugin_archs%'").fetchall()
        assert tables == [(postgres_table(v2).name,)]  # the old model's table is gone; plugin_archs is a view
    v2_rows = [{"day": "2024-01-31", "plugin_name": FOO, "cpu": "arm64", "tls": "TLSv1.2", "downloads": 0.5},
               {"day": "2024-01-31", "plugin_name": FOO, "cpu": "x86_64", "tls": "TLSv1.3", "downloads": 1.5},
               {"day": "2024-02-01", "plugin_name": BAR, "cpu": "x86_64", "tls": "TLSv1.3", "downloads": 1.0}]
    assert _export(new_apps) == {"duckdb": (200, v2_rows), "postgres": (200, v2_rows)}
    # An API still serving the old model from Postgres: its table is gone (503), never a missing column.
    assert _export({"postgres": old_apps["postgres"]}) == {"postgres": (503, None)}
    assert _behind(scenario, [v2]) == {}

    # Nothing changed since: the next run rebuilds nothing and writes nothing to Postgres.
    again = run_plugins(scenario, [v2], extra=[postgres_asset(v2)], postgres=postgres)
    assert again.asset_materializations_for_node(postgres_asset(v2).node_def.name)[0].metadata["written"].value == 0
    for client in [*old_apps.values(), *new_apps.values()]:
        client.__exit__(None, None, None)
