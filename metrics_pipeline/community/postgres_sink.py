"""Postgres projection of the community domain: the entity tables and community_activity (DAY,
MONTH, TOTAL), made equal to the warehouse in ONE transaction, writing only rows that differ; read back
(row counts and sums per table and granularity) in the same step, repaired by sink_reconciliation_job."""

import io
from dataclasses import dataclass

import dagster as dg
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import CONSUMES, OWNERS
from metrics_pipeline.community.assets import METRIC_COLUMNS, community_daily, community_github, community_monthly, community_total
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse
from metrics_pipeline.sinks.postgres_schema import apply_migrations
from metrics_pipeline.sinks.read_back import Aggregate, ReadBack, compare_postgres, read_back_result, read_back_spec
from metrics_pipeline.sinks.reconcile import Repaired

_METRICS = ", ".join(name for name, _, _ in METRIC_COLUMNS[2:])


@dataclass(frozen=True)
class Target:
    """A Postgres table, its key columns (`period_key` stands in for a NULL-able period_start)
    and the DuckDB query selecting its columns in `columns` order. The read-back sums `sums` and `times`
    (per `group`, or over the whole table)."""

    name: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    source_sql: str
    sums: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    group: str | None = None

    @property
    def read_back(self) -> ReadBack:
        return ReadBack(Aggregate(self.name, self.group, self.sums, self.times),
                        f"({self.source_sql}) AS d({', '.join(self.columns)})")


def _entity(name: str, keys: tuple[str, ...], columns: str, sums: tuple[str, ...], times: tuple[str, ...] = ()) -> Target:
    casted = columns.replace("raw", "CAST(raw AS VARCHAR)")
    return Target(name, tuple(c.strip() for c in columns.split(",")), keys, f"SELECT {casted} FROM {name}", sums, times)


TARGETS = (
    _entity("community_issues", ("issue_id",), "issue_id, repo_key, number, is_pull_request, author_login, state, "
            "created_at, updated_at, closed_at, raw, first_landed_at", ("issue_id", "number"),
            ("created_at", "updated_at", "closed_at")),
    _entity("community_pull_requests", ("pull_id",), "pull_id, repo_key, number, author_login, state, created_at, "
            "updated_at, closed_at, merged_at, raw, first_landed_at", ("pull_id", "number"),
            ("created_at", "updated_at", "closed_at", "merged_at")),
    _entity("community_events", ("event_key",), "event_key, issue_id, event, actor_login, created_at, raw", ("issue_id",),
            ("created_at",)),
    _entity("community_members", ("org", "login"), "org, login, raw", ()),
    _entity("community_transfers", ("issue_id", "from_repo_key"),
            "issue_id, from_repo_key, from_number, to_repo_key, to_number, transferred_at",
            ("issue_id", "from_number", "to_number"), ("transferred_at",)),
    Target(
        "community_activity",
        ("plugin_name", "repo", "granularity", "period_start", *_METRICS.split(", ")),
        ("plugin_name", "repo", "granularity", "period_key"),
        f"""SELECT plugin_name, repo, 'DAY', period_start, {_METRICS} FROM community_daily
            UNION ALL SELECT plugin_name, repo, 'MONTH', period_start, {_METRICS} FROM community_monthly
            UNION ALL SELECT plugin_name, repo, 'TOTAL', NULL::DATE, {_METRICS} FROM community_total""",
        sums=tuple(_METRICS.split(", ")), group="granularity",
    ),
)
READ_BACK_CHECK = "postgres_community_activity_read_back"


