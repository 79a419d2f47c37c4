"""A broken or unsafe plugin package is left out with a warning naming it; the others still load."""

import sys

import pytest

from metrics_pipeline.plugins.loader import PluginLoadWarning, installed_plugins
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginRollup, PluginSpecError, validate
from metrics_pipeline_tests.plugins.downloads import entry_point_package

BUILT_IN = {"ci_mirror_share", "countries", "installers", "operating_systems", "package_versions", "python_versions"}


def test_broken_packages_are_left_out_by_name(tmp_path, monkeypatch):
    entry_point_package(tmp_path, "broken_metrics", "raise RuntimeError('cannot import')\n", {"broken": "broken_metrics:PLUGIN"})
    entry_point_package(tmp_path, "unsafe_metrics", (
        "from metrics_pipeline.plugins.spec import Column, MetricPlugin\n"
        "INJECTED = MetricPlugin(name='unsafe', summary='s', sql='SELECT 1', columns=(\n"
        "    Column('n; DROP TABLE daily_installs', 'bigint', 'x', measure=True),))\n"
        "TAKEN = MetricPlugin(name='countries', summary='another countries', sql='SELECT 1', columns=(\n"
        "    Column('n', 'bigint', 'x', measure=True),))\n"
    ), {"unsafe": "unsafe_metrics:INJECTED", "aaa": "unsafe_metrics:TAKEN", "absent": "unsafe_metrics:NOPE"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginLoadWarning) as warned:
        found = installed_plugins()
    sys.modules.pop("broken_metrics", None)
    sys.modules.pop("unsafe_metrics", None)
    assert {p.name for p in found.plugins} == BUILT_IN
    assert found.refused == {
        "broken_metrics:PLUGIN": "RuntimeError: cannot import",
        "unsafe_metrics:INJECTED": "PluginSpecError: entry point unsafe = unsafe_metrics:INJECTED (plugin 'unsafe'): column "
                                   "'n; DROP TABLE daily_installs' must match [a-z][a-z0-9_]{0,62}, be unique and not one of "
                                   "['day', 'granularity', 'month_start', 'period_key', 'period_start', 'updated_at']",
        "unsafe_metrics:TAKEN": "PluginSpecError: entry point aaa = unsafe_metrics:TAKEN: another installed plugin is "
                                "already named 'countries'",
        "unsafe_metrics:NOPE": "AttributeError: module 'unsafe_metrics' has no attribute 'NOPE'",
    }
    assert len(warned) == 4


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "Bad-Name"}, "name must match"),
    ({"source": "tweets"}, "source 'tweets' is not one of"),
    ({"summary": "two\nlines"}, "summary must be one non-empty line"),
    ({"columns": (Column("label", "varchar", "x"),)}, "columns must include at least one measure"),
    ({"columns": (Column("n", "text", "x", measure=True),)}, "column n has type 'text'"),
    ({"columns": (Column("label", "varchar", "x", measure=True),)}, "measure label of an additive plugin must be bigint or double"),
    ({"columns": (Column("day", "bigint", "x", measure=True),)}, "column 'day' must match"),
    ({"rollups": (PluginRollup("monthly", "s", (Column("n", "bigint", "x", measure=True),), "SELECT 1"),)},
     "rollup 'monthly': name must not be one of"),
    ({"rollups": (PluginRollup("r", "s", (Column("n", "bigint", "x", measure=True),), "SELECT 1", period="week"),)},
     "rollup r has period 'week', not one of"),
    ({"requires": [1]}, "requires must be column names"),
])
def test_declarations_are_validated(change, message):
    base = dict(name="ok", summary="s", sql="SELECT 1", columns=(Column("n", "bigint", "x", measure=True),))
    with pytest.raises(PluginSpecError, match=message):
        validate(MetricPlugin(**(base | change)), "test")


def test_a_plugin_taking_another_plugins_table_name_is_left_out(tmp_path, monkeypatch):
    entry_point_package(tmp_path, "clashing_metrics", (
        "from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginRollup\n"
        "COLUMNS = (Column('plugin_name', 'varchar', 'p'), Column('downloads', 'bigint', 'n', measure=True))\n"
        "SQL = 'SELECT day, plugin_name, sum(downloads) AS downloads FROM source_rows GROUP BY ALL'\n"
        "FOO = MetricPlugin(name='foo', summary='s', columns=COLUMNS, sql=SQL, rollups=(PluginRollup(\n"
        "    'bar_daily', 's', COLUMNS, 'SELECT day, plugin_name, downloads FROM daily_rows', period='day'),))\n"
        "FOO_BAR = MetricPlugin(name='foo_bar', summary='s', columns=COLUMNS, sql=SQL)\n"
    ), {"foo": "clashing_metrics:FOO", "foo_bar": "clashing_metrics:FOO_BAR"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginLoadWarning):
        found = installed_plugins()
    sys.modules.pop("clashing_metrics", None)
    assert "foo" in {p.name for p in found.plugins}
    assert found.refused == {"clashing_metrics:FOO_BAR": (
        "PluginSpecError: entry point foo_bar = clashing_metrics:FOO_BAR: table plugin_foo_bar_daily is already plugin "
        "'foo''s (rule: plugin and rollup names must not combine into another plugin's table names)")}
