"""GET /export/{dataset} over real HTTP: exact rows from both SQL backends, paging headers, 4xx for bad asks."""

from __future__ import annotations

import pytest

from metrics_pipeline.plugins.export import plugin_datasets

SQL_BACKENDS = ("duckdb", "postgres")


@pytest.fixture(params=SQL_BACKENDS)
def client(request, api):
    return api[request.param]


def test_total_installs_csv(client):
    response = client.get("/export/total_installs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == "plugin_name,install_count\nnapari-bar-baz,5\nnapari-foo,154393\n"
    assert response.headers["X-Total-Count"] == "2"


def test_daily_installs_json_filtered_by_plugin_and_dates(client):
    response = client.get("/export/daily_installs", params={
        "format": "json", "plugin": "NAPARI_FOO", "start": "2024-02-09", "stop": "2024-03-10"})
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"day": "2024-02-09", "plugin_name": "napari-foo", "install_count": 1},
        {"day": "2024-02-29", "plugin_name": "napari-foo", "install_count": 20},
        {"day": "2024-03-01", "plugin_name": "napari-foo", "install_count": 300},
        {"day": "2024-03-10", "plugin_name": "napari-foo", "install_count": 4000},
    ]


def test_paging_with_link_and_total_count(client):
    response = client.get("/export/daily_installs?format=csv&rows_per_page=3&page=2")
    assert response.status_code == 200, response.text
    # Ordered by plugin then day: bar-baz 02-10, 03-09; foo 02-08 | 02-09, 02-29, 03-01 | 03-10, 03-11.
    assert response.text == ("day,plugin_name,install_count\n2024-02-09,napari-foo,1\n"
                             "2024-02-29,napari-foo,20\n2024-03-01,napari-foo,300\n")
    assert response.headers["X-Total-Count"] == "8"
    base = "/export/daily_installs?format=csv&rows_per_page=3&page="  # relative: never the request's Host
    assert response.headers["Link"] == (
        f'<{base}1>; rel="first", <{base}3>; rel="last", <{base}1>; rel="prev", <{base}3>; rel="next"')
    last = client.get("/export/daily_installs?format=csv&rows_per_page=3&page=3")
    assert last.text == "day,plugin_name,install_count\n2024-03-10,napari-foo,4000\n2024-03-11,napari-foo,50000\n"
    assert 'rel="next"' not in last.headers["Link"]


def test_monthly_commits_latest_and_totals(client):
    monthly = client.get("/export/monthly_commits?start=2023-01-01&stop=2024-02-01")
    assert monthly.text == (
        "month,plugin_name,repo,commit_count\n"
        "2024-01-01,napari-commits-only,org/shared-repo,9\n2024-02-01,napari-commits-only,org/shared-repo,1\n"
        "2023-01-01,napari-foo,Org/Napari-Foo,3\n2023-12-01,napari-foo,Org/Napari-Foo,4\n"
        "2024-02-01,napari-foo,Org/Napari-Foo,6\n"
    )
    assert client.get("/export/latest_commits?format=json").json() == [
        {"plugin_name": "napari-commits-only", "repo": "org/shared-repo", "latest_commit_at": "2024-02-29T23:59:59.999999Z"},
        {"plugin_name": "napari-foo", "repo": "Org/Napari-Foo", "latest_commit_at": "2024-03-05T12:34:56.789123Z"},
    ]
    assert client.get("/export/total_commits").text == (
        "plugin_name,repo,commit_count\nnapari-commits-only,org/shared-repo,10\nnapari-foo,Org/Napari-Foo,23\n")
    assert client.get("/export/monthly_installs?plugin=napari-bar-baz&format=json").json() == [
        {"month": "2024-02-01", "plugin_name": "napari-bar-baz", "install_count": 3},
        {"month": "2024-03-01", "plugin_name": "napari-bar-baz", "install_count": 2},
    ]


def test_both_sql_backends_export_the_same_bytes(api):
    for path in ("/export/daily_installs", "/export/monthly_installs?format=json", "/export/monthly_commits",
                 "/export/latest_commits", "/export/total_commits?format=json&rows_per_page=1&page=2"):
        assert api["duckdb"].get(path).content == api["postgres"].get(path).content, path


BAD = [
    ("/export/users", 404, "unknown dataset 'users': choose one of daily_installs, monthly_installs, total_installs, "
     "monthly_commits, total_commits, latest_commits, community_daily, community_monthly, community_total, "
     + ", ".join(plugin_datasets())),  # the installed plugins' models too
    ("/export/daily_installs;DROP TABLE daily_installs", 404, None),
    ("/export/daily_installs?start=2024-02-30", 400, "start='2024-02-30' is not a date (YYYY-MM-DD)"),
    ("/export/daily_installs?stop=yesterday", 400, "stop='yesterday' is not a date (YYYY-MM-DD)"),
    ("/export/daily_installs?start=2024-03-02&stop=2024-03-01", 400, "start=2024-03-02 is after stop=2024-03-01"),
    ("/export/daily_installs?rows_per_page=3&page=4", 400,
     "page=4 is beyond the last page (3) of 8 rows at rows_per_page=3"),
    ("/export/daily_installs?page=0", 400, "page=0 must be at least 1"),
    ("/export/daily_installs?page=two", 400, "page='two' is not a whole number (ASCII digits only)"),
    ("/export/daily_installs?rows_per_page=1001", 400, "rows_per_page=1001 is above the maximum of 1000"),
    ("/export/daily_installs?format=xml", 400, "format='xml': choose csv or json"),
    ("/export/total_installs?start=2024-01-01", 400, "dataset total_installs has no dates: start/stop do not apply"),
]


@pytest.mark.parametrize(("path", "status", "detail"), BAD)
def test_bad_requests_get_a_clear_4xx(client, path, status, detail):
    response = client.get(path)
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json() == {"detail": detail}


def test_filter_values_are_bound_not_sql(client):
    response = client.get("/export/total_installs", params={"plugin": "x' OR '1'='1"})
    assert (response.status_code, response.text, response.headers["X-Total-Count"]) == (200, "plugin_name,install_count\n", "0")
    assert client.get("/export/total_installs?plugin=nobody&format=json").text == "[]"


def test_dynamodb_backend_does_not_export(api):
    response = api["dynamodb"].get("/export/total_installs")
    assert response.status_code == 501
    assert response.json() == {"detail": "export reads Postgres or the DuckDB warehouse (DynamoDB is read by key "
                                         "only): set METRICS_API_EXPORT_BACKEND=postgres or duckdb"}
