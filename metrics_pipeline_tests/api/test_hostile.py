"""Hostile requests over real HTTP on every backend: NUL bytes, numbers past int64, bytes that are not
UTF-8, overlong values and a forged Host header each get a 4xx naming the parameter (or the hub's 200)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from metrics_pipeline.plugins.export import plugin_datasets

from metrics_pipeline_tests.api.conftest import PUBLIC_URL
from metrics_pipeline_tests.support.api_backends import BACKENDS, DYNAMODB_EXPORT

EXPORTERS = ("duckdb", "postgres", DYNAMODB_EXPORT)  # the last exports from Postgres behind DynamoDB metrics
HUGE = "100000000000000000000"  # 1e20: past int64 as a page number and as an offset
NOT_A_NAME = "contains the control character U+0000, which no plugin name holds"


@pytest.fixture(params=BACKENDS)
def client(request, api):
    return api[request.param]


@pytest.fixture(params=EXPORTERS)
def exporter(request, api):
    return api[request.param]


def refused(client, path: str, detail: str, status: int = 400) -> None:
    response = client.get(path)
    assert (response.status_code, response.json()) == (status, {"detail": detail}), response.text


METRICS_REFUSALS = [
    ("/metrics/napari%00foo", f"plugin='napari\\x00foo' {NOT_A_NAME}"),
    ("/metrics/napari%00foo/installs", f"plugin='napari\\x00foo' {NOT_A_NAME}"),
    ("/metrics/napari%00foo/commits?limit=3", f"plugin='napari\\x00foo' {NOT_A_NAME}"),
    ("/metrics/%00", f"plugin='\\x00' {NOT_A_NAME}"),
    ("/metrics/napari%1Bfoo", "plugin='napari\\x1bfoo' contains the control character U+001B, which no plugin name holds"),
    ("/metrics/napari%C2%85foo", "plugin='napari\\x85foo' contains the control character U+0085, which no plugin name holds"),
    ("/metrics/napari%FFfoo", "plugin is not UTF-8 once percent-decoded ('napari%FFfoo')"),
    ("/metrics/%C0%AF", "plugin is not UTF-8 once percent-decoded ('%C0%AF')"),  # an overlong '/'
    ("/metrics/%ED%A0%80", "plugin is not UTF-8 once percent-decoded ('%ED%A0%80')"),  # a lone surrogate
    ("/metrics/napari-foo%E2%82?limit=3", "plugin is not UTF-8 once percent-decoded ('napari-foo%E2%82')"),  # cut short
    ("/metrics/" + "n" * 201, "plugin is longer than 200 characters"),
    ("/metrics/" + "%F0%9F%90%8D" * 201, "plugin is longer than 200 characters"),
]


@pytest.mark.parametrize(("path", "detail"), METRICS_REFUSALS)
def test_metrics_refuses_names_no_store_holds(client, path, detail):
    refused(client, path, detail)


def test_the_longest_names_and_odd_characters_are_just_unknown_plugins(client):
    for path in ("/metrics/" + "%F0%9F%90%8D" * 200, "/metrics/" + "n" * 200, "/metrics/%E2%80%AE-rtl", "/metrics/%EF%BF%BD",
                 "/metrics/'%20OR%20'1'='1", "/metrics/%2E%2E", "/metrics/-"):
        response = client.get(path + "?limit=1")
        assert response.status_code == 200, (path, response.text)
        assert response.json()["usage"]["stats"] == {"total_installs": 0, "installs_in_last_30_days": 0}


@pytest.mark.parametrize(("limit", "months"), [
    (HUGE, 1200), ("9" * 5001, 1200), ("999999999999", 1200), ("1201", 1200), ("%00", 0), ("3%00", 0), ("%FF", 0),
    ("%EF%BC%93", 0), ("%2B3", 0), ("%203", 0), ("1_2", 0), ("3.0", 0), ("-1", 0), ("0003", 3),
])
def test_limit_is_the_hubs_rule_with_one_bound_on_every_backend(client, limit, months):
    response = client.get(f"/metrics/napari-foo?limit={limit}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["usage"]["timeline"]) == len(body["maintenance"]["timeline"]) == months
    assert body["usage"]["stats"]["total_installs"] == 154393


EXPORT_REFUSALS = [
    ("/export/daily_installs?plugin=a%00b", f"plugin='a\\x00b' {NOT_A_NAME}"),
    ("/export/daily_installs?plugin=%FF", "plugin is not UTF-8 once percent-decoded ('%FF')"),
    ("/export/daily_installs?pl%75gin=%C0%AF", "plugin is not UTF-8 once percent-decoded ('%C0%AF')"),
    ("/export/daily_installs?plugin=" + "p" * 201, "plugin is longer than 200 characters"),
    (f"/export/daily_installs?page={HUGE}", f"page={HUGE} is beyond the last page (1) of 8 rows at rows_per_page=1000"),
    ("/export/daily_installs?page=9223372036854775807&rows_per_page=1000",
     "page=9223372036854775807 is beyond the last page (1) of 8 rows at rows_per_page=1000"),
    ("/export/daily_installs?page=9223372036854775807&rows_per_page=1",
     "page=9223372036854775807 is beyond the last page (8) of 8 rows at rows_per_page=1"),
    ("/export/daily_installs?page=" + "9" * 5001,
     f"page={'9' * 40}... (5,001 digits) is beyond the last page (1) of 8 rows at rows_per_page=1000"),
    (f"/export/daily_installs?rows_per_page={HUGE}", f"rows_per_page={HUGE} is above the maximum of 1000"),
    ("/export/daily_installs?page=-1", "page='-1' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?page=%2B1", "page='+1' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?page=%EF%BC%91", "page='１' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?page=1%00", "page='1\\x00' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?page=000", "page=0 must be at least 1"),
    ("/export/daily_installs?rows_per_page=", "rows_per_page='' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?start=2024-01-01%00", "start='2024-01-01\\x00' is not a date (YYYY-MM-DD)"),
    ("/export/daily_installs?format=" + "x" * 100, f"format={'x' * 40!r}... (100 characters): choose csv or json"),
    ("/export/daily_installs?order=%FF", "order='\ufffd': choose asc or desc"),
    ("/export/%FF", "dataset is not UTF-8 once percent-decoded ('%FF')"),
]


@pytest.mark.parametrize(("path", "detail"), EXPORT_REFUSALS)
def test_export_refuses_bad_values_before_any_query(exporter, path, detail):
    refused(exporter, path, detail)


def test_unknown_datasets_are_404_whatever_their_bytes(exporter):
    refused(exporter, "/export/%00", "unknown dataset '\\x00': choose one of daily_installs, monthly_installs, "
            "total_installs, monthly_commits, total_commits, latest_commits, community_daily, community_monthly, "
            "community_total, " + ", ".join(plugin_datasets()), status=404)


def test_the_last_page_still_answers_after_the_offset_rule(exporter):
    response = exporter.get("/export/daily_installs?rows_per_page=3&page=003")
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "8"
    assert response.text.count("\n") == 3  # header + the last two rows


def test_links_never_echo_the_host_header(api):
    for name in ("duckdb", "postgres"):
        response = api[name].get("/export/total_installs?rows_per_page=1", headers={"Host": "evil.example"})
        assert response.status_code == 200
        assert response.headers["Link"] == (
            '</export/total_installs?rows_per_page=1&page=1>; rel="first", '
            '</export/total_installs?rows_per_page=1&page=2>; rel="last", '
            '</export/total_installs?rows_per_page=1&page=2>; rel="next"')
    forwarded = api["postgres"].get("/export/total_installs?rows_per_page=1", headers={
        "Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "gopher"})
    assert "evil" not in forwarded.headers["Link"] and "gopher" not in forwarded.headers["Link"]


def test_links_use_the_configured_public_url(api):
    response = api[DYNAMODB_EXPORT].get("/export/total_installs?rows_per_page=1&page=2", headers={"Host": "evil.example"})
    assert response.status_code == 200
    base = f"{PUBLIC_URL}/export/total_installs?rows_per_page=1&page="
    assert response.headers["Link"] == f'<{base}1>; rel="first", <{base}2>; rel="last", <{base}1>; rel="prev"'


def test_link_parameters_are_encoded_not_echoed(api):
    response = api["duckdb"].get("/export/total_installs", params={"plugin": 'x>; rel="evil", <http://e/'})
    assert response.status_code == 200
    assert response.headers["Link"] == (
        '</export/total_installs?plugin=x%3E%3B+rel%3D%22evil%22%2C+%3Chttp%3A%2F%2Fe%2F&page=1>; rel="first", '
        '</export/total_installs?plugin=x%3E%3B+rel%3D%22evil%22%2C+%3Chttp%3A%2F%2Fe%2F&page=1>; rel="last"')


@pytest.mark.parametrize("target", [b"/metrics/caf\xc3\xa9", b"/metrics/a\xff", b"/export/daily_installs?plugin=\xff",
                                    b"/metrics/" + b"a" * 100_000])
def test_raw_bytes_outside_ascii_and_huge_targets_are_refused_by_the_server(api, target):
    """Bytes the HTTP parser itself refuses never reach the app: uvicorn answers 400 in plain text."""
    port = urlsplit(str(api["postgres"].base_url)).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and reply.endswith(b"Invalid HTTP request received.")
    assert api["postgres"].get("/healthz").status_code == 200  # and the server goes on serving
