"""GET /metrics/{plugin}/community and the community export datasets over real HTTP, on data the real
community assets landed from the GitHub stub (support/api_backends.land_community)."""

from __future__ import annotations

import calendar
from datetime import date

import pytest

from metrics_pipeline.api.backends.base import CommunityFacts, CommunityRow
from metrics_pipeline.api.community import community_body, community_query
from metrics_pipeline.api.export import COMMUNITY_METRICS
from metrics_pipeline.community.assets import METRIC_COLUMNS
from metrics_pipeline_tests.support.api_backends import DYNAMODB_EXPORT

SERVING = ("duckdb", "postgres", DYNAMODB_EXPORT)  # the DynamoDB API serves community from its Postgres export backend
N = None
ZERO = (0,) * 8 + (N, N, 0, N, N, 0, N, N, 0, 0, 0)
# In COMMUNITY_METRICS order, figured by hand in community/test_community_metrics.py:
#  opened issues/PRs | closed issues, merged PRs, PRs closed unmerged | open issues/PRs at the end | awaiting |
#  response median/p90 h, unanswered | close median/p90 h, not closed | merge median/p90 h, not merged | new/returning
ALPHA = {
    (2024, 1): (1, 1, 0, 0, 0, 1, 0, 0, 12.75, 21.75, 0, 48.0, 48.0, 0, 36.0, 36.0, 0, 2, 0),
    (2024, 2): (1, 1, 1, 1, 1, 1, 0, 1, N, N, 2, N, N, 1, N, N, 1, 0, 1),
}
ALPHA_TOTAL = (2, 2, 1, 1, 1, 1, 0, 1, 12.75, 21.75, 2, 48.0, 48.0, 1, 36.0, 36.0, 1, 2, 0)
BETA = {  # beta#10 is alpha#3 transferred on 2024-02-02: counted here only
    (2024, 1): (2, 0, 0, 0, 0, 2, 0, 2, 2.0, 2.8, 0, N, N, 2, N, N, 0, 2, 0),
    (2024, 2): (0, 0, 0, 0, 0, 2, 0, 2, N, N, 0, N, N, 0, N, N, 0, 0, 0),
}
BETA_TOTAL = (2, 0, 0, 0, 0, 2, 0, 2, 2.0, 2.8, 0, N, N, 2, N, N, 0, 2, 0)
# Export serves the stored float: DuckDB's quantile_cont interpolates as 0.1 * 1 h + 0.9 * 3 h (the endpoint
# rounds it to 2.8).
BETA_P90_STORED = 0.1 * 1.0 + 0.9 * 3.0
BETA_TOTAL_STORED = BETA_TOTAL[:9] + (BETA_P90_STORED,) + BETA_TOTAL[10:]
STATUS = {"community": {"last_complete_day": "2024-02-02", "stale": True}}  # landed up to 02-02; today 2024-03-10
UNKNOWN_STATUS = {"community": {"last_complete_day": None, "stale": True}}


def metrics(values: tuple) -> dict:
    return dict(zip(COMMUNITY_METRICS, values, strict=True))


