"""Shared fixtures: a scenario per test, run on every source kind (installs, commits)."""

import pytest

from metrics_pipeline_tests.scenario import Scenario


SOURCE_KINDS = [("files", "files"), ("snowflake", "snowflake"), ("files", "github")]


@pytest.fixture(params=SOURCE_KINDS, ids=lambda kinds: "installs-{}+commits-{}".format(*kinds))
def scenario(request, tmp_path) -> Scenario:
    """The same hand-made rows through each source implementation: the counting rules must hold on all."""
    installs_kind, commits_kind = request.param
    return Scenario(tmp_path, installs_kind=installs_kind, commits_kind=commits_kind)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """File catalogs are caches under XDG_CACHE_HOME; keep the tests' away from the user's."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()
