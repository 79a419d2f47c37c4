"""The built-in breakdowns, hand-computed: NULL and empty values count as "unknown", UTC day/month/leap-day
boundaries hold, untracked projects never count, and the pip-only, non-CI `installs` sum to the installs
rollups exactly; one run computes every built-in over the whole window."""

from datetime import date

import pytest

from metrics_pipeline.plugins import builtins
from metrics_pipeline.plugins.contract import check_declaration
from metrics_pipeline.plugins.loader import installed_plugins
from metrics_pipeline_tests.plugins.downloads import Row, checks, run_plugins, write_rows
from metrics_pipeline_tests.scenario import Scenario

BUILTINS = [builtins.PYTHON_VERSIONS, builtins.OPERATING_SYSTEMS, builtins.INSTALLERS, builtins.COUNTRIES,
            builtins.PACKAGE_VERSIONS, builtins.CI_MIRROR_SHARE]
JAN31, FEB1, FEB29 = date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 29)
FOO, BAR = "napari-foo", "napari-bar"

ROWS = [
    Row("2024-01-30 23:59:59", FOO, times=9),  # the day before the landed days: never counted
    Row("2024-01-31 23:59:59", FOO, times=3),  # pip, 3.11, Linux, US, 1.0: installs
    Row("2024-01-31 10:00:00", "Napari_Foo", installer="uv", ci=None, python="3.10.1", system="Windows",
        country="DE", version="1.1", times=2),
    Row("2024-01-31 11:00:00", FOO, ci=True, python=None, system=None, country=None, version=None),  # CI
    Row("2024-02-01 00:00:00", BAR, ci=None, python="3.12", system="Darwin", country=None, version="0.2", times=4),
    Row("2024-02-01 05:00:00", BAR, installer="bandersnatch", python=None, system=None, country=None, version="0.2"),
    Row("2024-02-01 06:00:00", BAR, installer=None, python="garbage", country="FR", version="0.2", times=2),
    Row("2024-02-01 08:00:00", BAR, installer="", python="", system="", country="", version=""),  # empty = NULL
    Row("2024-02-01 07:00:00", "numpy", times=5),  # not a registry plugin
    Row("2024-02-29 23:00:00", FOO, python="3.11.2"),  # leap day
    Row("2024-03-01 00:00:00", FOO, times=7),  # after the landed days
]

DAILY = {
    "python_versions": [
        (JAN31, FOO, "3.10", 2, 0), (JAN31, FOO, "3.11", 3, 3), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "3.12", 4, 4), (FEB1, BAR, "unknown", 4, 0), (FEB29, FOO, "3.11", 1, 1),
    ],
    "operating_systems": [
        (JAN31, FOO, "Linux", 3, 3), (JAN31, FOO, "Windows", 2, 0), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "Darwin", 4, 4), (FEB1, BAR, "Linux", 2, 0), (FEB1, BAR, "unknown", 2, 0), (FEB29, FOO, "Linux", 1, 1),
    ],
    "installers": [
        (JAN31, FOO, "pip", 4), (JAN31, FOO, "uv", 2),
        (FEB1, BAR, "bandersnatch", 1), (FEB1, BAR, "pip", 4), (FEB1, BAR, "unknown", 3), (FEB29, FOO, "pip", 1),
    ],
    "countries": [
        (JAN31, FOO, "DE", 2, 0), (JAN31, FOO, "US", 3, 3), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "FR", 2, 0), (FEB1, BAR, "unknown", 6, 4), (FEB29, FOO, "US", 1, 1),
    ],
    "package_versions": [
        (JAN31, FOO, "1.0", 3, 3), (JAN31, FOO, "1.1", 2, 0), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "0.2", 7, 4), (FEB1, BAR, "unknown", 1, 0), (FEB29, FOO, "1.0", 1, 1),
    ],
    "ci_mirror_share": [
        (JAN31, FOO, "ci", 1), (JAN31, FOO, "install", 3), (JAN31, FOO, "other", 2),
        (FEB1, BAR, "install", 4), (FEB1, BAR, "mirror", 1), (FEB1, BAR, "other", 3), (FEB29, FOO, "install", 1),
    ],
}


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    scenario = Scenario(tmp_path_factory.mktemp("builtins"))
    scenario.set_registry([(FOO, ""), (BAR, "")])
    write_rows(scenario, ROWS)
    result = run_plugins(scenario, BUILTINS, "2024-01-31", "2024-02-29")
    assert result.success
    return scenario, result


