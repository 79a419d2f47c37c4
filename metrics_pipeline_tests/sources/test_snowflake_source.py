"""The Snowflake sources against fakesnow's server through the real connector; numbers by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from metrics_pipeline.commits.snowflake_source import SnowflakeCommitsSource
from metrics_pipeline.installs.snowflake_source import SnowflakeInstallsSource
from metrics_pipeline_tests.support.fakesnow import COMMIT_COLUMNS, DOWNLOAD_COLUMNS, insert_rows
from metrics_pipeline.landing.batch import DayFingerprint

T = datetime.fromisoformat


def _downloads(snowflake, rows):
    insert_rows(snowflake, "PYPI_DOWNLOADS", DOWNLOAD_COLUMNS, rows)


def test_install_counts_are_grouped_in_snowflake_with_fingerprints_and_arrivals(snowflake):
    _downloads(
        snowflake,
        [("napari-foo", T("2024-01-10 08:00:00"), "pip", "plugin", T("2024-01-11 01:00:00"))] * 3
        + [
            ("Napari_Foo", T("2024-01-10 23:59:59"), "pip", "plugin", T("2024-01-11 02:00:00")),
            ("napari.foo", T("2024-01-10 09:00:00"), "ci", "plugin", T("2024-01-11 01:00:00")),
            ("napari-bar", T("2024-01-10 10:00:00"), "pip", "plugin", T("2024-01-11 01:00:00")),
            ("numpy", T("2024-01-10 10:00:00"), "pip", "library", T("2024-01-11 01:00:00")),
            ("napari-foo", T("2024-01-11 00:00:00"), "pip", "plugin", T("2024-01-12 03:00:00")),
            ("napari-foo", T("2024-01-09 23:59:59"), "pip", "plugin", T("2024-01-10 00:30:00")),
        ],
    )
    source = SnowflakeInstallsSource(snowflake=snowflake)
    batch = source.install_counts(date(2024, 1, 10), date(2024, 1, 12), ["napari-foo", "x'); DROP TABLE PYPI_DOWNLOADS; --"])
    assert batch.rows.to_pylist() == [
        {"download_day": date(2024, 1, 10), "plugin_name": "napari-foo", "installer_name": "pip", "download_count": 4},
        {"download_day": date(2024, 1, 11), "plugin_name": "napari-foo", "installer_name": "pip", "download_count": 1},
    ]
    assert batch.fingerprints == [
        DayFingerprint(date(2024, 1, 10), 7, T("2024-01-11 02:00:00")),
        DayFingerprint(date(2024, 1, 11), 1, T("2024-01-12 03:00:00")),
    ]
    first = source.arrivals_since(None)
    assert first.newest_by_day == {
        date(2024, 1, 9): T("2024-01-10 00:30:00"),
        date(2024, 1, 10): T("2024-01-11 02:00:00"),
        date(2024, 1, 11): T("2024-01-12 03:00:00"),
    }
    assert source.arrivals_since(first.cursor).newest_by_day == {}
    _downloads(snowflake, [("napari-foo", T("2024-01-09 12:00:00"), "pip", "plugin", T("2024-01-13 00:00:00"))])
    late = source.arrivals_since(first.cursor)
    assert late.newest_by_day == {date(2024, 1, 9): T("2024-01-13 00:00:00")}
    assert source.days_with_downloads(["napari-foo"]) == {date(2024, 1, 9), date(2024, 1, 10), date(2024, 1, 11)}
    assert source.days_with_downloads(["napari-bar"]) == {date(2024, 1, 10)}
    assert source.days_with_downloads([]) == set()
    both = SnowflakeInstallsSource(snowflake=snowflake, download_types=["pip", "ci"])
    assert both.install_counts(date(2024, 1, 10), date(2024, 1, 11), ["napari-foo"]).rows.to_pylist() == [
        {"download_day": date(2024, 1, 10), "plugin_name": "napari-foo", "installer_name": "ci", "download_count": 1},
        {"download_day": date(2024, 1, 10), "plugin_name": "napari-foo", "installer_name": "pip", "download_count": 4},
    ]


def test_commits_are_filtered_windowed_and_fingerprinted_in_snowflake(snowflake):
    url = "https://github.com/org/napari-foo"
    insert_rows(
        snowflake,
        "GITHUB_COMMITS",
        COMMIT_COLUMNS,
        [
            ("Org/Napari-Foo", "a1", "7", T("2024-01-10 08:00:00"), "one", url, T("2024-01-11 00:00:00"), "plugin"),
            ("org/napari-foo", "a2", None, T("2024-01-10 23:59:59"), "two", url, T("2024-01-11 05:00:00"), "plugin"),
            ("org/napari-foo", "  ", "7", T("2024-01-10 12:00:00"), "no sha", url, T("2024-01-11 00:00:00"), "plugin"),
            ("org/other", "b1", "8", T("2024-01-10 12:00:00"), "other", url, T("2024-01-11 00:00:00"), "plugin"),
            ("org/napari-foo", "c1", "7", T("2024-01-10 12:00:00"), "lib", url, T("2024-01-11 00:00:00"), "library"),
            ("org/napari-foo", "a3", "7", T("2024-01-11 00:00:00"), "three", url, T("2024-01-12 00:00:00"), "plugin"),
        ],
    )
    source = SnowflakeCommitsSource(snowflake=snowflake)
    batch = source.commits(date(2024, 1, 10), date(2024, 1, 11), ["ORG/napari-foo"])
    assert [(r["repo"], r["sha"], r["author_id"], r["commit_author_date"]) for r in batch.rows.to_pylist()] == [
        ("Org/Napari-Foo", "a1", "7", T("2024-01-10 08:00:00")),
        ("org/napari-foo", "a2", None, T("2024-01-10 23:59:59")),
    ]
    assert batch.quarantined == {"missing sha": 1}
    assert batch.fingerprints == [DayFingerprint(date(2024, 1, 10), 5, T("2024-01-11 05:00:00"))]
    assert source.days_with_commits(["org/NAPARI-foo"]) == {date(2024, 1, 10), date(2024, 1, 11)}
    arrivals = source.arrivals_since(None)
    assert arrivals.newest_by_day == {date(2024, 1, 10): T("2024-01-11 05:00:00"), date(2024, 1, 11): T("2024-01-12 00:00:00")}
    assert source.arrivals_since(arrivals.cursor).newest_by_day == {}


def test_configured_names_must_be_plain_identifiers(snowflake):
    source = SnowflakeInstallsSource(snowflake=snowflake, downloads_view="PYPI_DOWNLOADS; DROP TABLE X")
    with pytest.raises(ValueError, match="METRICS_SNOWFLAKE_DOWNLOADS_VIEW"):
        source.install_counts(date(2024, 1, 10), date(2024, 1, 11), ["napari-foo"])
