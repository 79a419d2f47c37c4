"""Continuity: a failing plugin fails alone and keeps its previous state; a plugin added after 90 days
of data builds only itself; late data recomputes only its day; the catch-up sensor never sees a plugin
behind once its run is over; plugin checks report per day; a source without the columns says so."""

from dataclasses import replace
from datetime import date, timedelta

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.automation.consumers import consumer_inputs
from metrics_pipeline.installs.assets import daily_installs, raw_installs
from metrics_pipeline.plugins.assets import plugin_models
from metrics_pipeline.plugins.export import plugin_datasets
from metrics_pipeline.plugins.sink import postgres_asset, postgres_table
from metrics_pipeline.plugins.snowflake_rows import SnowflakePluginRows
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginCheck
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline_tests.plugins.downloads import INSTALLS, Row, checks, counting, run_plugins, write_rows
from metrics_pipeline_tests.scenario import Download, Scenario
from metrics_pipeline_tests.support.plugin_downloads import resources, run

FOO = "napari-foo"
UNUSED = PostgresResource(dsn="postgresql://nobody@127.0.0.1:9/none")  # evaluated, never connected


def _behind(scenario: Scenario, plugins) -> dict[str, int]:
    """What the catch-up sensor would find behind, for a graph holding these plugins."""
    graph = dg.Definitions(assets=[*INSTALLS, plugin_models(tuple(plugins)), *(postgres_asset(p) for p in plugins)],
                           resources=resources(scenario, postgres=UNUSED)).resolve_asset_graph()
    with DuckDBWarehouse(path=str(scenario.warehouse_path)).connect() as con:
        return {k: n for k, n in changes.lagging(con, consumer_inputs(graph)).items() if k.startswith("plugins/")}


def _refreshed(result) -> dict:
    return {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("plugin_models")}