def test_every_builtin_passes_the_load_time_contract():
    """The loader skips the contract for its own entry points (a tick's process saves ~0.1 s); this
    is where they are held to it."""
    assert {p.name for p in installed_plugins().plugins} >= {p.name for p in BUILTINS}
    for plugin in BUILTINS:
        assert check_declaration(plugin) is plugin


@pytest.mark.parametrize("plugin", BUILTINS, ids=lambda p: p.name)
def test_each_breakdown_by_hand(landed, plugin):
    scenario, _ = landed
    assert scenario.query(f"SELECT * FROM {plugin.table('daily')} ORDER BY ALL") == DAILY[plugin.name]


def test_rollups_of_the_python_breakdown(landed):
    scenario, _ = landed
    assert scenario.query("SELECT * FROM plugin_python_versions_monthly ORDER BY ALL") == [
        (date(2024, 1, 1), FOO, "3.10", 2, 0), (date(2024, 1, 1), FOO, "3.11", 3, 3), (date(2024, 1, 1), FOO, "unknown", 1, 0),
        (date(2024, 2, 1), BAR, "3.12", 4, 4), (date(2024, 2, 1), BAR, "unknown", 4, 0), (date(2024, 2, 1), FOO, "3.11", 1, 1),
    ]
    assert scenario.query("SELECT * FROM plugin_python_versions_total ORDER BY ALL") == [
        (BAR, "3.12", 4, 4), (BAR, "unknown", 4, 0), (FOO, "3.10", 2, 0), (FOO, "3.11", 4, 4), (FOO, "unknown", 1, 0),
    ]


def test_pip_non_ci_installs_equal_the_installs_rollups_exactly(landed):
    scenario, _ = landed
    assert scenario.query("SELECT download_day, plugin_name, install_count FROM daily_installs ORDER BY ALL") == [
        (JAN31, FOO, 3), (FEB1, BAR, 4), (FEB29, FOO, 1)]
    for plugin in ("python_versions", "operating_systems", "countries", "package_versions"):
        assert scenario.query(f"SELECT day, plugin_name, sum(installs) FROM plugin_{plugin}_daily GROUP BY ALL "
                              "HAVING sum(installs) > 0 ORDER BY ALL") == scenario.query(
            "SELECT * FROM daily_installs ORDER BY ALL"), plugin
        assert scenario.query(f"SELECT month_start, plugin_name, sum(installs) FROM plugin_{plugin}_monthly GROUP BY ALL "
                              "HAVING sum(installs) > 0 ORDER BY ALL") == scenario.query(
            "SELECT * FROM monthly_installs ORDER BY ALL"), plugin
        assert scenario.query(f"SELECT plugin_name, sum(installs) FROM plugin_{plugin}_total GROUP BY ALL "
                              "HAVING sum(installs) > 0 ORDER BY ALL") == scenario.query(
            "SELECT * FROM total_installs ORDER BY ALL"), plugin
    # Every breakdown counts the same downloads: nothing dropped for a missing dimension.
    for plugin in DAILY:
        assert scenario.query(f"SELECT sum(downloads) FROM plugin_{plugin}_total") == [(15,)], plugin


def test_one_step_one_evaluation_per_check_naming_the_days(landed):
    scenario, result = landed
    steps = [e.step_key for e in result.all_events if e.is_step_start]
    assert steps.count("plugin_models") == 1
    found = checks(result)
    assert found["installs_within_downloads"].passed
    assert found["installs_within_downloads"].metadata["days_checked"].value == 30  # Jan 31 .. Feb 29
    assert [e.check_name for e in result.get_asset_check_evaluations()].count("installs_within_downloads") == 4
