"""The built-in breakdowns, hand-computed: null dimensions count as "unknown", UTC day/month/leap-day
boundaries hold, and the pip-only, non-CI `installs` sum to the installs rollups exactly."""

from datetime import date

import pytest

from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline.plugins import builtins
from metrics_pipeline.plugins.assets import plugin_assets
from metrics_pipeline_tests.scenario import Scenario
from metrics_pipeline_tests.support.plugin_downloads import Row, run, write_rows

BUILTINS = [builtins.PYTHON_VERSIONS, builtins.OPERATING_SYSTEMS, builtins.INSTALLERS, builtins.COUNTRIES,
            builtins.PACKAGE_VERSIONS, builtins.CI_MIRROR_SHARE]
JAN31, FEB1, FEB29 = date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 29)
FOO, BAR = "napari-foo", "napari-bar"

ROWS = [
    Row("2024-01-30 23:59:59", FOO, times=9),  # the day before the window: never counted
    Row("2024-01-31 23:59:59", FOO, times=3),  # pip, 3.11, Linux, US, 1.0: installs
    Row("2024-01-31 10:00:00", "Napari_Foo", installer="uv", ci=None, python="3.10.1", system="Windows",
        country="DE", version="1.1", times=2),
    Row("2024-01-31 11:00:00", FOO, ci=True, python=None, system=None, country=None, version=None),  # CI
    Row("2024-02-01 00:00:00", BAR, ci=None, python="3.12", system="Darwin", country=None, version="0.2", times=4),
    Row("2024-02-01 05:00:00", BAR, installer="bandersnatch", python=None, system=None, country=None, version="0.2"),
    Row("2024-02-01 06:00:00", BAR, installer=None, python="garbage", country="FR", version="0.2", times=2),
    Row("2024-02-01 07:00:00", "numpy", times=5),  # not a registry plugin
    Row("2024-02-29 23:00:00", FOO, python="3.11.2"),  # leap day
    Row("2024-03-01 00:00:00", FOO, times=7),  # after the window
]

DAILY = {
    "python_versions": [
        (JAN31, FOO, "3.10", 2, 0), (JAN31, FOO, "3.11", 3, 3), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "3.12", 4, 4), (FEB1, BAR, "unknown", 3, 0), (FEB29, FOO, "3.11", 1, 1),
    ],
    "operating_systems": [
        (JAN31, FOO, "Linux", 3, 3), (JAN31, FOO, "Windows", 2, 0), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "Darwin", 4, 4), (FEB1, BAR, "Linux", 2, 0), (FEB1, BAR, "unknown", 1, 0), (FEB29, FOO, "Linux", 1, 1),
    ],
    "installers": [
        (JAN31, FOO, "pip", 4), (JAN31, FOO, "uv", 2),
        (FEB1, BAR, "bandersnatch", 1), (FEB1, BAR, "pip", 4), (FEB1, BAR, "unknown", 2), (FEB29, FOO, "pip", 1),
    ],
    "countries": [
        (JAN31, FOO, "DE", 2, 0), (JAN31, FOO, "US", 3, 3), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "FR", 2, 0), (FEB1, BAR, "unknown", 5, 4), (FEB29, FOO, "US", 1, 1),
    ],
    "package_versions": [
        (JAN31, FOO, "1.0", 3, 3), (JAN31, FOO, "1.1", 2, 0), (JAN31, FOO, "unknown", 1, 0),
        (FEB1, BAR, "0.2", 7, 4), (FEB29, FOO, "1.0", 1, 1),
    ],
    "ci_mirror_share": [
        (JAN31, FOO, "ci", 1), (JAN31, FOO, "install", 3), (JAN31, FOO, "other", 2),
        (FEB1, BAR, "install", 4), (FEB1, BAR, "mirror", 1), (FEB1, BAR, "other", 2), (FEB29, FOO, "install", 1),
    ],
}


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Scenario:
    scenario = Scenario(tmp_path_factory.mktemp("builtins"))
    scenario.set_registry([(FOO, ""), (BAR, "")])
    write_rows(scenario, ROWS)
    days = [raw_installs, daily_installs] + [plugin_assets(p)[0] for p in BUILTINS]
    assert run(scenario, days, "2024-01-31", "2024-02-29").success
    assert run(scenario, [monthly_installs] + [plugin_assets(p)[1] for p in BUILTINS], "2024-01-01", "2024-02-01").success
    assert run(scenario, [total_installs] + [plugin_assets(p)[2] for p in BUILTINS]).success
    return scenario


@pytest.mark.parametrize("plugin", BUILTINS, ids=lambda p: p.name)
def test_each_breakdown_by_hand(landed, plugin):
    assert landed.query(f"SELECT * FROM {plugin.table('daily')} ORDER BY ALL") == DAILY[plugin.name]


def test_rollups_of_the_python_breakdown(landed):
    assert landed.query("SELECT * FROM plugin_python_versions_monthly ORDER BY ALL") == [
        (date(2024, 1, 1), FOO, "3.10", 2, 0), (date(2024, 1, 1), FOO, "3.11", 3, 3), (date(2024, 1, 1), FOO, "unknown", 1, 0),
        (date(2024, 2, 1), BAR, "3.12", 4, 4), (date(2024, 2, 1), BAR, "unknown", 3, 0), (date(2024, 2, 1), FOO, "3.11", 1, 1),
    ]
    assert landed.query("SELECT * FROM plugin_python_versions_total ORDER BY ALL") == [
        (BAR, "3.12", 4, 4), (BAR, "unknown", 3, 0), (FOO, "3.10", 2, 0), (FOO, "3.11", 4, 4), (FOO, "unknown", 1, 0),
    ]


def test_pip_non_ci_installs_equal_the_installs_rollups_exactly(landed):
    assert landed.query("SELECT download_day, plugin_name, install_count FROM daily_installs ORDER BY ALL") == [
        (JAN31, FOO, 3), (FEB1, BAR, 4), (FEB29, FOO, 1)]
    for plugin in ("python_versions", "operating_systems", "countries", "package_versions"):
        assert landed.query(f"SELECT day, plugin_name, sum(installs) FROM plugin_{plugin}_daily GROUP BY ALL "
                            "HAVING sum(installs) > 0 ORDER BY ALL") == landed.query(
            "SELECT * FROM daily_installs ORDER BY ALL"), plugin
        assert landed.query(f"SELECT month_start, plugin_name, sum(installs) FROM plugin_{plugin}_monthly GROUP BY ALL "
                            "HAVING sum(installs) > 0 ORDER BY ALL") == landed.query(
            "SELECT * FROM monthly_installs ORDER BY ALL"), plugin
        assert landed.query(f"SELECT plugin_name, sum(installs) FROM plugin_{plugin}_total GROUP BY ALL "
                            "HAVING sum(installs) > 0 ORDER BY ALL") == landed.query(
            "SELECT * FROM total_installs ORDER BY ALL"), plugin
    # Every breakdown counts the same downloads: nothing dropped for a missing dimension.
    for plugin in DAILY:
        assert landed.query(f"SELECT sum(downloads) FROM plugin_{plugin}_total") == [(14,)], plugin


def test_each_day_records_its_own_fingerprint(landed):
    assert landed.query("SELECT day, source_rows FROM source_fingerprints WHERE source = 'plugin:countries' "
                        "AND source_rows > 0 ORDER BY day") == [(JAN31, 6), (FEB1, 12), (FEB29, 1)]