def test_a_failing_plugin_fails_alone_keeps_its_previous_state_and_is_not_retried(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, "")])
    write_rows(scenario, [Row(f"2024-01-{d} 12:00:00", FOO, times=d - 9) for d in (10, 11, 12)])
    assert run_plugins(scenario, [counting("flaky")], "2024-01-10", "2024-01-12").success
    # A new version fails on its second day (an exception inside its SQL); another plugin has bad SQL.
    flaky = counting("flaky", "SELECT day, plugin_name, sum(CASE WHEN day = DATE '2024-01-11' THEN error('boom') "
                              "ELSE downloads * 10 END) AS downloads FROM source_rows GROUP BY ALL")
    broken = counting("broken", "SELECT day, plugin_name, 1 AS downloads FROM source_rows WHERE no_such_column")
    result = run_plugins(scenario, [flaky, broken, counting("good")])
    assert result.success and not [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    found = checks(result)
    assert not found["flaky_computed"].passed and "plugin 'flaky': its SQL failed on 2024-01-10..2024-01-12" in (
        found["flaky_computed"].description) and "boom" in found["flaky_computed"].description
    assert not found["broken_computed"].passed and "no_such_column" in found["broken_computed"].description
    assert found["good_computed"].passed
    assert {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("plugin_models")} == {
        "plugins/good_daily", "plugins/good_monthly", "plugins/good_total"}
    assert scenario.query("SELECT day, downloads FROM plugin_good_daily ORDER BY day") == [
        (date(2024, 1, 10), 1), (date(2024, 1, 11), 2), (date(2024, 1, 12), 3)]
    assert scenario.query("SELECT day, downloads FROM plugin_flaky_daily ORDER BY day") == [
        (date(2024, 1, 10), 1), (date(2024, 1, 11), 2), (date(2024, 1, 12), 3)]  # the previous model's rows
    # Failed once: the catch-up sensor does not ask again until the model or the data changes.
    assert _behind(scenario, [flaky, broken, counting("good")]) == {}


def test_a_plugin_added_after_90_days_builds_only_itself_and_late_data_only_its_day(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, "")])
    days = [date(2024, 1, 1) + timedelta(days=n) for n in range(90)]  # 2024-01-01 .. 2024-03-30
    write_rows(scenario, [Row(f"{d} 12:00:00", FOO, times=1 + d.day % 3) for d in days])
    first = counting("first")
    assert run_plugins(scenario, [first], "2024-01-01", "2024-03-30").success
    assert _behind(scenario, [first]) == {}

    late_comer = counting("late_comer")
    assert _behind(scenario, [first, late_comer]) == {"plugins/late_comer_daily": 0}  # the sensor asks for it
    landed_before = len(scenario.instance.fetch_materializations(raw_installs.key, limit=1000).records)
    result = run_plugins(scenario, [first, late_comer])
    assert len(scenario.instance.fetch_materializations(raw_installs.key, limit=1000).records) == landed_before
    refreshed = _refreshed(result)
    assert refreshed["plugins/late_comer_daily"]["days_refreshed"].value == "2024-01-01..2024-03-30"
    assert refreshed["plugins/first_daily"]["days_refreshed"].value == ""
    assert scenario.query("SELECT count(*), sum(downloads) FROM plugin_late_comer_daily") == [
        (90, sum(1 + d.day % 3 for d in days))]
    assert scenario.query("SELECT * FROM plugin_late_comer_monthly ORDER BY 1") == scenario.query(
        "SELECT * FROM plugin_first_monthly ORDER BY 1")

    # Late data re-lands one day; each plugin recomputes that day (and its month, the totals) only.
    write_rows(scenario, [Row("2024-02-10 13:00:00", FOO, times=5)])
    result = run_plugins(scenario, [first, late_comer], "2024-02-10")
    refreshed = _refreshed(result)
    assert refreshed["plugins/first_daily"]["days_refreshed"].value == "2024-02-10"
    assert refreshed["plugins/first_monthly"]["periods_refreshed"].value == "2024-02-01..2024-02-29"
    assert scenario.query("SELECT downloads FROM plugin_late_comer_daily WHERE day = DATE '2024-02-10'") == [(1 + 10 % 3 + 5,)]
    assert scenario.query("SELECT downloads FROM plugin_late_comer_total") == [(sum(1 + d.day % 3 for d in days) + 5,)]


def test_a_plugins_own_check_reports_failing_days_with_their_figures_in_one_evaluation(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, ""), ("napari-bar", "")])
    write_rows(scenario, [Row("2024-01-10 12:00:00", FOO, times=3), Row("2024-01-10 12:00:00", "napari-bar"),
                          Row("2024-01-11 12:00:00", FOO, times=4), Row("2024-01-12 12:00:00", FOO)])
    capped = counting("capped", checks=(PluginCheck("at_most_two", "no plugin above 2 a day",
                                                    "SELECT day, plugin_name FROM plugin_rows WHERE downloads > 2"),))
    result = run_plugins(scenario, [capped], "2024-01-10", "2024-01-12")
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "at_most_two"]
    assert not check.passed and check.metadata["days_checked"].value == 3 and check.metadata["days_failing"].value == 2
    assert check.metadata["failing_days"].value == {"2024-01-10": {"bad_rows": 1}, "2024-01-11": {"bad_rows": 1}}
    assert check.description.startswith("2 day(s) failed: 2024-01-10..2024-01-11")


def test_a_blocking_check_keeps_the_plugin_as_it_was(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, "")])
    write_rows(scenario, [Row("2024-01-10 12:00:00", FOO, times=3)])
    strict = counting("strict", checks=(PluginCheck("none_above_two", "at most two", blocking=True,
                                                    sql="SELECT day FROM plugin_rows WHERE downloads > 2"),))
    result = run_plugins(scenario, [strict], "2024-01-10")
    assert result.success
    assert "blocking check(s) none_above_two failed" in checks(result)["strict_computed"].description
    assert scenario.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'plugin_strict_daily'") == [(0,)]