def _load(cursor: psycopg.Cursor, target: Target, rows: pa.Table) -> dict:
    """Stage the desired rows, upsert those that differ, delete those no longer desired."""
    staging, columns = f"incoming_{target.name}", ", ".join(target.columns)
    cursor.execute(f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {target.name} LIMIT 0")
    if "period_start" in target.columns:
        cursor.execute(f"ALTER TABLE {staging} ADD COLUMN period_key date "
                       "GENERATED ALWAYS AS (COALESCE(period_start, DATE '0001-01-01')) STORED")
    buffer = io.BytesIO()
    pacsv.write_csv(rows.rename_columns(list(target.columns)), buffer, pacsv.WriteOptions(include_header=False))
    with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())
    joined = " AND ".join(f"s.{k} = cur.{k}" for k in target.keys)
    values = [c for c in target.columns if c not in target.keys and c != "period_start"]
    changed = " OR ".join(f"cur.{c} IS DISTINCT FROM s.{c}" for c in values) or "false"
    updates = ", ".join(f"{c} = excluded.{c}" for c in values)
    written = cursor.execute(
        f"INSERT INTO {target.name} AS t ({columns}) SELECT {', '.join('s.' + c for c in target.columns)} FROM {staging} s "
        f"LEFT JOIN {target.name} cur ON {joined} WHERE cur.{target.keys[0]} IS NULL OR {changed} "
        f"ON CONFLICT ({', '.join(target.keys)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    ).rowcount
    deleted = cursor.execute(f"DELETE FROM {target.name} cur WHERE NOT EXISTS (SELECT 1 FROM {staging} s WHERE {joined})").rowcount
    return {"desired": rows.num_rows, "written": written, "deleted": deleted}


def publish_community(warehouse: DuckDBWarehouse, postgres: PostgresResource, before_commit=None) -> dict:
    """Every community table equal to the warehouse's, all in one Postgres transaction."""
    with warehouse.connect() as con:
        desired = {t.name: con.sql(t.source_sql).to_arrow_table() for t in TARGETS}
    with postgres.connect() as connection:
        apply_migrations(connection)
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")  # warehouse timestamps are naive UTC
            for target in TARGETS:
                cursor.execute(f"LOCK TABLE {target.name} IN SHARE ROW EXCLUSIVE MODE")
            result = {t.name: _load(cursor, t, desired[t.name]) for t in TARGETS}
            if before_commit is not None:
                before_commit()
    return result


FEED = ("community_daily", "community_monthly", "community_total")


def check_community(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    """Every community table: row counts and sums (ids, numbers, instants, metrics per granularity) equal the warehouse's."""
    with warehouse.connect() as con, postgres.connect() as connection:
        connection.execute("SET TIME ZONE 'UTC'")
        compared = compare_postgres(con, connection, [t.read_back for t in TARGETS])
    return read_back_result(READ_BACK_CHECK, "Postgres", compared)


def reconcile_community(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> list[Repaired]:
    """A publish compares every table whole: rows written were missing or changed, rows deleted extra."""
    result = publish_community(warehouse, postgres)
    repairs = {name: {"desired_rows": c["desired"], "repaired_rows": c["written"], "deleted_extra": c["deleted"]}
               for name, c in result.items()}
    return [(dg.AssetKey(["postgres", "community_activity"]), repairs, check_community(warehouse, postgres))]


@dg.asset(
    key=["postgres", "community_activity"],
    deps=[community_github, community_daily, community_monthly, community_total],
    group_name="sinks", kinds={"postgres"}, owners=OWNERS, pool=WAREHOUSE_POOL,
    metadata={CONSUMES: ",".join(FEED)},
    check_specs=[read_back_spec(READ_BACK_CHECK, dg.AssetKey(["postgres", "community_activity"]),
                                "Row counts and sums of community_activity (per granularity) and of each entity table "
                                "equal the warehouse's.")],
)
def postgres_community_activity(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.MaterializeResult:
    """community_activity and the community entity tables in Postgres, equal to the warehouse,
    whenever the community metrics changed (small tables: compared whole)."""
    with warehouse.connect() as con:
        todo = changes.pending(con, "postgres/community_activity", FEED)
    if not todo:
        return dg.MaterializeResult(metadata={"published": "nothing changed"},
                                    check_results=[check_community(warehouse, postgres)])
    result = publish_community(warehouse, postgres)
    with warehouse.connect() as con:
        changes.advance(con, todo)
    rows = sum(counts["desired"] for counts in result.values())
    return dg.MaterializeResult(metadata={"dagster/row_count": rows,
                                          **{name: dg.MetadataValue.json(counts) for name, counts in result.items()}},
                                check_results=[check_community(warehouse, postgres)])
