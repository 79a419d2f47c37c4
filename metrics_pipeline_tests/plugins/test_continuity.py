"""Continuity: a failing plugin fails only its own days and keeps their previous state; a plugin added
after 90 days of data backfills only itself; a source without the needed columns says so."""

from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import pytest

from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.plugins import builtins
from metrics_pipeline.plugins.assets import plugin_assets
from metrics_pipeline.plugins.export import plugin_datasets
from metrics_pipeline.plugins.sink import postgres_asset, postgres_table
from metrics_pipeline.plugins.snowflake_rows import SnowflakePluginRows
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginCheck
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.snowflake import SnowflakeConnection
from metrics_pipeline_tests.scenario import Download, Scenario
from metrics_pipeline_tests.support.plugin_downloads import Row, resources, run, write_rows

COUNT_SQL = """SELECT day, plugin_name, {value} AS downloads FROM source_rows
               WHERE list_contains($plugins, plugin_name) GROUP BY ALL"""


def counting(name: str, value: str = "sum(downloads)::BIGINT", sql: str | None = None) -> MetricPlugin:
    return MetricPlugin(name=name, summary=f"{name}: downloads per plugin",
                        columns=(Column("plugin_name", "varchar", "plugin"), Column("downloads", "bigint", "rows", measure=True)),
                        sql=sql or COUNT_SQL.format(value=value))


def _failures(result) -> dict[str, str]:
    return {e.step_key: e.event_specific_data.error.message for e in result.all_events if e.is_step_failure}


