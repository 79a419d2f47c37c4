"""Sinks: projections of the warehouse rollups into DynamoDB (the hub's layout) and Postgres."""

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.sinks.dynamodb import dynamodb_github_activity, dynamodb_install_activity
from metrics_pipeline.sinks.postgres import postgres_github_activity, postgres_install_activity
from metrics_pipeline.sinks.read_back import SINK_CHECKS

SINK_ASSETS = [dynamodb_install_activity, dynamodb_github_activity, postgres_install_activity, postgres_github_activity]
__all__ = ["SINK_ASSETS", "SINK_CHECKS", "sink_resources"]


def sink_resources(env: Mapping[str, str]) -> dict:
    """`dynamodb` and `postgres` resources; values stay `dg.EnvVar`s, resolved at run time.

    Optional settings (endpoint URL, region) are included only when set in `env`, so an unset
    endpoint means AWS itself through the boto3 credential chain.
    """
    optional = {
        key: dg.EnvVar(name)
        for key, name in (("endpoint_url", "METRICS_DYNAMODB_ENDPOINT_URL"), ("region_name", "AWS_REGION"))
        if env.get(name)
    }
    return {
        "dynamodb": DynamoDBResource(stack=dg.EnvVar("METRICS_DYNAMODB_STACK"), **optional),
        "postgres": PostgresResource(dsn=dg.EnvVar("METRICS_POSTGRES_DSN")),
    }
