"""A third-party plugin package (in the test tree, found through its entry point) gets assets, a
warehouse table, a Postgres table and export datasets; taking it off sys.path removes them."""

import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from metrics_pipeline.api.app import create_app
from metrics_pipeline.api.settings import ApiSettings
from metrics_pipeline.definitions import defs
from metrics_pipeline.plugins.definitions import definitions as plugin_definitions
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline.plugins.sink import postgres_asset
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline_tests.scenario import Scenario
from metrics_pipeline_tests.plugins.downloads import Row, run_plugins, write_rows
from metrics_pipeline_tests.support.plugin_downloads import run

SAMPLE_PATH = str(Path(__file__).parent / "sample_plugin")
NAME = "sample_release_days"
KEYS = {f"plugins/{NAME}_daily", f"plugins/{NAME}_monthly", f"plugins/{NAME}_total", f"postgres/plugin_{NAME}"}


@pytest.fixture
def sample_installed(monkeypatch):
    monkeypatch.syspath_prepend(SAMPLE_PATH)
    yield next(p for p in installed_plugins().plugins if p.name == NAME)
    sys.modules.pop("sample_metrics", None)


def _keys(definitions) -> set[str]:
    return {key.to_user_string() for asset in definitions.assets for key in asset.keys}


def test_installing_the_package_adds_its_assets_and_removing_it_removes_them(monkeypatch):
    assert not KEYS & _keys(plugin_definitions({}))
    monkeypatch.syspath_prepend(SAMPLE_PATH)
    project = defs()  # the whole code location loads with the plugin registered
    specs = {spec.key.to_user_string(): spec for spec in project.resolve_all_asset_specs()}
    assert KEYS <= set(specs)
    daily = specs[f"plugins/{NAME}_daily"]
    assert daily.description.startswith("Downloads per plugin and package version (a sample third-party plugin)")
    assert [c.name for c in daily.metadata["dagster/column_schema"].columns] == ["day", "plugin_name", "file_version", "downloads"]
    assert daily.kinds == {"duckdb"} and daily.group_name == "plugins" and daily.owners
    assert project.resolve_asset_graph().get(daily.key).parent_keys == {dg.AssetKey("raw_installs")}
    monkeypatch.undo()
    sys.modules.pop("sample_metrics", None)
    assert not KEYS & _keys(plugin_definitions({}))
    assert {p.name for p in installed_plugins().plugins} == {
        "ci_mirror_share", "countries", "installers", "operating_systems", "package_versions", "python_versions"}


def test_its_tables_and_export_appear_and_go(tmp_path, sample_installed, postgres_database, monkeypatch):
    plugin = sample_installed
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    write_rows(scenario, [
        Row("2024-01-31 23:59:59", "napari-foo", times=2), Row("2024-01-31 08:00:00", "napari-foo", version=None),
        Row("2024-02-01 00:00:00", "napari-bar", version="0.2", installer="uv", times=3),
        Row("2024-02-01 00:00:00", "numpy", times=4),
    ])
    sink = postgres_asset(plugin)
    postgres = PostgresResource(dsn=postgres_database)
    assert run_plugins(scenario, [plugin], "2024-01-31", "2024-02-01", extra=[sink], postgres=postgres).success
    assert scenario.query(f"SELECT * FROM plugin_{NAME}_total ORDER BY ALL") == [
        ("napari-bar", "0.2", 3), ("napari-foo", "1.0", 2), ("napari-foo", "unknown", 1)]
    with postgres.connect() as connection:
        assert connection.execute(
            f"SELECT granularity, period_start, plugin_name, file_version, downloads FROM plugin_{NAME} ORDER BY 1, 2, 3, 4"
        ).fetchall() == [
            ("DAY", date(2024, 1, 31), "napari-foo", "1.0", 2), ("DAY", date(2024, 1, 31), "napari-foo", "unknown", 1),
            ("DAY", date(2024, 2, 1), "napari-bar", "0.2", 3),
            ("MONTH", date(2024, 1, 1), "napari-foo", "1.0", 2), ("MONTH", date(2024, 1, 1), "napari-foo", "unknown", 1),
            ("MONTH", date(2024, 2, 1), "napari-bar", "0.2", 3),
            ("TOTAL", None, "napari-bar", "0.2", 3), ("TOTAL", None, "napari-foo", "1.0", 2),
            ("TOTAL", None, "napari-foo", "unknown", 1),
        ]
    again = run(scenario, [sink], postgres=postgres)  # unchanged data writes nothing
    assert again.asset_materializations_for_node(sink.node_def.name)[0].metadata["written"].value == 0

    apps = {kind: create_app(ApiSettings(backend=kind, export_backend=kind, warehouse_path=str(scenario.warehouse_path),
                                         postgres_dsn=postgres_database, today=date(2024, 2, 2)))
            for kind in ("duckdb", "postgres")}
    pages = {}
    for kind, app in apps.items():
        with TestClient(app) as client:
            listed = {d["name"]: d for d in client.get("/export").json()}
            assert listed[f"plugin_{NAME}_daily"] == {"name": f"plugin_{NAME}_daily", "date_column": "day", "plugin": True,
                                                      "columns": ["day", "plugin_name", "file_version", "downloads"]}
            response = client.get(f"/export/plugin_{NAME}_daily?format=json&order=desc&rows_per_page=2")
            assert response.status_code == 200, response.text
            assert response.json() == [
                {"day": "2024-02-01", "plugin_name": "napari-bar", "file_version": "0.2", "downloads": 3},
                {"day": "2024-01-31", "plugin_name": "napari-foo", "file_version": "1.0", "downloads": 2},
            ]
            assert response.headers["X-Total-Count"] == "3"
            assert 'page=2>; rel="next"' in response.headers["Link"]
            pages[kind] = [client.get(f"/export/plugin_{NAME}_{grain}?rows_per_page=2&page={page}").content
                           for grain in ("daily", "monthly", "total") for page in (1, 2)]
            assert client.get(f"/export/plugin_{NAME}_monthly?plugin=Napari_Foo&stop=2024-01-01").text == (
                "month,plugin_name,file_version,downloads\n2024-01-01,napari-foo,1.0,2\n2024-01-01,napari-foo,unknown,1\n")
            assert client.get(f"/export/plugin_{NAME}_daily?order=sideways").status_code == 400
    assert pages["duckdb"] == pages["postgres"]

    monkeypatch.undo()
    sys.modules.pop("sample_metrics", None)
    with TestClient(create_app(ApiSettings(backend="duckdb", export_backend="duckdb",
                                           warehouse_path=str(scenario.warehouse_path)))) as client:
        assert client.get(f"/export/plugin_{NAME}_daily").status_code == 404
        assert f"plugin_{NAME}_daily" not in {d["name"] for d in client.get("/export").json()}
