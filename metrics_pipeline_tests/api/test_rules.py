"""Pure rules behind the endpoints: staleness boundary, limit parsing, ms rounding, export chunking."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest

from metrics_pipeline.api.backends.base import PluginFacts
from metrics_pipeline.api.export_route import _chunks
from metrics_pipeline.api.inputs import MAX_LIMIT, parse_limit
from metrics_pipeline.api.settings import masked_dsn, settings_from_env
from metrics_pipeline.api.timeline import data_status, datetime_ms, plugin_query


@pytest.mark.parametrize(("last_day", "stale"), [
    (date(2024, 3, 1), False),  # the pipeline's day: yesterday's partition lands at 13:00 UTC
    (date(2024, 2, 29), False),  # one day older than yesterday: allowed by stale_after_days=1
    (date(2024, 2, 28), True),
    (None, True),  # nothing landed / no status record
])
def test_stale_means_older_than_yesterday_by_more_than_the_setting(last_day, stale):
    query = plugin_query("p", 12, date(2024, 3, 2), commits=False)
    facts = PluginFacts(last_complete_day={"installs": last_day})
    assert data_status(query, facts, date(2024, 3, 2), stale_after_days=1) == {
        "installs": {"last_complete_day": last_day.isoformat() if last_day else None, "stale": stale}}


def test_window_and_months_cross_year_and_leap_day():
    query = plugin_query("p", 2, date(2024, 1, 30))
    assert (query.first_month, query.last_month) == (date(2023, 11, 1), date(2023, 12, 1))
    assert (query.window_start, query.window_end) == (date(2023, 12, 31), date(2024, 1, 30))
    leap = plugin_query("p", 1, date(2024, 3, 30))
    assert (leap.window_start, leap.first_month) == (date(2024, 2, 29), date(2024, 2, 1))


LIMITS = [  # the hub's rule (ASCII digits, else 0 months), clamped to one bound
    (None, 12), ("24", 24), ("0", 0), ("000", 0), ("007", 7), ("1", 1), ("1200", 1200),
    ("1201", 1200), ("601", 601), ("999999999999", 1200), ("9" * 5001, 1200), ("0" * 5000 + "3", 3),
    ("+3", 0), ("-1", 0), ("-0", 0), (" 3", 0), ("3 ", 0), (" 3 ", 0), ("1_2", 0), ("3.0", 0), ("2.5", 0),
    ("1e3", 0), ("0x10", 0), ("", 0), ("abc", 0), ("３", 0), ("٣", 0), ("²", 0), ("3\n", 0), ("3\x00", 0),
    ("\ufffd", 0),
]


@pytest.mark.parametrize(("text", "months"), LIMITS)
def test_limit_rule(text, months):
    assert parse_limit(text) == months


def test_limit_bound_is_a_century_of_months():
    assert MAX_LIMIT == 1200


def test_milliseconds_round_like_the_dynamodb_sink():
    utc = timezone.utc
    assert datetime_ms(datetime(2024, 2, 29, 23, 59, 59, 999499)) == 1709251199999
    assert datetime_ms(datetime(2024, 2, 29, 23, 59, 59, 999500)) == 1709251200000
    assert datetime_ms(datetime(2024, 2, 29, 23, 59, 59, 999500, tzinfo=utc)) == 1709251200000
    assert datetime_ms(datetime(1969, 12, 31, 23, 59, 59, 999500)) == -1


def test_large_pages_stream_in_chunks_that_join_into_valid_documents():
    rows = [(date(2024, 1, 1), f"plugin-{i}", i) for i in range(450)]
    columns = ("day", "plugin_name", "install_count")
    json_chunks = list(_chunks(columns, rows, "json"))
    assert len(json_chunks) == 5  # '[', three chunks of <= 200 rows, ']'
    parsed = json.loads(b"".join(json_chunks))
    assert parsed[0] == {"day": "2024-01-01", "plugin_name": "plugin-0", "install_count": 0} and len(parsed) == 450
    assert parsed[449]["install_count"] == 449
    csv_chunks = list(_chunks(columns, rows, "csv"))
    assert len(csv_chunks) == 3
    table = list(csv.reader(io.StringIO(b"".join(csv_chunks).decode())))
    assert table[0] == list(columns) and len(table) == 451 and table[450] == ["2024-01-01", "plugin-449", "449"]


@pytest.mark.parametrize(("dsn", "shown"), [
    ("postgresql://postgres@127.0.0.1:5432/metrics", "postgresql://postgres@127.0.0.1:5432/metrics"),
    ("postgresql://reader:s3cr%40t@db.internal:5432/metrics?sslmode=require",
     "postgresql://reader:***@db.internal:5432/metrics?sslmode=require"),
    ("host=db user=reader password=s3cret dbname=metrics", "host=db user=reader password=*** dbname=metrics"),
    ("host=db password = 'a b\\' c' dbname=metrics", "host=db password = *** dbname=metrics"),
])
def test_dsn_passwords_are_masked_for_printing(dsn, shown):
    assert masked_dsn(dsn) == shown


def test_link_cache_and_status_settings():
    base = {"METRICS_API_BACKEND": "dynamodb", "METRICS_DYNAMODB_STACK": "s"}
    defaults = settings_from_env(base)
    assert (defaults.public_url, defaults.status_refresh_seconds, defaults.cache_entries) == (None, 30.0, 4096)
    chosen = settings_from_env({**base, "METRICS_API_PUBLIC_URL": " https://metrics.example.org/api/ ",
                                "METRICS_API_STATUS_REFRESH_SECONDS": "0.5", "METRICS_API_CACHE_ENTRIES": "0"})
    assert (chosen.public_url, chosen.status_refresh_seconds, chosen.cache_entries) == (
        "https://metrics.example.org/api", 0.5, 0)
