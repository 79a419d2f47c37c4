"""Postgres sink against a real throwaway cluster: exact rows, reruns, migrations, DSN errors."""

import uuid
from datetime import date, datetime

import dagster as dg
import psycopg
import pyarrow as pa
import pytest
from psycopg import conninfo

from metrics_pipeline.resources.postgres import PostgresConfigError, PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.assets import postgres_github_activity, postgres_install_activity
from metrics_pipeline.sinks.postgres import INSTALL_ACTIVITY, load_rows
from metrics_pipeline.sinks.postgres_schema import apply_migrations, migrations
from metrics_pipeline_tests.sinks.sink_helpers import (
    Rollups,
    expected_github_rows,
    expected_install_rows,
    hub_scenario,
    write_rollups,
)


def materialize(warehouse, dsn) -> dict[str, dict]:
    result = dg.materialize(
        [postgres_install_activity, postgres_github_activity],
        resources={"warehouse": warehouse, "postgres": PostgresResource(dsn=dsn)},
    )
    assert result.success
    return {
        name: {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}
        for name in ("postgres__install_activity", "postgres__github_activity")
    }


def read_rows(dsn) -> tuple[set, set]:
    with psycopg.connect(dsn) as connection:
        installs = set(connection.execute("SELECT plugin_name, granularity, period_start, install_count FROM install_activity"))
        github = set(connection.execute(
            "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"))
    return installs, github


def test_rows_equal_rollups_with_full_history(warehouse, postgres_database):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    metadata = materialize(warehouse, postgres_database)
    installs, github = read_rows(postgres_database)
    assert installs == expected_install_rows(rollups)
    assert github == expected_github_rows(rollups)
    assert ("napari-foo", "Org/Napari-Foo", "MONTH", date(2023, 12, 1), 2, None) in github  # no window in SQL
    assert metadata["postgres__install_activity"]["written"] == len(installs)
    assert metadata["postgres__github_activity"]["written"] == len(github)
    with psycopg.connect(postgres_database) as connection:
        (total,) = connection.execute(
            "SELECT install_count FROM install_activity WHERE plugin_name = %s AND granularity = 'TOTAL'", ["napari-foo"]
        ).fetchone()
    assert total == 18


def test_rerun_writes_zero_rows_and_changes_are_exact(warehouse, postgres_database):
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    materialize(warehouse, postgres_database)
    with psycopg.connect(postgres_database) as connection:
        before = dict(connection.execute("SELECT plugin_name || granularity || coalesce(period_start::text, ''), updated_at FROM install_activity"))
    again = materialize(warehouse, postgres_database)
    for name in again:
        assert (again[name]["written"], again[name]["deleted"]) == (0, 0)
    with psycopg.connect(postgres_database) as connection:
        after = dict(connection.execute("SELECT plugin_name || granularity || coalesce(period_start::text, ''), updated_at FROM install_activity"))
    assert after == before  # untouched rows keep updated_at

    rollups.daily[("napari-foo", date(2024, 2, 29))] = 50
    del rollups.daily[("napari-bar", date(2024, 2, 29))]
    rollups.latest_commits[("napari-foo", "Org/Napari-Foo")] = datetime(2025, 3, 5, 8, 0)
    del rollups.monthly_commits[("napari-foo", "Org/Napari-Foo", date(2023, 12, 1))]
    write_rollups(warehouse, rollups)
    changed = materialize(warehouse, postgres_database)
    assert (changed["postgres__install_activity"]["written"], changed["postgres__install_activity"]["deleted"]) == (1, 1)
    assert (changed["postgres__github_activity"]["written"], changed["postgres__github_activity"]["deleted"]) == (1, 1)
    assert read_rows(postgres_database) == (expected_install_rows(rollups), expected_github_rows(rollups))


def test_empty_rollups_empty_tables(warehouse, postgres_database):
    write_rollups(warehouse, hub_scenario())
    materialize(warehouse, postgres_database)
    write_rollups(warehouse, Rollups())
    assert read_rows(postgres_database) != (set(), set())
    materialize(warehouse, postgres_database)
    assert read_rows(postgres_database) == (set(), set())


