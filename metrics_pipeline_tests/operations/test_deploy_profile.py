"""deploy/dagster.yaml, the production profile, against real servers: Postgres storage on the local
cluster and S3 compute logs on moto_server. ECS cannot run here, so the test swaps the run launcher
for the default one (after validating its ECS section), points S3 at moto and turns TLS to Postgres
off (the local cluster has none); then it runs one daily partition."""

from datetime import date
from pathlib import Path

import boto3
import dagster as dg
import psycopg
import yaml
from dagster._config import process_config
from dagster_aws.ecs import EcsRunLauncher
from psycopg import conninfo

from metrics_pipeline.demo.generate import generate
from metrics_pipeline_tests.test_demo_end_to_end import _expected_installs, _registry

PROFILE = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
DAY = "2024-02-29"


def test_the_production_profile_runs_a_partition_on_postgres_storage(tmp_path, monkeypatch, postgres_database, dynamodb_endpoint):
    profile = yaml.safe_load(PROFILE.read_text())
    launcher = profile["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    validated = process_config(EcsRunLauncher.config_type(), launcher["config"])
    assert validated.success, validated.errors
    assert profile["run_coordinator"]["class"] == "QueuedRunCoordinator"

    # The settings a deployment fills in (deploy/README.md), here pointing at the local servers.
    params = conninfo.conninfo_to_dict(postgres_database)
    for name, value in {"DAGSTER_PG_HOST": params["host"], "DAGSTER_PG_PORT": str(params["port"]),
                        "DAGSTER_PG_USERNAME": params["user"], "DAGSTER_PG_PASSWORD": "unused-trust-auth",
                        "DAGSTER_PG_DB": params["dbname"],
                        "DAGSTER_COMPUTE_LOGS_BUCKET": "compute-logs"}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=dynamodb_endpoint).create_bucket(Bucket="compute-logs")
    profile["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
    profile["compute_logs"]["config"]["endpoint_url"] = dynamodb_endpoint
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        profile[storage]["config"]["postgres_db"]["params"]["sslmode"] = "disable"  # the local cluster has no TLS
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(profile))

    data = tmp_path / "demo"
    generate(data, date(2024, 2, 27), date(2024, 3, 2), plugins=20, untracked=5)
    for name, value in {"METRICS_DOWNLOADS_DIR": data / "downloads", "METRICS_COMMITS_DIR": data / "commits",
                        "METRICS_REGISTRY_CSV": data / "registry.csv",
                        "METRICS_WAREHOUSE_PATH": tmp_path / "warehouse.duckdb", "METRICS_POSTGRES_DSN": postgres_database,
                        "METRICS_DYNAMODB_STACK": "deploy", "METRICS_DYNAMODB_ENDPOINT_URL": dynamodb_endpoint}.items():
        monkeypatch.setenv(name, str(value))
    from metrics_pipeline.definitions import defs

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
        # Event writes do not wait for the WAL flush (set by the storage's connections, whatever the server's
        # default: the test cluster's is off too); run status keeps the server's setting.
        asked = "SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'"
        with instance.event_log_storage._engine.connect() as connection:
            assert tuple(connection.exec_driver_sql(asked).one()) == ("off", "client")
        with instance.run_storage.connect() as connection:
            assert connection.exec_driver_sql(asked).one()[1] != "client"
        result = defs().resolve_job_def("daily_metrics_job").execute_in_process(partition_key=DAY, instance=instance)
        assert result.success
        planned = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        assert len(planned) == len({e.dagster_event.asset_key for e in planned})  # one per asset, not per partition

    with psycopg.connect(postgres_database) as con:
        (status,), = con.execute("SELECT status FROM runs WHERE run_id = %s", [result.run_id]).fetchall()
        materialized = con.execute(
            "SELECT DISTINCT asset_key, partition FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'"
            " AND partition IS NOT NULL",
            [result.run_id],
        ).fetchall()
    assert status == "SUCCESS"
    assert sorted(materialized) == [('["raw_commits"]', DAY), ('["raw_installs"]', DAY)]  # the rest: unpartitioned

    names, _ = _registry(data / "registry.csv")
    expected = sorted((p, n) for (d, p), n in _expected_installs(data, names).items() if d.isoformat() == DAY)
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT download_day::VARCHAR, plugin_name, install_count FROM daily_installs ORDER BY ALL").fetchall()
    assert rows == [(DAY, p, n) for p, n in expected] and len(expected) > 5
