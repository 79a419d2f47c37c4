"""Resources every domain shares: the warehouse, the registry, and the external systems' clients.

Dagster merges domains' definitions only when a resource key is bound once, so shared keys live
here and each domain binds only its own (e.g. `installs_source`).
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.github import github_api_from
from metrics_pipeline.resources.postgres import DSN_ENV_VAR, PostgresResource
from metrics_pipeline.resources.warehouse import MEMORY_LIMIT_SETTING, DuckDBWarehouse

COMMITS_SOURCE_SETTING = "METRICS_COMMITS_SOURCE"


def setting(env: Mapping[str, str], name: str, default: str) -> str:
    """A lower-case choice setting such as METRICS_INSTALLS_SOURCE (default when unset or blank)."""
    return (env.get(name) or default).strip().lower()


def choose(kinds: Mapping, name: str, env: Mapping[str, str]):
    """The implementation `env` selects for setting `name`; an unknown value names the setting."""
    kind = setting(env, name, "files")
    if kind not in kinds:
        raise ValueError(f"{name}={kind!r} is not one of {sorted(kinds)}")
    return kinds[kind](env)


def fraction(env: Mapping[str, str], name: str, default: float = 0.5) -> float:
    """A share in (0, 1] such as METRICS_SOURCE_MAX_DROP; a bad value names the setting."""
    text = (env.get(name) or "").strip() or str(default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {text!r}")
    return value


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    """Values stay `dg.EnvVar`s, resolved at run time; optional endpoints only when set, so an unset
    DynamoDB endpoint means AWS itself through the boto3 credential chain."""
    optional = {
        key: dg.EnvVar(name)
        for key, name in (("endpoint_url", "METRICS_DYNAMODB_ENDPOINT_URL"), ("region_name", "AWS_REGION"))
        if env.get(name)
    }
    return dg.Definitions(
        resources={
            "warehouse": DuckDBWarehouse(path=dg.EnvVar("METRICS_WAREHOUSE_PATH"), **(
                {"memory_limit": dg.EnvVar(MEMORY_LIMIT_SETTING)} if env.get(MEMORY_LIMIT_SETTING) else {})),
            "registry": PluginRegistry(
                csv_path=dg.EnvVar("METRICS_REGISTRY_CSV"), max_drop_fraction=fraction(env, "METRICS_REGISTRY_MAX_DROP")
            ),
            "github": github_api_from(env),
            "dynamodb": DynamoDBResource(stack=dg.EnvVar("METRICS_DYNAMODB_STACK"), **optional),
            "postgres": PostgresResource(dsn=dg.EnvVar(DSN_ENV_VAR)),
        },
        executor=dg.in_process_executor,
    )
