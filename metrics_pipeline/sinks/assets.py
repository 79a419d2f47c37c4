"""The sink assets: the hub's DynamoDB tables and their Postgres twins, each publishing the periods
its rollups changed, never ahead of them, and reading a sample back in the same step."""


from collections.abc import Sequence
from datetime import date

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import CONSUMES, OWNERS, column_schema
from metrics_pipeline.commits import assets as commits
from metrics_pipeline.installs import assets as installs
from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.rollups import Rollup
from metrics_pipeline.sinks import postgres as pg
from metrics_pipeline.sinks.dynamodb import (
    GITHUB_FEED,
    GITHUB_SINK,
    INSTALL_FEED,
    INSTALL_SINK,
    publish_github_activity,
    publish_install_activity,
)
from metrics_pipeline.sinks.read_back import check_dynamodb, check_postgres
from metrics_pipeline.sinks.scope import SinkFeed
from metrics_pipeline.sinks.status import publish_status

INSTALL_ROLLUPS = (installs.DAILY_ROLLUP, installs.MONTHLY_ROLLUP, installs.TOTAL_ROLLUP)
COMMIT_ROLLUPS = (commits.MONTHLY_ROLLUP, commits.TOTAL_ROLLUP, commits.LATEST_ROLLUP)
INSTALL_DEPS = [installs.daily_installs, installs.monthly_installs, installs.opening_installs, installs.total_installs]
COMMIT_DEPS = [commits.monthly_commits, commits.opening_commits, commits.total_commits, commits.latest_commits]

READ_BACK_HINT = ("What to do: run sink_reconciliation_job (or the sink asset) to repair drift made outside the "
                  "pipeline; the next publish rewrites the keys found.")


class GithubActivitySinkConfig(dg.Config):
    """`as_of_date` (YYYY-MM-DD) fixes the MONTH window's run date; empty means today (UTC)."""

    as_of_date: str | None = None


class RollupsBehind(dg.Failure):
    """A rollup a sink projects has input changes it has not reflected: publishing now would put
    DAY items ahead of MONTH or TOTAL."""


def require_settled(warehouse: DuckDBWarehouse, rollups: Sequence[Rollup]) -> None:
    with warehouse.connect() as con:
        behind = changes.lagging(con, {r.table: r.inputs for r in rollups})
    if behind:
        raise RollupsBehind(
            description=f"not publishing: {', '.join(sorted(behind))} not yet up to date with their inputs "
            "(they run first in the same job; the catch-up sensor re-runs them). The sink keeps its previous values.",
            metadata={"rollups_behind": dg.MetadataValue.json(behind)},
        )


def _read_back_spec(name: str, asset: str | list[str]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=dg.AssetKey(asset), blocking=True,
                             description=f"A sample of the published keys still holds what was published. {READ_BACK_HINT}")


def _args(key: list[str], kind: str, deps, checks, columns, feed: SinkFeed, description: str | None = None) -> dict:
    return dict(key=key, deps=deps, group_name="sinks", kinds={kind}, owners=OWNERS, pool=WAREHOUSE_POOL,
                check_specs=checks, description=description,
                metadata={"dagster/column_schema": column_schema(*columns), CONSUMES: ",".join(feed.inputs)})


HUB_INSTALL_COLUMNS = [
    ("plugin_name", "S (hash key)", "PEP 503-normalized plugin"),
    ("type_timestamp", "S (range key)", "DAY:YYYYMMDD | MONTH:YYYYMM | TOTAL:"),
    ("type", "S", "DAY | MONTH | TOTAL"), ("install_count", "N", "installs in the period"),
    ("timestamp", "N", "period start, epoch ms (absent on TOTAL)"), ("is_total", "S", "'true' on TOTAL (GSI key)"),
    ("last_updated_timestamp", "N", "epoch ms of the write"),
]
HUB_GITHUB_COLUMNS = [
    ("plugin_name", "S (hash key)", "PEP 503-normalized plugin"),
    ("type_identifier", "S (range key)", "LATEST:repo | MONTH:YYYYMM:repo | TOTAL:repo"),
    ("type", "S", "LATEST | MONTH | TOTAL"), ("repo", "S", "owner/name as the registry spells it"),
    ("commit_count", "N", "commits (MONTH, TOTAL)"), ("timestamp", "N", "epoch ms: month start or latest commit"),
    ("expiry", "N", "epoch s when a MONTH item leaves the 15-month window"),
    ("last_updated_timestamp", "N", "epoch ms of the write"),
]


