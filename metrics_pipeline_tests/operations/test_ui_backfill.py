"""The UI path end to end: webserver + daemon (`dagster dev`) on 127.0.0.1 with a temporary
DAGSTER_HOME, a backfill of the landings over a range launched through the GraphQL mutation the UI
uses (`launchPartitionBackfill`): one run lands the range and everything downstream follows (the
catch-up sensor's one run). The sinks must then hold exactly what day-by-day runs publish."""

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
from psycopg import conninfo

from metrics_pipeline.demo.generate import generate
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline_tests.operations.ui_server import REPO_ROOT, dagster_dev, instance_home, wait_for
from metrics_pipeline_tests.sinks.sink_helpers import scan_table

DAYS = 8  # ending yesterday: every partition of the code location, across a month end some days
ROLLUPS = ["daily_installs", "monthly_installs", "monthly_commits", "total_installs", "total_commits", "latest_commits"]

IN_PROGRESS = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack }
  ... on InvalidSubsetError { message } ... on PartitionSetNotFoundError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } ... on PythonError { message } } }
"""
ALL_ASSETS = """
{ assetNodes(loadMaterializations: false) { assetKey { path } isPartitioned } }
"""
SINK_ASSETS = """
{ assetNodes(group: {groupName: "sinks", repositoryName: "__repository__", repositoryLocationName: "metrics_pipeline"})
  { assetKey { path } } }
"""


def _database(admin_dsn: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return conninfo.make_conninfo(admin_dsn, dbname=name)


def _settings(root, first: str, dsn: str, stack: str, endpoint: str) -> dict[str, str]:
    return {
        "METRICS_START_DATE": first, "METRICS_DOWNLOADS_DIR": str(root / "demo" / "downloads"),
        "METRICS_COMMITS_DIR": str(root / "demo" / "commits"), "METRICS_REGISTRY_CSV": str(root / "demo" / "registry.csv"),
        "METRICS_WAREHOUSE_PATH": str(root / "warehouse.duckdb"), "METRICS_POSTGRES_DSN": dsn,
        "METRICS_DYNAMODB_STACK": stack, "METRICS_DYNAMODB_ENDPOINT_URL": endpoint,
    }


def _sink_contents(dsn: str, stack: str, endpoint: str) -> dict:
    dynamodb = DynamoDBResource(stack=stack, endpoint_url=endpoint)
    contents = {
        "install-activity": scan_table(dynamodb, "install-activity", "type_timestamp"),
        "github-activity": scan_table(dynamodb, "github-activity", "type_identifier"),
    }
    with psycopg.connect(dsn) as con:
        contents["pg install_activity"] = sorted(con.execute(
            "SELECT plugin_name, granularity, period_start, install_count FROM install_activity").fetchall(), key=str)
        contents["pg github_activity"] = sorted(con.execute(
            "SELECT plugin_name, repo, granularity, period_start, commit_count, latest_commit_at FROM github_activity"
        ).fetchall(), key=str)
    return contents


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> float:
    event = instance.get_latest_materialization_event(key)
    return event.timestamp if event else 0.0


def test_a_ui_backfill_and_its_automation_publish_what_day_by_day_runs_publish(
    tmp_path, postgres_dsn, dynamodb_endpoint, monkeypatch,
):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = yesterday - timedelta(days=DAYS - 1)
    days = [(first + timedelta(days=i)).isoformat() for i in range(DAYS)]
    stack = f"t{uuid.uuid4().hex[:10]}"
    ui_root, ref_root = tmp_path / "ui", tmp_path / "reference"
    for root in (ui_root, ref_root):
        generate(root / "demo", first, yesterday, plugins=25, untracked=8)
    ui = _settings(ui_root, days[0], _database(postgres_dsn), stack, dynamodb_endpoint)
    ui["METRICS_CATCH_UP_SECONDS"] = "30"  # the test does not wait the production 2 minutes
    ref = _settings(ref_root, days[0], _database(postgres_dsn), stack + "r", dynamodb_endpoint)

    reference = None
    try:
        started = time.monotonic()
        home = instance_home(tmp_path)
        monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's event logs live under it
        with dagster_dev(home, REPO_ROOT / "workspace.yaml", ui, tmp_path) as server, \
                dg.DagsterInstance.from_config(str(home)) as instance:
            sinks = [dg.AssetKey(node["assetKey"]["path"]) for node in server.graphql(SINK_ASSETS)["assetNodes"]]
            assert len(sinks) >= 4, sinks
            params = {  # a backfill of the landings alone, as a user picks the partitioned assets in the UI
                "partitionNames": days,
                "assetSelection": [{"path": [name]} for name in ("raw_installs", "raw_commits")],
                "fromFailure": False,
            }
            launched = server.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            backfill = launched["backfillId"]
            # The reference runs meanwhile (mostly the UI side waits for automation ticks).
            reference = subprocess.Popen(
                [sys.executable, "-m", "metrics_pipeline_tests.operations.day_by_day", days[0], days[-1]],
                cwd=REPO_ROOT, env={**os.environ, **ref}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )

            def backfill_done():
                status = server.graphql(BACKFILL_STATUS, {"id": backfill})["partitionBackfillOrError"]["status"]
                assert status not in ("FAILED", "CANCELED", "COMPLETED_FAILED"), status
                return status in ("COMPLETED", "COMPLETED_SUCCESS")

            wait_for(backfill_done, 150, "the backfill", server, interval=2)
            backfill_runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill}))
            assert len(backfill_runs) == 1 and backfill_runs[0].status.value == "SUCCESS"  # one run for the range

            def settled():
                """Sinks published after every rollup, and nothing queued or running."""
                if instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in IN_PROGRESS])):
                    return False
                newest_rollup = max(_latest(instance, dg.AssetKey(name)) for name in ROLLUPS)
                return newest_rollup > 0 and all(_latest(instance, key) > newest_rollup for key in sinks)

            # Sinks newer than every rollup with nothing queued or running: what they hold now is final
            # (a later publish could only follow a rollup change, and nothing is left to change one).
            wait_for(settled, started + 300 - time.monotonic(), "the rollups and sinks to follow by automation", server, interval=3)
            failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            assert not failed, [(r.job_name, r.run_id) for r in failed]
            triggers = sorted(r.tags.get("metrics/trigger", "") for r in instance.get_runs())
            assert triggers == ["", "catch-up"]  # the UI's one backfill run, then one run for everything after it

        out, err = reference.communicate(timeout=180)
    finally:
        if reference is not None and reference.poll() is None:
            reference.kill()
            reference.wait()
    assert reference.returncode == 0, err[-3000:]

    published = _sink_contents(ui["METRICS_POSTGRES_DSN"], stack, dynamodb_endpoint)
    expected = _sink_contents(ref["METRICS_POSTGRES_DSN"], stack + "r", dynamodb_endpoint)
    assert published == expected
    day_items = {key for (_, key) in published["install-activity"] if key.startswith("DAY:")}
    assert day_items == {f"DAY:{day.replace('-', '')}" for day in days}  # every day reached the hub
    assert len(published["pg github_activity"]) > 10