def month_ms(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def body(repo: str | None, first: tuple[int, int], count: int, months: dict, total: tuple, status: dict) -> dict:
    timeline, (year, month) = [], first
    for _ in range(count):
        timeline.append({"timestamp": month_ms(year, month), **metrics(months.get((year, month), ZERO))})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return {"community": {"repo": repo, "timeline": timeline, "stats": metrics(total)}, "data_status": status}


@pytest.fixture(params=SERVING)
def client(request, api):
    return api[request.param]


def get(client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_three_months_across_the_year_end(client):
    expected = body("org/alpha", (2023, 12), 3, ALPHA, ALPHA_TOTAL, STATUS)
    assert expected["community"]["timeline"][0] == {"timestamp": 1701388800000, **metrics(ZERO)}  # 2023-12: no data
    assert expected["community"]["timeline"][2]["timestamp"] == 1706745600000  # 2024-02 = last month
    assert get(client, "/metrics/p-alpha/community?limit=3") == expected


@pytest.mark.parametrize("spelling", ["p-beta", "P_Beta", "p.BETA"])
def test_default_twelve_months_and_pep503_names(client, spelling):
    expected = body("org/beta", (2023, 3), 12, BETA, BETA_TOTAL, STATUS)
    assert get(client, f"/metrics/{spelling}/community") == expected


@pytest.mark.parametrize("limit", ["0", "abc", "-3", ""])
def test_zero_non_numeric_and_negative_limits_keep_the_totals(client, limit):
    assert get(client, f"/metrics/p-alpha/community?limit={limit}") == body("org/alpha", (2024, 2), 0, {}, ALPHA_TOTAL, STATUS)


@pytest.mark.parametrize("plugin", ["napari-unknown", "napari-foo"])  # napari-foo has installs and commits, no community
def test_unknown_plugin_or_untracked_repo_is_the_same_shape_with_zeros(client, plugin):
    assert get(client, f"/metrics/{plugin}/community?limit=2") == body(None, (2024, 1), 2, {}, ZERO, UNKNOWN_STATUS)


@pytest.mark.parametrize("path", ["/metrics/p-alpha/community?limit=24", "/metrics/P_BETA/community?limit=1",
                                  "/metrics/nobody/community", "/export/community_daily?format=json",
                                  "/export/community_monthly", "/export/community_total?format=json"])
def test_every_serving_backend_gives_the_same_bytes(api, path):
    bodies = {backend: api[backend].get(path) for backend in SERVING}
    assert {b: r.status_code for b, r in bodies.items()} == dict.fromkeys(SERVING, 200)
    assert bodies["duckdb"].content == bodies["postgres"].content == bodies[DYNAMODB_EXPORT].content


def test_dynamodb_without_an_export_backend_says_which_setting(api):
    response = api["dynamodb"].get("/metrics/p-alpha/community")
    assert response.status_code == 501
    assert response.json() == {"detail": (
        "community metrics are not in DynamoDB (METRICS_API_BACKEND=dynamodb): set METRICS_API_BACKEND to postgres "
        "or duckdb, or METRICS_API_EXPORT_BACKEND to postgres or duckdb to serve them from there")}


def test_one_statement_per_request_and_bad_asks(api):
    calls = {b: api[b].get("/metrics/p-alpha/community").headers["X-Backend-Calls"] for b in ("duckdb", "postgres")}
    assert calls == {"duckdb": "1", "postgres": "1"}
    # Past the one bound (1,200 months) a limit is clamped to it, as /metrics/{plugin} does.
    over, at = (api["postgres"].get(f"/metrics/p-alpha/community?limit={n}") for n in ("1201", "9" * 30))
    bound = api["postgres"].get("/metrics/p-alpha/community?limit=1200")
    assert over.status_code == at.status_code == bound.status_code == 200
    assert over.json() == at.json() == bound.json() and len(bound.json()["community"]["timeline"]) == 1200
    assert "/metrics/{plugin}/community" in api["duckdb"].get("/openapi.json").json()["paths"]


EXPORT_CLIENTS = ("duckdb", "postgres", DYNAMODB_EXPORT)


@pytest.fixture(params=EXPORT_CLIENTS)
def exporter(request, api):
    return api[request.param]


def test_export_community_total_csv(exporter):
    response = exporter.get("/export/community_total")
    assert response.status_code == 200, response.text
    row = lambda plugin, repo, values: ",".join([plugin, repo, *("" if v is None else str(v) for v in values)])  # noqa: E731
    assert response.text == "\n".join([
        ",".join(("plugin_name", "repo", *COMMUNITY_METRICS)),
        row("p-alpha", "org/alpha", ALPHA_TOTAL), row("p-beta", "org/beta", BETA_TOTAL_STORED), ""])
    assert "2.8000000000000003" in response.text
    assert response.headers["X-Total-Count"] == "2"


def test_export_community_monthly_and_daily_filtered(exporter):
    monthly = exporter.get("/export/community_monthly?format=json&plugin=P_Alpha&start=2024-02-01")
    assert monthly.json() == [{"month": "2024-02-01", "plugin_name": "p-alpha", "repo": "org/alpha", **metrics(ALPHA[(2024, 2)])}]
    daily = exporter.get("/export/community_daily?format=json&plugin=p-beta&start=2024-01-31&stop=2024-02-01")
    # beta#10 (ex alpha#3) opened 01-31 23:00, answered by dave (non-member) after 3 h; beta#1 awaits since 01-16.
    assert daily.json() == [
        {"day": "2024-01-31", "plugin_name": "p-beta", "repo": "org/beta",
         **metrics((1, 0, 0, 0, 0, 2, 0, 2, 3.0, 3.0, 0, N, N, 1, N, N, 0, 1, 0))},
        {"day": "2024-02-01", "plugin_name": "p-beta", "repo": "org/beta", **metrics((0, 0, 0, 0, 0, 2, 0, 2) + ZERO[8:])},
    ]
    # Every day 01-15..02-02 for both repos, quiet days too.
    assert exporter.get("/export/community_daily?rows_per_page=5").headers["X-Total-Count"] == str(2 * 19)


def test_the_api_columns_are_the_community_domains():
    assert COMMUNITY_METRICS == tuple(name for name, _, _ in METRIC_COLUMNS[2:])


def test_the_repo_is_the_total_rows_and_hours_are_rounded():
    """A repo the registry dropped keeps its old MONTH rows: they are not the plugin's repo's."""
    query = community_query("p", 2, date(2024, 1, 5))  # 2023-11, 2023-12
    hours = (1, 0, 0, 0, 0, 0, 0, 0, 1 / 3, 2.005, 1, N, N, 1, N, N, 0, 1, 0)
    facts = CommunityFacts([
        CommunityRow("TOTAL", "org/new", None, hours),
        CommunityRow("MONTH", "org/new", date(2023, 12, 1), hours),
        CommunityRow("MONTH", "org/old", date(2023, 11, 1), ALPHA_TOTAL),
        CommunityRow("DAY", "org/old", date(2024, 1, 4), ()),
        CommunityRow("DAY", "org/new", date(2024, 1, 2), ()),
    ], backend_calls=1)
    rounded = metrics((1, 0, 0, 0, 0, 0, 0, 0, 0.33, 2.0, 1, N, N, 1, N, N, 0, 1, 0))  # 2.005 is 2.00499... as a float
    assert community_body(query, facts, date(2024, 1, 5), stale_after_days=1) == {
        "community": {"repo": "org/new", "stats": rounded, "timeline": [
            {"timestamp": month_ms(2023, 11), **metrics(ZERO)}, {"timestamp": month_ms(2023, 12), **rounded}]},
        "data_status": {"community": {"last_complete_day": "2024-01-02", "stale": True}},  # 2 days before yesterday
    }
