"""Pure rules behind the endpoints: staleness boundary, limit parsing, ms rounding, export chunking."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest

from metrics_pipeline.api.backends.base import PluginFacts
from metrics_pipeline.api.export_route import _chunks
from metrics_pipeline.api.timeline import BadLimit, data_status, datetime_ms, parse_limit, plugin_query


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


@pytest.mark.parametrize(("text", "months"), [(None, 12), ("24", 24), (" 3 ", 3), ("0", 0), ("-3", 0), ("abc", 0),
                                               ("2.5", 0), ("", 0), ("600", 600)])
def test_limit_parsing(text, months):
    assert parse_limit(text) == months


def test_limit_above_maximum_is_refused():
    with pytest.raises(BadLimit, match="limit=601 is above the maximum of 600 months"):
        parse_limit("601")


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
