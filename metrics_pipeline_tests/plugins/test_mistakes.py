"""Author mistakes fail at once with a message naming the plugin, the column and the rule: the ones a
declaration shows when its package loads (the plugin is left out), the ones only data shows in one
failed attempt of that plugin alone, which the catch-up sensor does not retry."""

import sys

import pytest

from metrics_pipeline.plugins.contract import check_declaration
from metrics_pipeline.plugins.loader import PluginLoadWarning, installed_plugins, usable_plugins
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginCheck, PluginRollup, PluginSpecError
from metrics_pipeline_tests.plugins.downloads import Row, checks, counting, entry_point_package, run_plugins, write_rows
from metrics_pipeline_tests.plugins.test_continuity import _behind
from metrics_pipeline_tests.scenario import Scenario

FOO = "napari-foo"
ROLLUP_COLUMNS = (Column("plugin_name", "varchar", "plugin"), Column("n", "bigint", "n", measure=True))


@pytest.mark.parametrize(("plugin", "message"), [
    (counting("no_day", "SELECT plugin_name, sum(downloads) AS downloads FROM source_rows GROUP BY ALL"),
     "plugin 'no_day': its SQL returns no 'day' column (rule: every row names its UTC day; it returned "
     "['plugin_name', 'downloads'])"),
    (counting("no_column", "SELECT day, plugin_name FROM source_rows GROUP BY ALL"),
     "plugin 'no_column': its SQL returns no column 'downloads' (rule: it selects every declared column by name"),
    (counting("unrequired", "SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows "
                            "WHERE details.cpu = 'arm64' GROUP BY ALL"),
     "plugin 'unrequired': its SQL reads 'details', which `requires` does not name (add 'details.installer.name', "
     "'details.installer.version', 'details.python', ... to `requires`; rule: source_rows holds day, plugin_name, "
     "downloads and the columns `requires` names)"),
    (counting("unrequired_field", "SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows "
                                  "WHERE details.cpu = 'arm64' GROUP BY ALL", requires=("details.python",)),
     "plugin 'unrequired_field': its SQL reads 'cpu', which `requires` does not name (add 'details.cpu' to `requires`"),
    (counting("unknown_column", requires=("details.gpu",)),
     "plugin 'unknown_column': requires names 'details.gpu', which is not a source column (rule: requires lists "
     "columns of the download schema by path, e.g. 'details.cpu'"),
    (counting("sneaky", "SELECT day, plugin_name, sum(downloads) * $secret AS downloads FROM source_rows GROUP BY ALL"),
     "plugin 'sneaky': its SQL names $secret; only $start, $end, $plugins are bound"),
    (counting("writer", "DELETE FROM source_rows"),
     "plugin 'writer': its SQL must be one SELECT (rule: plugin SQL only reads)"),
    (counting("check_no_day", checks=(PluginCheck("positive", "positive", "SELECT count(*) FROM plugin_rows"),)),
     "plugin 'check_no_day': its check positive returns no 'day' column (rule: every row names its UTC day"),
    (counting("rollup_no_month", rollups=(PluginRollup("m", "per month", ROLLUP_COLUMNS,
                                                       "SELECT plugin_name, count(*) AS n FROM daily_rows GROUP BY ALL"),)),
     "plugin 'rollup_no_month': its rollup m returns no 'month_start' column (rule: every row names its month_start"),
], ids=lambda value: value.name if isinstance(value, MetricPlugin) else None)
def test_a_declaration_mistake_is_refused_when_the_package_loads(plugin, message):
    with pytest.raises(PluginSpecError) as refused:
        check_declaration(plugin)
    assert str(refused.value).startswith(message)


