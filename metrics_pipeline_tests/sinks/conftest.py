"""Fixtures the sink tests share: a warehouse in the test's directory, a DynamoDB stack of its own."""

import pytest

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.warehouse import DuckDBWarehouse


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def dynamodb(dynamodb_endpoint, dynamodb_stack) -> DynamoDBResource:
    return DynamoDBResource(stack=dynamodb_stack, endpoint_url=dynamodb_endpoint)
