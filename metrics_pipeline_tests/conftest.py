"""Shared fixtures: a scenario per test on the embedded default (files + DuckDB)."""

import pytest

from metrics_pipeline_tests.scenario import Scenario


@pytest.fixture
def scenario(tmp_path) -> Scenario:
    return Scenario(tmp_path)
