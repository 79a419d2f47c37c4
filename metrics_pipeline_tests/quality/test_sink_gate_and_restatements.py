"""A failed ERROR check holds the sinks on their previous values until the day is fixed; a late
file that changes a published value is logged as a restatement (warehouse and Postgres)."""

from pathlib import Path

import dagster as dg
import psycopg

from metrics_pipeline.commits.assets import latest_commits, monthly_commits, raw_commits, total_commits
from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.quality.restatement_sink import postgres_restatements
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.quality.sink_agreement import sinks_agree
from metrics_pipeline.sinks.assets import dynamodb_github_activity, dynamodb_install_activity
from metrics_pipeline.sinks.assets import postgres_github_activity, postgres_install_activity
from metrics_pipeline_tests.quality.quality_helpers import LeakyCommitsSource, failing_days, outcomes, run
from metrics_pipeline_tests.scenario import Commit, Download, Scenario

SHA = [f"{i:040x}" for i in range(1, 10)]


def _published_commits(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        return connection.execute(
            "SELECT granularity, period_start::text, commit_count FROM github_activity"
            " WHERE granularity <> 'LATEST' ORDER BY 1, 2"
        ).fetchall()


def test_a_failed_blocking_check_holds_the_sinks_on_their_previous_values(tmp_path, postgres_database):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "https://github.com/Org/Foo")])
    scenario.commits.write([Commit("Org/Foo", SHA[0], "2024-02-10 10:00:00"), Commit("Org/Foo", SHA[1], "2024-02-10 11:00:00")])
    sinks = {"postgres": PostgresResource(dsn=postgres_database)}
    chain = [raw_commits, monthly_commits, total_commits, latest_commits, postgres_github_activity]
    assert run(scenario, chain, "2024-02-10", **sinks).success  # one run: landing to sink
    before = [("MONTH", "2024-02-01", 2), ("TOTAL", None, 2)]
    assert _published_commits(postgres_database) == before

    # A source that also returns commits from outside the window: the day fails, nothing lands ...
    leaky = LeakyCommitsSource(directory=str(scenario.commits.directory),
                               extra_rows=[f"Org/Foo,{SHA[5]},2024-02-12 08:00:00", f"Org/Foo,{SHA[6]},2024-02-12 09:00:00"])
    bad = run(scenario, chain, "2024-02-10", commits_source=leaky, **sinks)
    assert not bad.success
    assert failing_days(bad, "raw_commits_match_source")["2024-02-10"]["out_of_window_source_rows"] == 2
    assert [e.asset_key.to_user_string() for e in bad.get_asset_materialization_events()] == []
    # ... the rollups and the sink did not run, and a catch-up run finds nothing to publish.
    assert run(scenario, chain[1:], **sinks).success
    assert scenario.query("SELECT commit_count FROM total_commits") == [(2,)]
    assert _published_commits(postgres_database) == before

    # Fixed: a correct run of the affected days passes and the sink publishes the new truth.
    scenario.commits.write([Commit("Org/Foo", SHA[2], "2024-02-11 10:00:00")])
    assert run(scenario, chain, "2024-02-10", "2024-02-12", **sinks).success
    assert _published_commits(postgres_database) == [("MONTH", "2024-02-01", 3), ("TOTAL", None, 3)]