def test_a_plugin_that_does_not_add_up_gets_no_sums_and_other_sources_say_they_are_not_fed_yet(tmp_path):
    distinct = MetricPlugin(
        name="distinct_versions", summary="Distinct package versions downloaded per plugin and day", additive=False,
        columns=(Column("plugin_name", "varchar", "plugin"), Column("versions", "bigint", "distinct versions", measure=True)),
        sql="SELECT day, plugin_name, count(DISTINCT file_version) AS versions FROM source_rows GROUP BY ALL",
        requires=("file_version",),
    )
    assert [k.to_user_string() for k in plugin_models((distinct,)).keys] == ["plugins/distinct_versions_daily"]
    assert set(plugin_datasets((distinct,))) == {"plugin_distinct_versions_daily"}
    assert postgres_table(distinct).source_sql == (
        "SELECT 'DAY', day, plugin_name, versions FROM plugin_distinct_versions_daily "
        "WHERE EXISTS (SELECT 1 FROM sink_days s WHERE day BETWEEN s.first_day AND s.last_day)")
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, "")])
    write_rows(scenario, [Row("2024-01-10 12:00:00", FOO)])
    result = run_plugins(scenario, [distinct, replace(counting("events_based"), source="events")], "2024-01-10")
    assert "reads source 'events', which the pipeline does not feed to plugins yet" in checks(result)["events_based_computed"].description
    assert scenario.query("SELECT * FROM plugin_distinct_versions_daily") == [(date(2024, 1, 10), FOO, 1)]


def test_on_snowflake_a_plugin_within_the_views_columns_runs_and_others_are_refused(tmp_path):
    scenario = Scenario(tmp_path, installs_kind="snowflake")
    scenario.set_registry([(FOO, "")])
    scenario.downloads.write([
        Download("2024-01-10 23:59:59", "Napari_Foo", times=3), Download("2024-01-10 10:00:00", FOO, ci=True),
        Download("2024-01-11 00:00:00", FOO, installer="uv", times=2), Download("2024-01-11 00:00:00", "numpy"),
    ])
    by_type = MetricPlugin(
        name="download_types", summary="Downloads per plugin by the view's download_type",
        columns=(Column("plugin_name", "varchar", "plugin"), Column("download_type", "varchar", "label"),
                 Column("downloads", "bigint", "rows", measure=True), Column("installs", "bigint", "counted", measure=True)),
        sql="""SELECT day, plugin_name, download_type, sum(downloads) AS downloads,
                      coalesce(sum(downloads) FILTER (WHERE countable), 0) AS installs
               FROM source_rows GROUP BY ALL""",
        requires=("download_type", "countable"),
    )
    cpu = counting("cpus", "SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows "
                           "WHERE details.cpu = 'x86_64' GROUP BY ALL", requires=("details.cpu",))
    rows = SnowflakePluginRows(snowflake=scenario.downloads.connection, download_types=["pip"])
    result = run(scenario, [raw_installs, daily_installs, plugin_models((by_type, cpu))], "2024-01-10", "2024-01-11",
                 plugin_rows=rows)
    assert result.success
    assert scenario.query("SELECT * FROM plugin_download_types_daily ORDER BY ALL") == [
        (date(2024, 1, 10), FOO, "ci", 1, 0), (date(2024, 1, 10), FOO, "pip", 3, 3), (date(2024, 1, 11), FOO, "uv", 2, 0)]
    assert scenario.query("SELECT * FROM daily_installs") == [(date(2024, 1, 10), FOO, 3)]
    assert checks(result)["cpus_computed"].description == (
        "plugin 'cpus' reads column(s) details.cpu, which METRICS_INSTALLS_SOURCE=snowflake does not provide (rule: a "
        "plugin requires only columns of the configured source; it has countable, day, download_type, downloads, plugin_name)")
