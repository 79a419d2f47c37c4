"""The DynamoDB backend's cache on moto_server: a cached page costs no request, a publish (the status
items change) invalidates it, the size is bounded; requests counted by botocore event hooks."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest

from metrics_pipeline.api.backends.dynamodb import DynamoDBBackend
from metrics_pipeline.api.timeline import plugin_query
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse
from metrics_pipeline.sinks.dynamodb import publish_github_activity, publish_install_activity
from metrics_pipeline.sinks.status import publish_status
from metrics_pipeline_tests.support.api_backends import TODAY, write_warehouse

REFRESH = 0.2  # METRICS_API_STATUS_REFRESH_SECONDS for these backends


@pytest.fixture
def published(tmp_path, dynamodb_endpoint) -> tuple[DuckDBWarehouse, DynamoDBResource]:
    """The hand-made rollups published by the real sinks into a stack of this test's own."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    write_warehouse(warehouse)
    dynamodb = DynamoDBResource(stack=f"c{uuid.uuid4().hex[:10]}", endpoint_url=dynamodb_endpoint)
    publish_install_activity(warehouse, dynamodb)
    publish_github_activity(warehouse, dynamodb, as_of=TODAY)
    publish_status(warehouse, dynamodb=dynamodb)
    return warehouse, dynamodb


@contextmanager
def backend_counting(dynamodb: DynamoDBResource, **options) -> Iterator[tuple[DynamoDBBackend, Counter]]:
    """A backend and a live count of the DynamoDB operations its client sends (hooks removed after)."""
    backend = DynamoDBBackend(dynamodb.stack, dynamodb.endpoint_url, None, status_refresh_seconds=REFRESH, **options)
    counts, lock = Counter(), threading.Lock()

    def count(model, **_):
        with lock:
            counts[model.name] += 1

    backend._client.meta.events.register("before-call.dynamodb", count)
    try:
        yield backend, counts
    finally:
        backend._client.meta.events.unregister("before-call.dynamodb", count)  # the client is shared per process
        backend.close()


def page(backend: DynamoDBBackend, plugin: str = "napari-foo", limit: int = 12, today: date = TODAY):
    return backend.read_plugin(plugin_query(plugin, limit, today))


def queries(counts: Counter, read) -> tuple[object, int]:
    """What `read()` returns and how many Queries it sent (status reads are BatchGetItem, on their own thread)."""
    before = counts["Query"]
    result = read()
    return result, counts["Query"] - before


def test_a_second_page_read_makes_no_request(published):
    _, dynamodb = published
    with backend_counting(dynamodb) as (backend, counts):
        first, sent = queries(counts, lambda: page(backend))
        assert (first.total_installs, first.backend_calls, sent) == (154393, 2, 2)
        for limit in (12, 0, 24, 1200):  # any limit, and either half, comes from the same cached reads
            again, sent = queries(counts, lambda: page(backend, limit=limit))
            assert (again.total_installs, again.backend_calls, sent) == (154393, 0, 0)
        halves = [backend.read_plugin(plugin_query("napari-foo", 3, TODAY, installs=i, commits=c))
                  for i, c in ((True, False), (False, True))]
        assert [h.backend_calls for h in halves] == [0, 0] and halves[1].total_commits == 23
        unknown = [page(backend, "napari-nobody").backend_calls for _ in range(2)]
        assert unknown == [2, 0]  # unknown names are cached too: repeating them costs nothing
        assert counts["Scan"] == counts["GetItem"] == 0


def test_a_new_day_reads_its_own_window(published):
    _, dynamodb = published
    with backend_counting(dynamodb) as (backend, _):
        assert page(backend).installs_in_window == 4321
        tomorrow = page(backend, today=date(2024, 3, 11))
        assert (tomorrow.backend_calls, tomorrow.installs_in_window) == (1, 54320)  # 02-10..03-11; commits cached


def test_a_publish_invalidates_the_cache_once_its_status_items_change(published):
    warehouse, dynamodb = published
    with backend_counting(dynamodb) as (backend, counts):
        assert page(backend).total_installs == 154393
        with warehouse.connect() as con:
            con.execute("UPDATE total_installs SET install_count = 154400 WHERE plugin_name = 'napari-foo'")
        assert publish_install_activity(warehouse, dynamodb)["written"] == 1
        time.sleep(3 * REFRESH)
        # The item changed but the status did not yet: answers stay those of the status they were read under.
        stale, sent = queries(counts, lambda: page(backend))
        assert (stale.total_installs, sent) == (154393, 0)
        statuses = counts["BatchGetItem"]
        publish_status(warehouse, dynamodb=dynamodb)  # what the sink asset writes after its items
        deadline = time.monotonic() + 5
        while (fresh := page(backend)).total_installs != 154400:
            assert time.monotonic() < deadline, "the status change was not seen"
            time.sleep(REFRESH / 4)
        assert fresh.backend_calls == 2 and page(backend).backend_calls == 0
        assert counts["BatchGetItem"] > statuses  # the watch polls the status items; pages never do


def test_the_cache_is_bounded_and_can_be_turned_off(published):
    _, dynamodb = published
    with backend_counting(dynamodb, cache_entries=2) as (backend, counts):
        # Each plugin page holds two entries (installs, commits): a second plugin evicts the first.
        assert [page(backend, p).backend_calls for p in ("napari-foo", "napari-bar-baz", "napari-foo")] == [2, 2, 2]
        assert len(backend._cache) == 2
    with backend_counting(dynamodb, cache_entries=0) as (backend, counts):
        assert [page(backend).backend_calls for _ in range(3)] == [2, 2, 2] and counts["Query"] == 6


def test_answers_are_the_same_with_and_without_the_cache(published):
    _, dynamodb = published
    with backend_counting(dynamodb, cache_entries=0) as (plain, _), backend_counting(dynamodb) as (cached, _):
        for plugin in ("napari-foo", "napari-bar-baz", "napari-commits-only", "nobody"):
            for limit in (0, 1, 14, 24):
                for _ in range(2):
                    want, got = page(plain, plugin, limit), page(cached, plugin, limit)
                    want.backend_calls = got.backend_calls = 0
                    assert got == want, (plugin, limit)
