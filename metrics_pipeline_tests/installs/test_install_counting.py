"""Each counting rule for installs, pinned with hand-computed numbers."""

from datetime import date

from metrics_pipeline.installs.assets import daily_installs, monthly_installs, raw_installs, total_installs
from metrics_pipeline_tests.scenario import Download

DAY_ASSETS = [raw_installs, daily_installs]


def _roll_up(scenario, first_day, last_day, first_month, last_month):
    assert scenario.materialize(DAY_ASSETS, first_day, last_day).success
    assert scenario.materialize([monthly_installs], first_month, last_month).success
    assert scenario.materialize([total_installs]).success


def test_only_pip_non_ci_downloads_of_registry_plugins_count(scenario):
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write(
        [
            Download("2024-01-10 08:00:00", "napari-foo", times=4),  # counts
            Download("2024-01-10 08:00:00", "napari-foo", ci=None, times=2),  # ci unknown: counts
            Download("2024-01-10 08:00:00", "napari-foo", ci=True, times=5),  # CI: no
            Download("2024-01-10 08:00:00", "napari-foo", installer="uv", times=3),  # not pip
            Download("2024-01-10 08:00:00", "napari-foo", installer="bandersnatch"),  # mirror
            Download("2024-01-10 08:00:00", "napari-foo", installer=None),  # unknown installer
            Download("2024-01-10 08:00:00", "numpy", times=7),  # not a plugin
        ]
    )
    assert scenario.materialize(DAY_ASSETS, "2024-01-10").success
    assert scenario.query("SELECT * FROM daily_installs") == [(date(2024, 1, 10), "napari-foo", 6)]


def test_installer_set_is_configurable(scenario):
    scenario.installers = ["pip", "uv"]
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write(
        [
            Download("2024-01-10 08:00:00", "napari-foo", times=2),
            Download("2024-01-10 09:00:00", "napari-foo", installer="uv", times=3),
            Download("2024-01-10 09:00:00", "napari-foo", installer="poetry"),
        ]
    )
    assert scenario.materialize(DAY_ASSETS, "2024-01-10").success
    assert scenario.query("SELECT install_count FROM daily_installs") == [(5,)]


def test_project_spellings_are_normalized_onto_the_registry_name(scenario):
    scenario.set_registry([("Napari_Foo.Bar", "")])
    scenario.downloads.write(
        [
            Download("2024-01-10 08:00:00", "napari-foo-bar"),
            Download("2024-01-10 08:00:00", "NAPARI_FOO_BAR"),
            Download("2024-01-10 08:00:00", "napari.foo__bar"),
            Download("2024-01-10 08:00:00", "napari-foobar"),  # a different project
        ]
    )
    assert scenario.materialize(DAY_ASSETS, "2024-01-10").success
    assert scenario.query("SELECT plugin_name, install_count FROM daily_installs") == [("napari-foo-bar", 3)]


def test_utc_day_month_and_year_boundaries_and_leap_day(scenario):
    scenario.set_registry([("napari-foo", "")])
    scenario.downloads.write(
        [
            Download("2023-12-31 23:59:59", "napari-foo", times=2),
            Download("2024-01-01 00:00:00", "napari-foo", times=3),
            Download("2024-01-31 23:59:59", "napari-foo"),
            Download("2024-02-01 00:00:00", "napari-foo", times=4),
            Download("2024-02-29 12:00:00", "napari-foo", times=5),
            Download("2024-02-29 23:59:59", "napari-foo"),
            Download("2024-03-01 00:00:00", "napari-foo", times=6),
        ]
    )
    _roll_up(scenario, "2023-12-31", "2024-03-01", "2023-12-01", "2024-03-01")
    assert scenario.query("SELECT download_day, install_count FROM daily_installs ORDER BY 1") == [
        (date(2023, 12, 31), 2),
        (date(2024, 1, 1), 3),
        (date(2024, 1, 31), 1),
        (date(2024, 2, 1), 4),
        (date(2024, 2, 29), 6),
        (date(2024, 3, 1), 6),
    ]
    assert scenario.query("SELECT month_start, install_count FROM monthly_installs ORDER BY 1") == [
        (date(2023, 12, 1), 2),
        (date(2024, 1, 1), 4),
        (date(2024, 2, 1), 10),
        (date(2024, 3, 1), 6),
    ]
    assert scenario.query("SELECT * FROM total_installs") == [("napari-foo", 22)]


def test_only_non_zero_periods_produce_rows(scenario):
    scenario.set_registry([("napari-foo", ""), ("napari-quiet", "")])
    scenario.downloads.write([Download("2024-01-10 08:00:00", "napari-foo"), Download("2024-01-12 08:00:00", "napari-quiet", ci=True)])
    _roll_up(scenario, "2024-01-09", "2024-01-13", "2024-01-01", "2024-01-01")
    assert scenario.query("SELECT download_day, plugin_name FROM daily_installs") == [(date(2024, 1, 10), "napari-foo")]
    assert scenario.query("SELECT plugin_name FROM monthly_installs") == [("napari-foo",)]
    assert scenario.query("SELECT plugin_name FROM total_installs") == [("napari-foo",)]
