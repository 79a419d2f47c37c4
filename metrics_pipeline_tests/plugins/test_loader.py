"""A broken or unsafe plugin package is left out with a warning naming it; the others still load."""

import sys
from pathlib import Path

import pytest

from metrics_pipeline.plugins.loader import PluginLoadWarning, installed_plugins
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginSpecError, validate

BUILT_IN = {"ci_mirror_share", "countries", "installers", "operating_systems", "package_versions", "python_versions"}


def _package(root: Path, module: str, body: str, points: dict[str, str]) -> None:
    (root / f"{module}.py").write_text(body)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[metrics_pipeline.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


def test_broken_packages_are_left_out_by_name(tmp_path, monkeypatch):
    _package(tmp_path, "broken_metrics", "raise RuntimeError('cannot import')\n", {"broken": "broken_metrics:PLUGIN"})
    _package(tmp_path, "unsafe_metrics", (
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
])
def test_declarations_are_validated(change, message):
    base = dict(name="ok", summary="s", sql="SELECT 1", columns=(Column("n", "bigint", "x", measure=True),))
    with pytest.raises(PluginSpecError, match=message):
        validate(MetricPlugin(**(base | change)), "test")
