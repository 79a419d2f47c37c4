"""The documented example package (docs/example_plugin), installed with pip, tried with
`python -m metrics_pipeline.plugins check|run` on demo files and run by the pipeline: both equal an
independent count of the files."""

import io
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from metrics_pipeline.demo.generate import generate
from metrics_pipeline.plugins.__main__ import main
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline_tests.plugins.downloads import checks, run_plugins
from metrics_pipeline_tests.scenario import Scenario

EXAMPLE = Path(__file__).parents[2] / "docs" / "example_plugin"
FIRST, LAST = date(2024, 1, 30), date(2024, 2, 1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install` of a copy of the example (the build leaves files beside its source) into a target on sys.path."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, root / "source")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(root / "site"), str(root / "source")], check=True)
    patch = pytest.MonkeyPatch()
    patch.syspath_prepend(str(root / "site"))
    yield next(p for p in installed_plugins().plugins if p.name == "cpu_architectures")
    patch.undo()
    sys.modules.pop("example_metrics", None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    generate(root, FIRST, LAST, plugins=12, untracked=4)
    return root


def _by_hand(root: Path) -> dict[tuple, list[int]]:
    """(day, plugin, cpu) -> [downloads, installs] of registry plugins, straight from the Parquet files."""
    names = {re.sub(r"[-_.]+", "-", line.split(",")[0]).lower() for line in (root / "registry.csv").read_text().splitlines()[1:]}
    found: dict[tuple, list[int]] = {}
    for path in sorted((root / "downloads").rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            plugin = re.sub(r"[-_.]+", "-", row["file"]["project"]).lower()
            if plugin not in names:
                continue
            details = row["details"]
            key = (row["timestamp"].date(), plugin, details["cpu"] or "unknown")
            counted = (details["installer"] or {}).get("name") == "pip" and details["ci"] is not True
            totals = found.setdefault(key, [0, 0])
            totals[0] += 1
            totals[1] += int(counted)
    return found


def test_check_names_what_the_plugin_reads_and_fills(installed):
    out = io.StringIO()
    assert main(["check", "cpu_architectures"], out) == 0
    assert out.getvalue() == (
        "ok  cpu_architectures: reads countable, day, details.cpu, downloads, plugin_name; fills "
        "plugin_cpu_architectures_daily, plugin_cpu_architectures_monthly, plugin_cpu_architectures_total, "
        "plugin_cpu_architectures_monthly_cpus, plugin_cpu_architectures_installs_to_date\n")
    assert main(["check", "no_such_plugin"], io.StringIO()) == 1


def test_run_on_demo_files_and_the_pipeline_equal_an_independent_count(installed, demo, tmp_path):
    expected = sorted((day, plugin, cpu, n, i) for (day, plugin, cpu), (n, i) in _by_hand(demo).items())
    assert len({row[1] for row in expected}) > 3 and len({row[2] for row in expected}) > 2

    out = io.StringIO()
    assert main(["run", "cpu_architectures", "--day", str(FIRST), "--to", str(LAST), "--downloads", str(demo / "downloads"),
                 "--registry", str(demo / "registry.csv"), "--rows", "100000"], out) == 0
    printed = out.getvalue().split("\n\n")
    daily = printed[0].strip().splitlines()
    assert daily[0] == f"plugin_cpu_architectures_daily ({len(expected)} rows)"
    assert daily[1] == "day,plugin_name,cpu,downloads,installs"
    assert daily[2:] == [",".join(map(str, row)) for row in expected]
    assert printed[-1].strip() == "check cpu_installs_within_downloads: passed"

    scenario = Scenario(tmp_path)
    scenario.downloads.directory = demo / "downloads"
    scenario.registry_path = demo / "registry.csv"
    result = run_plugins(scenario, [installed], str(FIRST), str(LAST))
    assert result.success and checks(result)["cpu_architectures_computed"].passed
    assert scenario.query("SELECT * FROM plugin_cpu_architectures_daily ORDER BY ALL") == expected
    months = Counter()
    for day, plugin, _, _, _ in expected:
        months[(day.replace(day=1), plugin)] += 1
    assert scenario.query("SELECT * FROM plugin_cpu_architectures_monthly_cpus ORDER BY ALL") == sorted(
        (month, plugin, len({cpu for d, p, cpu, _, _ in expected if p == plugin and d.replace(day=1) == month}))
        for month, plugin in months)
    last_day = scenario.query("SELECT plugin_name, installs FROM plugin_cpu_architectures_installs_to_date "
                              f"WHERE day = DATE '{LAST}' ORDER BY 1")
    running = Counter()
    for _, plugin, _, _, installs in expected:
        running[plugin] += installs
    assert last_day == sorted((p, n) for p, n in running.items() if any(r[0] == LAST and r[1] == p for r in expected))


def test_the_authors_guide_lists_every_source_column():
    from metrics_pipeline.plugins import columns

    guide = (EXAMPLE.parent / "plugins.md").read_text()
    assert [name for name in columns.KNOWN if f"| `{name}` |" not in guide] == []