def test_migrations_apply_once(postgres_database):
    with psycopg.connect(postgres_database) as connection:
        applied = apply_migrations(connection)
        assert applied[0] == 1 and applied == sorted(applied) and len(applied) == len(migrations())
        assert apply_migrations(connection) == []
        columns = [row[0] for row in connection.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'install_activity'::regclass AND i.indisprimary")]
    assert sorted(columns) == ["granularity", "period_key", "plugin_name"]


def test_errors_name_the_setting_and_hide_the_secret(postgres_dsn):
    for dsn in ["", "postgresql://metrics:s3cret-pw@127.0.0.1:1/metrics", "host=127.0.0.1 password=s3cret-pw port=notaport"]:
        with pytest.raises(PostgresConfigError) as raised:
            with PostgresResource(dsn=dsn, connect_timeout_seconds=2).connect():
                pass
        assert "METRICS_POSTGRES_DSN" in str(raised.value)
        assert "s3cret-pw" not in str(raised.value)
        assert raised.value.__cause__ is None  # the driver's exception (which may quote the DSN) is not chained
        assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_unset_env_var_is_named():
    definitions = dg.Definitions(
        assets=[postgres_install_activity],
        resources={"warehouse": DuckDBWarehouse(path="unused.duckdb"),
                   "postgres": PostgresResource(dsn=dg.EnvVar("METRICS_POSTGRES_DSN_UNSET_IN_TESTS"))},
    )
    with pytest.raises(Exception, match="METRICS_POSTGRES_DSN_UNSET_IN_TESTS"):
        definitions.resolve_implicit_global_asset_job_def().execute_in_process()


def test_a_new_empty_database_gets_everything_though_nothing_changed(warehouse, postgres_database, postgres_dsn):
    """A fresh database (make dev's throwaway cluster, a restore to an empty one) is filled whole."""
    rollups = hub_scenario()
    write_rollups(warehouse, rollups)
    materialize(warehouse, postgres_database)
    assert materialize(warehouse, postgres_database)["postgres__install_activity"]["scope"] == "nothing"
    fresh = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{fresh}"')
    dsn = conninfo.make_conninfo(postgres_dsn, dbname=fresh)
    metadata = materialize(warehouse, dsn)
    assert metadata["postgres__install_activity"]["scope"] == "everything"
    assert read_rows(dsn) == (expected_install_rows(rollups), expected_github_rows(rollups))


def _indexes(dsn) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as connection:
        return connection.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'install_activity' "
                                  "ORDER BY 1").fetchall()


def test_the_initial_fill_builds_the_indexes_after_copy_and_still_refuses_a_duplicate_key(postgres_database):
    """An empty table is filled by COPY with its key and indexes dropped and rebuilt in the same
    transaction: the same indexes afterwards, and a duplicate key rolls the whole fill back."""
    with psycopg.connect(postgres_database) as connection:
        apply_migrations(connection)
    before = _indexes(postgres_database)
    assert [name for name, _ in before] == ["install_activity_period", "install_activity_pkey"]

    def rows(*values):
        return pa.table({"plugin_name": [v[0] for v in values], "granularity": [v[1] for v in values],
                         "period_start": pa.array([v[2] for v in values], pa.date32()),
                         "install_count": pa.array([v[3] for v in values], pa.int64())})

    duplicate = rows(("napari-foo", "DAY", date(2024, 2, 29), 3), ("napari-foo", "DAY", date(2024, 2, 29), 4))
    with psycopg.connect(postgres_database) as connection, pytest.raises(psycopg.errors.UniqueViolation):
        load_rows(connection, INSTALL_ACTIVITY, duplicate)
    assert _indexes(postgres_database) == before
    with psycopg.connect(postgres_database) as connection:
        assert connection.execute("SELECT count(*) FROM install_activity").fetchone()[0] == 0
        assert load_rows(connection, INSTALL_ACTIVITY, rows(("napari-foo", "DAY", date(2024, 2, 29), 3),
                                                            ("napari-foo", "TOTAL", None, 3)))["written"] == 2
    assert _indexes(postgres_database) == before