def test_late_and_removed_files_are_logged_as_restatements(tmp_path, dynamodb_endpoint, dynamodb_stack, postgres_database):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([Download("2024-02-10 10:00:00", "napari-foo", times=3),
                              Download("2024-02-11 10:00:00", "napari-foo", times=1)])
    resources = {"dynamodb": DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint),
                 "postgres": PostgresResource(dsn=postgres_database)}

    def publish(first: str, last: str, tags=None) -> dg.ExecuteInProcessResult:
        assert run(scenario, [raw_installs, daily_installs], first, last, tags=tags).success
        assert run(scenario, [monthly_installs], "2024-02-01").success
        assert run(scenario, [total_installs]).success
        result = run(scenario, [dynamodb_install_activity], **resources)
        assert result.success
        return result

    first = publish("2024-02-10", "2024-02-11")
    assert first.asset_materializations_for_node("dynamodb__install_activity")[0].metadata["restatements"].value == 0

    scenario.downloads.write([Download("2024-02-10 23:59:59", "napari-foo", times=2)])  # a late file
    late = publish("2024-02-10", "2024-02-10")
    Path(scenario.downloads.directory / "batch-0000.parquet").unlink()  # the first file is withdrawn
    removed = publish("2024-02-10", "2024-02-11", tags={"metrics/allow-drop": "true"})
    assert removed.asset_materializations_for_node("dynamodb__install_activity")[0].metadata["restatements"].value == 3

    rows = scenario.query(
        "SELECT plugin_name, metric, granularity, period_start::VARCHAR, repo, old_value, new_value, run_id"
        " FROM restatements ORDER BY id"
    )
    assert rows == [
        ("napari-foo", "installs", "DAY", "2024-02-10", None, 3, 5, late.run_id),
        ("napari-foo", "installs", "MONTH", "2024-02-01", None, 4, 6, late.run_id),
        ("napari-foo", "installs", "DAY", "2024-02-10", None, 5, 2, removed.run_id),
        ("napari-foo", "installs", "DAY", "2024-02-11", None, 1, None, removed.run_id),
        ("napari-foo", "installs", "MONTH", "2024-02-01", None, 6, 2, removed.run_id),
    ]
    copied = run(scenario, [postgres_restatements], **resources)
    assert copied.asset_materializations_for_node("postgres__restatements")[0].metadata["copied"].value == 5
    with psycopg.connect(postgres_database) as connection:
        in_postgres = connection.execute(
            "SELECT plugin_name, metric, granularity, period_start::text, repo, old_value, new_value, run_id"
            " FROM restatements ORDER BY id").fetchall()
    assert in_postgres == rows
    assert run(scenario, [postgres_restatements], **resources).asset_materializations_for_node(
        "postgres__restatements")[0].metadata["copied"].value == 0

    # Both sinks on: the check's first evaluation compares every period, and they agree.
    sinks = [dynamodb_github_activity, postgres_install_activity, postgres_github_activity]
    assert run(scenario, [monthly_commits, total_commits, latest_commits, *sinks], **resources).success
    check = [*sinks, dynamodb_install_activity, sinks_agree]
    figures = {"dynamodb_writes_unfinished": 0, "examples": ""}
    agree = run(scenario, check, checks_only=True, **resources)
    assert outcomes(agree)[("sinks_agree", None)] == (True, figures | {
        "dynamodb_figures": 3, "postgres_figures": 3, "periods_differing": 0, "periods_compared": "everything"})

    def edit_postgres_day(count: int) -> None:
        with psycopg.connect(postgres_database) as connection:
            connection.execute("UPDATE install_activity SET install_count = %s WHERE granularity = 'DAY'", [count])

    # Later evaluations compare what both sinks published since: a hand edit of an older period is left to
    # the nightly reconciliation...
    edit_postgres_day(7)
    assert outcomes(run(scenario, check, checks_only=True, **resources))[("sinks_agree", None)] == (True, figures | {
        "dynamodb_figures": 0, "postgres_figures": 0, "periods_differing": 0, "periods_compared": "nothing"})
    # ...one in a period both sinks just published fails, and keeps failing until it is repaired.
    scenario.downloads.write([Download("2024-02-10 12:00:00", "napari-foo", times=1)])
    publish("2024-02-10", "2024-02-10")  # DynamoDB has the day; Postgres does not yet, so the check waits for it
    assert outcomes(run(scenario, check, checks_only=True, **resources))[("sinks_agree", None)] == (True, figures | {
        "dynamodb_figures": 0, "postgres_figures": 0, "periods_differing": 0, "periods_compared": "nothing"})
    assert run(scenario, sinks, **resources).success
    edit_postgres_day(7)
    published = "days 2024-02-10; months 2024-02-01..2024-02-29; totals"
    differ = figures | {"dynamodb_figures": 3, "postgres_figures": 3, "periods_differing": 1, "periods_compared": published,
                        "examples": "DAY:20240210: dynamodb 1 item(s) summing 3, postgres 1 item(s) summing 7"}
    for _ in range(2):
        assert outcomes(run(scenario, check, checks_only=True, **resources))[("sinks_agree", None)] == (False, differ)
    edit_postgres_day(3)
    assert outcomes(run(scenario, check, checks_only=True, **resources))[("sinks_agree", None)] == (True, differ | {
        "periods_differing": 0, "examples": ""})