def test_the_loader_leaves_such_a_plugin_out_naming_it_and_the_configured_source_is_checked_too(tmp_path, monkeypatch):
    entry_point_package(tmp_path, "mistaken_metrics", (
        "from metrics_pipeline.plugins.spec import Column, MetricPlugin\n"
        "COLUMNS = (Column('plugin_name', 'varchar', 'p'), Column('downloads', 'bigint', 'n', measure=True))\n"
        "NO_DAY = MetricPlugin(name='no_day', summary='s', columns=COLUMNS,\n"
        "    sql='SELECT plugin_name, sum(downloads) AS downloads FROM source_rows GROUP BY ALL')\n"
        "CPUS = MetricPlugin(name='cpus', summary='s', columns=COLUMNS, requires=('details.cpu',),\n"
        "    sql=\"SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows WHERE details.cpu = 'arm64' GROUP BY ALL\")\n"
    ), {"no_day": "mistaken_metrics:NO_DAY", "cpus": "mistaken_metrics:CPUS"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginLoadWarning) as warned:
        found = installed_plugins()
    assert [str(w.message) for w in warned] == [
        "metric plugin left out: entry point no_day = mistaken_metrics:NO_DAY: plugin 'no_day': its SQL returns no "
        "'day' column (rule: every row names its UTC day; it returned ['plugin_name', 'downloads'])"]
    assert "cpus" in {p.name for p in found.plugins} and "no_day" not in {p.name for p in found.plugins}
    with pytest.warns(PluginLoadWarning) as warned:
        usable = usable_plugins({"METRICS_INSTALLS_SOURCE": "snowflake"})
    assert len(warned) == 8  # cpus, no_day again, and the six built-ins
    assert usable.refused["cpus"] == (
        "plugin 'cpus' reads column(s) details.cpu, which METRICS_INSTALLS_SOURCE=snowflake does not provide (rule: a "
        "plugin requires only columns of the configured source; it has countable, day, download_type, downloads, plugin_name)")
    assert "python_versions" in usable.refused  # built-ins need columns the Snowflake view lacks
    sys.modules.pop("mistaken_metrics", None)


DATA_MISTAKES = {
    "null_dimension": (
        MetricPlugin(name="null_dimension", summary="Downloads per plugin and CI flag",
                     columns=(Column("plugin_name", "varchar", "p"), Column("ci", "boolean", "details.ci"),
                              Column("downloads", "bigint", "n", measure=True)),
                     sql="SELECT day, plugin_name, ci, sum(downloads) AS downloads FROM source_rows GROUP BY ALL",
                     requires=("ci",)),
        "plugin 'null_dimension': its SQL returned 1 row(s) with a NULL 'ci' (rule: dimensions are the key and never "
        "NULL; text ones read NULL and empty as unknown, others need coalesce(...))"),
    "duplicate_key": (
        counting("duplicate_key", "SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows "
                                  "GROUP BY day, plugin_name, file_version", requires=("file_version",)),
        "plugin 'duplicate_key': its SQL returned 2 rows for the key (day=2024-01-10, plugin_name='napari-foo') "
        "(rule: one row per day and plugin_name: group by every dimension; NULL and '' both count as 'unknown')"),
    "outside_window": (
        counting("outside_window", "SELECT day + 1 AS day, plugin_name, sum(downloads) AS downloads "
                                   "FROM source_rows GROUP BY ALL"),
        "plugin 'outside_window': its SQL returned rows for 2024-01-12 outside its window 2024-01-10..2024-01-11 "
        "(rule: day stays within $start (inclusive) and $end (exclusive))"),
    "wrong_type": (
        counting("wrong_type", "SELECT day, plugin_name, 'many' AS downloads FROM source_rows GROUP BY ALL"),
        "plugin 'wrong_type': its SQL returned values in column 'downloads' that are not bigint (rule: each column "
        "converts to its declared type)"),
}


def test_a_data_mistake_fails_that_plugin_once_with_the_named_message(tmp_path):
    scenario = Scenario(tmp_path)
    scenario.set_registry([(FOO, "")])
    write_rows(scenario, [Row("2024-01-10 12:00:00", FOO, ci=None), Row("2024-01-10 13:00:00", FOO, version="2.0"),
                          Row("2024-01-11 12:00:00", FOO)])
    plugins = [plugin for plugin, _ in DATA_MISTAKES.values()] + [counting("good")]
    for plugin, _ in DATA_MISTAKES.values():
        check_declaration(plugin)  # nothing a declaration shows: only the data does
    result = run_plugins(scenario, plugins, "2024-01-10", "2024-01-11")
    assert result.success
    assert not [e for e in result.all_events if e.event_type_value in ("STEP_RESTARTED", "STEP_UP_FOR_RETRY")]
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name.endswith("_computed")]
    assert sorted(e.check_name for e in evaluations if not e.passed) == sorted(f"{n}_computed" for n in DATA_MISTAKES)
    found = checks(result)
    for name, (_, message) in DATA_MISTAKES.items():
        assert found[f"{name}_computed"].description == message
    assert found["good_computed"].passed and scenario.query("SELECT sum(downloads) FROM plugin_good_daily") == [(3,)]
    for name in DATA_MISTAKES:
        assert scenario.query(f"SELECT count(*) FROM information_schema.tables WHERE table_name = 'plugin_{name}_daily'") == [(0,)]
    assert _behind(scenario, plugins) == {}  # not asked again until the package or the data changes
