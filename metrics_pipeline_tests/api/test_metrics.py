"""GET /metrics/{plugin} over real HTTP against each backend: exact JSON for hand-made data (conftest.py)."""

from __future__ import annotations

import calendar
import copy

import pytest

from metrics_pipeline_tests.support.api_backends import BACKENDS

FOO_LATEST_MS = 1709642096 * 1000 + 789  # 2024-03-05 12:34:56.789123 UTC
# 2024-02-29 23:59:59.999999 UTC: rounded to the nearest ms, as the DynamoDB sink (DuckDB epoch_ms) stores it
SHARED_LATEST_MS = 1709251200000


def month_ms(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def test_month_ms_matches_known_values():
    assert month_ms(2024, 2) == 1706745600000 and month_ms(2022, 3) == 1646092800000


def months(first: tuple[int, int], count: int) -> list[tuple[int, int]]:
    year, month = first
    out = []
    for _ in range(count):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def timeline(key: str, first: tuple[int, int], count: int, values: dict[tuple[int, int], int]) -> list[dict]:
    return [{"timestamp": month_ms(y, m), key: values.get((y, m), 0)} for y, m in months(first, count)]


FOO_INSTALLS = {(2022, 2): 7, (2022, 3): 5, (2023, 2): 13, (2023, 3): 11, (2023, 12): 17, (2024, 1): 19, (2024, 2): 100021}
FOO_COMMITS = {(2022, 11): 2, (2023, 1): 3, (2023, 12): 4, (2024, 2): 6}
STATUS = {
    "installs": {"last_complete_day": "2024-03-09", "stale": False},  # yesterday
    "commits": {"last_complete_day": "2024-03-07", "stale": True, "timeline_complete": True},  # 2 days before yesterday
}


def foo(limit: int, first: tuple[int, int]) -> dict:
    return {
        "usage": {"timeline": timeline("installs", first, limit, FOO_INSTALLS),
                  # 2024-02-09 (1) + 2024-02-29 (20) + 2024-03-01 (300) + 2024-03-10 (4000); not 02-08 nor 03-11
                  "stats": {"total_installs": 154393, "installs_in_last_30_days": 4321}},
        "maintenance": {"timeline": timeline("commits", first, limit, FOO_COMMITS),
                        "stats": {"total_commits": 23, "latest_commit_timestamp": FOO_LATEST_MS}},
        "data_status": copy.deepcopy(STATUS),
    }


def empty(limit: int, first: tuple[int, int]) -> dict:
    return {
        "usage": {"timeline": timeline("installs", first, limit, {}),
                  "stats": {"total_installs": 0, "installs_in_last_30_days": 0}},
        "maintenance": {"timeline": timeline("commits", first, limit, {}),
                        "stats": {"total_commits": 0, "latest_commit_timestamp": None}},
        "data_status": copy.deepcopy(STATUS),
    }


@pytest.fixture(params=BACKENDS)
def client(request, api):
    return api[request.param]


def get(client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_default_limit_is_twelve_months_ending_last_month(client):
    expected = foo(12, (2023, 3))
    assert expected["usage"]["timeline"][0] == {"timestamp": 1677628800000, "installs": 11}  # 2023-03: first month
    assert expected["usage"]["timeline"][-1] == {"timestamp": 1706745600000, "installs": 100021}  # 2024-02: last month
    assert get(client, "/metrics/napari-foo") == expected
    assert get(client, "/metrics/napari-foo?limit=12") == expected


@pytest.mark.parametrize("limit", ["0", "abc", "-3", ""])
def test_zero_non_numeric_and_negative_limits_give_empty_timelines(client, limit):
    body = get(client, f"/metrics/napari-foo?limit={limit}")
    assert body == foo(0, (2024, 2))
    assert body["usage"]["timeline"] == [] and body["maintenance"]["timeline"] == []


def test_fourteen_months_are_the_same_on_every_backend(client):
    # 2023-01..2024-02: 2023-01 is the oldest month DynamoDB's 15-month commit window holds.
    assert get(client, "/metrics/napari-foo?limit=14") == foo(14, (2023, 1))


def test_twenty_four_months(api):
    expected = foo(24, (2022, 3))  # 2022-03..2024-02; 2022-02 (7 installs) is just outside
    assert expected["maintenance"]["timeline"][8] == {"timestamp": month_ms(2022, 11), "commits": 2}
    assert get(api["duckdb"], "/metrics/napari-foo?limit=24") == expected
    assert get(api["postgres"], "/metrics/napari-foo?limit=24") == expected
    # DynamoDB keeps monthly commits for 2023-01..2024-03 only: 2022-11 reads 0, and data_status says so.
    dynamodb = get(api["dynamodb"], "/metrics/napari-foo?limit=24")
    expected["maintenance"]["timeline"][8]["commits"] = 0
    expected["data_status"]["commits"] = {
        "last_complete_day": "2024-03-07", "stale": True, "timeline_complete": False,
        "note": "this backend holds monthly commits from 2023-01 only (DynamoDB keeps 15 months); "
                "earlier months read as 0: the postgres or duckdb backend serves longer timelines",
    }
    assert dynamodb == expected


def test_unknown_plugin_is_all_zero(client):
    assert get(client, "/metrics/napari-unknown") == empty(12, (2023, 3))
    assert get(client, "/metrics/napari-unknown?limit=2") == empty(2, (2024, 1))


@pytest.mark.parametrize("spelling", ["napari-bar-baz", "Napari_Bar.Baz", "NAPARI__bar-.baz"])
def test_names_match_after_pep503_normalization_and_no_repo_means_no_commits(client, spelling):
    expected = empty(3, (2023, 12))
    expected["usage"] = {"timeline": timeline("installs", (2023, 12), 3, {(2024, 2): 3}),
                         "stats": {"total_installs": 5, "installs_in_last_30_days": 5}}  # 02-10 (3) + 03-09 (2)
    assert get(client, f"/metrics/{spelling}?limit=3") == expected


def test_commits_without_installs(client):
    expected = empty(3, (2023, 12))
    expected["maintenance"] = {"timeline": timeline("commits", (2023, 12), 3, {(2024, 1): 9, (2024, 2): 1}),
                               "stats": {"total_commits": 10, "latest_commit_timestamp": SHARED_LATEST_MS}}
    assert get(client, "/metrics/Napari-Commits_Only?limit=3") == expected


def test_halves(client):
    whole = foo(12, (2023, 3))
    assert get(client, "/metrics/napari-foo/installs") == {
        "usage": whole["usage"], "data_status": {"installs": STATUS["installs"]}}
    assert get(client, "/metrics/NAPARI_FOO/commits?limit=12") == {
        "maintenance": whole["maintenance"], "data_status": {"commits": STATUS["commits"]}}


PATHS = ["/metrics/napari-foo?limit=1", "/metrics/napari-foo?limit=13", "/metrics/napari-bar-baz?limit=14",
         "/metrics/napari-commits-only", "/metrics/nothing-here?limit=5", "/metrics/napari-foo/installs?limit=24"]


@pytest.mark.parametrize("path", PATHS)
def test_every_backend_gives_the_same_bytes(api, path):
    bodies = {backend: api[backend].get(path).content for backend in BACKENDS}
    assert bodies["duckdb"] == bodies["postgres"] == bodies["dynamodb"], bodies


def test_limits_above_the_bound_are_clamped_and_backend_calls(api):
    clamped = get(api["postgres"], "/metrics/napari-foo?limit=1201")
    assert clamped == get(api["postgres"], "/metrics/napari-foo?limit=1200")
    assert len(clamped["usage"]["timeline"]) == 1200 and clamped["usage"]["timeline"][0]["timestamp"] == month_ms(1924, 3)
    # Postgres: one statement + the status read; DuckDB: one statement on the in-memory snapshot (already
    # taken by earlier requests); DynamoDB: two concurrent Queries for a plugin not yet asked for, then none.
    calls = {backend: api[backend].get("/metrics/napari-foo").headers["X-Backend-Calls"] for backend in BACKENDS}
    assert calls["duckdb"] == "1" and calls["postgres"] == "2"
    first, again = (api["dynamodb"].get("/metrics/napari-calls-counted").headers["X-Backend-Calls"] for _ in range(2))
    assert (first, again) == ("2", "0")


def test_healthz_and_openapi(api):
    for backend in BACKENDS:
        body = api[backend].get("/healthz").json()
        assert body == {"status": "ok", "backend": backend, "export_backend": None if backend == "dynamodb" else backend}
    spec = api["duckdb"].get("/openapi.json").json()
    assert {"/metrics/{plugin}", "/metrics/{plugin}/installs", "/metrics/{plugin}/commits", "/export/{dataset}",
            "/healthz"} <= set(spec["paths"])
    assert api["duckdb"].get("/docs").status_code == 200