def test_a_failing_plugin_fails_only_its_own_days_and_keeps_their_previous_state(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    write_rows(scenario, [Row(f"2024-01-{d} 12:00:00", "napari-foo", times=d - 9) for d in (10, 11, 12)])
    before = counting("flaky")
    assert run(scenario, [plugin_assets(before)[0]], "2024-01-10", "2024-01-12").success
    # Now it fails on its second day (an exception inside its SQL); another plugin has bad SQL.
    flaky = counting("flaky", "CASE WHEN $start = DATE '2024-01-11' THEN error('boom') ELSE sum(downloads) * 10 END")
    broken = counting("broken", sql="SELEC nonsense FROM source_rows")
    good = counting("good")
    result = run(scenario, [plugin_assets(p)[0] for p in (flaky, broken, good)], "2024-01-10", "2024-01-12",
                 raise_on_error=False)
    failures = _failures(result)
    assert set(failures) == {"plugins__flaky__daily", "plugins__broken__daily"}
    assert "plugin 'flaky': its SQL failed on 2024-01-11" in failures["plugins__flaky__daily"]
    assert "boom" in failures["plugins__flaky__daily"]
    assert "plugin 'broken': its SQL failed on 2024-01-10: Parser Error" in failures["plugins__broken__daily"]
    assert scenario.query("SELECT day, downloads FROM plugin_good_daily ORDER BY day") == [
        (date(2024, 1, 10), 1), (date(2024, 1, 11), 2), (date(2024, 1, 12), 3)]
    # The first day committed on its own; the failing day and the one after keep the previous values.
    assert scenario.query("SELECT day, downloads FROM plugin_flaky_daily ORDER BY day") == [
        (date(2024, 1, 10), 10), (date(2024, 1, 11), 2), (date(2024, 1, 12), 3)]
    assert scenario.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'plugin_broken_daily'") == [(1,)]
    assert scenario.query("SELECT count(*) FROM plugin_broken_daily") == [(0,)]


def test_a_bound_parameter_other_than_the_frameworks_is_refused(tmp_path):
    scenario = Scenario(tmp_path)
    result = run(scenario, [plugin_assets(counting("sneaky", sql=COUNT_SQL.format(value="$secret")))[0]],
                 "2024-01-10", raise_on_error=False)
    assert "its SQL names $secret; only $start, $end, $plugins are bound" in _failures(result)["plugins__sneaky__daily"]


def _requested(evaluation) -> dict[str, list[str]]:
    return {r.key.to_user_string(): sorted(r.true_subset.expensively_compute_partition_keys())
            if r.true_subset.is_partitioned else ["(unpartitioned)"] for r in evaluation.results if r.true_subset.size}


def test_a_plugin_added_after_90_days_backfills_only_itself(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", "")])
    first = date(2024, 1, 1)
    days = [first + timedelta(days=n) for n in range(90)]  # 2024-01-01 .. 2024-03-30
    write_rows(scenario, [Row(f"{d} 12:00:00", "napari-foo", times=1 + d.day % 3) for d in days])
    installs = [raw_installs, daily_installs, monthly_installs, total_installs]
    assert run(scenario, [raw_installs, daily_installs], "2024-01-01", "2024-03-30").success
    assert run(scenario, [monthly_installs], "2024-01-01", "2024-03-01").success
    assert run(scenario, [total_installs]).success
    without = dg.Definitions(assets=installs, resources=resources(scenario))
    settled = dg.evaluate_automation_conditions(defs=without, instance=scenario.instance)

    plugin = counting("late_comer")
    daily, monthly, total = plugin_assets(plugin)
    unused = PostgresResource(dsn="postgresql://nobody@127.0.0.1:9/none")  # evaluated, never connected
    added = dg.Definitions(assets=[*installs, daily, monthly, total, postgres_asset(plugin)],
                           resources=resources(scenario, postgres=unused))
    evaluation = dg.evaluate_automation_conditions(defs=added, instance=scenario.instance, cursor=settled.cursor)
    assert _requested(evaluation) == {"plugins/late_comer/daily": [d.isoformat() for d in days]}

    landed_before = len(scenario.instance.fetch_materializations(raw_installs.key, limit=1000).records)
    assert run(scenario, [daily], days[0].isoformat(), days[-1].isoformat()).success  # the requested single run
    assert scenario.query("SELECT count(*), sum(downloads) FROM plugin_late_comer_daily") == [
        (90, sum(1 + d.day % 3 for d in days))]
    assert len(scenario.instance.fetch_materializations(raw_installs.key, limit=1000).records) == landed_before
    following = dg.evaluate_automation_conditions(defs=added, instance=scenario.instance, cursor=evaluation.cursor)
    assert _requested(following) == {"plugins/late_comer/monthly": ["2024-01-01", "2024-02-01", "2024-03-01"]}

    # Late data: the late-data sensor re-lands raw_installs for the day; the plugin follows that day only.
    write_rows(scenario, [Row("2024-02-10 13:00:00", "napari-foo", times=5)])
    assert run(scenario, [raw_installs], "2024-02-10").success
    late = dg.evaluate_automation_conditions(defs=added, instance=scenario.instance, cursor=following.cursor)
    assert _requested(late) == {"plugins/late_comer/daily": ["2024-02-10"]}

    assert run(scenario, [daily], "2024-02-10").success
    settled = dg.evaluate_automation_conditions(defs=added, instance=scenario.instance, cursor=late.cursor)
    assert _requested(settled) == {"plugins/late_comer/monthly": ["2024-02-01"]}

    # A new version of the plugin (other SQL): every landed day is rebuilt, then its own table
    # republished (the sink follows its rollups); nothing of installs.
    fixed = counting("late_comer", "(sum(downloads) * 2)::BIGINT")
    upgraded = dg.Definitions(assets=[*installs, *plugin_assets(fixed), postgres_asset(fixed)],
                              resources=resources(scenario, postgres=unused))
    rebuilt = dg.evaluate_automation_conditions(defs=upgraded, instance=scenario.instance, cursor=settled.cursor)
    assert _requested(rebuilt) == {"plugins/late_comer/daily": [d.isoformat() for d in days],
                                   "postgres/plugin_late_comer": ["(unpartitioned)"]}


def test_a_plugin_that_does_not_add_up_gets_no_rollups_and_other_sources_say_they_are_not_fed_yet(tmp_path):
    distinct = MetricPlugin(
        name="distinct_versions", summary="Distinct package versions downloaded per plugin and day", additive=False,
        columns=(Column("plugin_name", "varchar", "plugin"), Column("versions", "bigint", "distinct versions", measure=True)),
        sql="SELECT day, plugin_name, count(DISTINCT file_version) AS versions FROM source_rows GROUP BY ALL",
    )
    assert [a.key.to_user_string() for a in plugin_assets(distinct)] == ["plugins/distinct_versions/daily"]
    assert set(plugin_datasets((distinct,))) == {"plugin_distinct_versions_daily"}
    assert postgres_table(distinct).source_sql == "SELECT 'DAY', day, plugin_name, versions FROM plugin_distinct_versions_daily"
    scenario = Scenario(tmp_path)
    commits = counting("commit_counts")
    result = run(scenario, [plugin_assets(replace(commits, source="commits"))[0]], "2024-01-10", raise_on_error=False)
    assert ("plugin 'commit_counts' reads source 'commits', which the pipeline does not feed to plugins yet "
            "(implemented: downloads)") in _failures(result)["plugins__commit_counts__daily"]


@pytest.mark.parametrize("plugin", [builtins.PYTHON_VERSIONS, builtins.CI_MIRROR_SHARE], ids=lambda p: p.name)
def test_on_snowflake_a_breakdown_names_the_setting_and_the_missing_columns(tmp_path, plugin):
    scenario = Scenario(tmp_path)
    snowflake = SnowflakeConnection(account="a", user="u", database="d", schema_name="s")
    result = dg.materialize([plugin_assets(plugin)[0]], instance=scenario.instance, raise_on_error=False,
                            resources=resources(scenario) | {"plugin_rows": SnowflakePluginRows(snowflake=snowflake)},
                            partition_key="2024-01-10")
    message = _failures(result)[f"plugins__{plugin.name}__daily"]
    missing = {"python_versions": "python_version", "ci_mirror_share": "ci, installer_name"}[plugin.name]
    assert f"plugin {plugin.name!r} needs column(s) {missing} that METRICS_INSTALLS_SOURCE=snowflake does not provide" in message


def test_on_snowflake_a_plugin_within_the_views_columns_runs_and_matches_installs(tmp_path):
    scenario = Scenario(tmp_path, installs_kind="snowflake")
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write([
        Download("2024-01-10 23:59:59", "Napari_Foo", times=3), Download("2024-01-10 10:00:00", "napari-foo", ci=True),
        Download("2024-01-11 00:00:00", "napari-foo", installer="uv", times=2), Download("2024-01-11 00:00:00", "numpy"),
    ])
    by_type = MetricPlugin(
        name="download_types", summary="Downloads per plugin by the view's download_type",
        columns=(Column("plugin_name", "varchar", "plugin"), Column("download_type", "varchar", "label"),
                 Column("downloads", "bigint", "rows", measure=True), Column("installs", "bigint", "counted", measure=True)),
        sql="""SELECT day, plugin_name, download_type, sum(downloads) AS downloads,
                      coalesce(sum(downloads) FILTER (WHERE countable), 0) AS installs
               FROM source_rows WHERE list_contains($plugins, plugin_name) GROUP BY ALL""",
        requires=("day", "plugin_name", "download_type", "countable", "downloads"),
    )
    rows = SnowflakePluginRows(snowflake=scenario.downloads.connection, download_types=["pip"])
    assert run(scenario, [raw_installs, daily_installs, plugin_assets(by_type)[0]], "2024-01-10", "2024-01-11",
               plugin_rows=rows).success
    assert scenario.query("SELECT * FROM plugin_download_types_daily ORDER BY ALL") == [
        (date(2024, 1, 10), "napari-foo", "ci", 1, 0), (date(2024, 1, 10), "napari-foo", "pip", 3, 3),
        (date(2024, 1, 11), "napari-foo", "uv", 2, 0)]
    assert scenario.query("SELECT * FROM daily_installs") == [(date(2024, 1, 10), "napari-foo", 3)]
    assert scenario.query("SELECT day, source_rows FROM source_fingerprints WHERE source = 'plugin:download_types' "
                          "ORDER BY day") == [(date(2024, 1, 10), 4), (date(2024, 1, 11), 3)]


def test_a_plugins_own_check_reports_its_bad_rows(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([("napari-foo", ""), ("napari-bar", "")])
    write_rows(scenario, [Row("2024-01-10 12:00:00", "napari-foo", times=3), Row("2024-01-10 12:00:00", "napari-bar"),
                          Row("2024-01-11 12:00:00", "napari-foo", times=4)])
    capped = replace(counting("capped"), checks=(PluginCheck("at_most_two", "no plugin above 2 a day",
                                                             "SELECT count(*) FROM plugin_rows WHERE downloads > 2"),))
    result = run(scenario, [plugin_assets(capped)[0]], "2024-01-10", "2024-01-11")
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.metadata["bad_rows"].value) == ("at_most_two", False, 2)