def _columns(table: pg.PostgresTable) -> list[tuple[str, str, str]]:
    return [(n, t, "key") for n, t in table.keys] + [(n, t, "") for n, t in table.values]


@dg.asset(**_args(["dynamodb", "install_activity"], "dynamodb", INSTALL_DEPS,
                  [_read_back_spec("dynamodb_install_activity_read_back", ["dynamodb", "install_activity"])],
                  HUB_INSTALL_COLUMNS, INSTALL_FEED))
def dynamodb_install_activity(warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource) -> dg.MaterializeResult:
    """The hub's install-activity table, kept equal to the install rollups."""
    require_settled(warehouse, INSTALL_ROLLUPS)
    published = publish_install_activity(warehouse, dynamodb, feed=INSTALL_FEED)
    check = check_dynamodb(INSTALL_SINK, warehouse, dynamodb)
    return dg.MaterializeResult(
        metadata=published | {"dagster/row_count": check.metadata["published_keys"].value}
        | publish_status(warehouse, dynamodb=dynamodb),
        check_results=[check],
    )


@dg.asset(**_args(["dynamodb", "github_activity"], "dynamodb", COMMIT_DEPS,
                  [_read_back_spec("dynamodb_github_activity_read_back", ["dynamodb", "github_activity"])],
                  HUB_GITHUB_COLUMNS, GITHUB_FEED))
def dynamodb_github_activity(
    config: GithubActivitySinkConfig, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource
) -> dg.MaterializeResult:
    """The hub's github-activity table; MONTH items leave it once older than the 15-month window."""
    require_settled(warehouse, COMMIT_ROLLUPS)
    as_of = date.fromisoformat(config.as_of_date) if config.as_of_date else None
    published = publish_github_activity(warehouse, dynamodb, as_of, feed=GITHUB_FEED)
    check = check_dynamodb(GITHUB_SINK, warehouse, dynamodb)
    return dg.MaterializeResult(
        metadata=published | {"dagster/row_count": check.metadata["published_keys"].value}
        | publish_status(warehouse, dynamodb=dynamodb),
        check_results=[check],
    )


def _postgres_sink(table: pg.PostgresTable, deps, rollups):
    name = f"postgres_{table.name}_read_back"

    @dg.asset(**_args(["postgres", table.name], "postgres", deps, [dg.AssetCheckSpec(
        name, asset=dg.AssetKey(["postgres", table.name]), blocking=True,
        description=f"Row counts and sums per granularity equal the rollups'. {READ_BACK_HINT}")],
        _columns(table), table.feed, f"{table.name} in Postgres, equal to the rollups (full monthly history)."))
    def _sink(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
        require_settled(warehouse, rollups)
        published = pg.publish(table, warehouse, postgres, incremental=True)
        check = check_postgres(table, warehouse, postgres)
        return dg.MaterializeResult(
            metadata=published | {"dagster/row_count": check.metadata["rows"].value}
            | publish_status(warehouse, postgres=postgres),
            check_results=[check],
        )

    return _sink


postgres_install_activity = _postgres_sink(pg.INSTALL_ACTIVITY, INSTALL_DEPS, INSTALL_ROLLUPS)
postgres_github_activity = _postgres_sink(pg.GITHUB_ACTIVITY, COMMIT_DEPS, COMMIT_ROLLUPS)

SINK_ASSETS = [dynamodb_install_activity, dynamodb_github_activity, postgres_install_activity, postgres_github_activity]
