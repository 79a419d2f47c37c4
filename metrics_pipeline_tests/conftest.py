"""Shared fixtures: a scenario per test on the embedded default (files + DuckDB)."""

import pytest

from metrics_pipeline_tests.scenario import Scenario


@pytest.fixture
def scenario(tmp_path) -> Scenario:
    return Scenario(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """File catalogs are caches under XDG_CACHE_HOME; keep the tests' away from the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()
