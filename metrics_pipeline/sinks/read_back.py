"""Read-back checks: catch drift made outside the pipeline (edits, deletes, a restored backup).

DynamoDB: a random sample of published keys is fetched with BatchGetItem and compared with
what we recorded; drifted keys are marked pending so the next publish rewrites them, and the
check fails (ERROR) until they are repaired. Postgres: per-granularity row counts and sums must
equal the rollups'. The other sinks (events, community, plugins, restatements, InfluxDB) compare
per-group row counts and sums computed in each engine (`Aggregate`, `read_back_result`): only those
figures reach Python. `sink_reconciliation_job` (reconcile.py) repairs the whole sink.
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg

from metrics_pipeline.resources.dynamodb import DynamoDBResource
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.quality.evaluations import brief
from metrics_pipeline.resources.warehouse import DuckDBWarehouse, bind, transaction
from metrics_pipeline.sinks.dynamodb import ItemSet, stored_value
from metrics_pipeline.sinks.postgres import PostgresTable
from metrics_pipeline.sinks.scope import SinkScope

SAMPLE_SIZE = 200
REPAIR_HINT = "drift outside the pipeline: run sink_reconciliation_job (or the sink asset) to repair"


def _batch_get(client, table: str, keys: list[dict], attempts: int = 8) -> list[dict]:
    found = []
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
        for attempt in range(attempts):
            response = client.batch_get_item(RequestItems=request)
            found += response["Responses"].get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2 ** attempt)
        if request:
            raise RuntimeError(f"BatchGetItem on {table} left keys unprocessed after {attempts} attempts")
    return found


def check_dynamodb(sink: ItemSet, warehouse: DuckDBWarehouse, dynamodb: DynamoDBResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        sample = con.execute(
            "SELECT pk, sk, item_value FROM sink_published WHERE sink = ? AND item_value IS NOT NULL"
            " ORDER BY random() LIMIT ?",
            [sink.published_name, SAMPLE_SIZE],
        ).fetchall()
    table = dynamodb.table_name(sink.suffix)
    keys = [{"plugin_name": {"S": pk}, sink.range_key: {"S": sk}} for pk, sk, _ in sample]
    found = _batch_get(dynamodb.client(), table, keys) if keys else []
    items = {(i["plugin_name"]["S"], i[sink.range_key]["S"]): i for i in found}
    missing = [(pk, sk) for pk, sk, _ in sample if (pk, sk) not in items]
    different = [(pk, sk) for pk, sk, value in sample
                 if (pk, sk) in items and stored_value(sink, items[(pk, sk)]) != value]
    with warehouse.connect() as con, transaction(con):
        if missing or different:  # the next publish rewrites them
            con.executemany(
                "UPDATE sink_published SET item_value = NULL, published_at = NULL WHERE sink = ? AND pk = ? AND sk = ?",
                [[sink.published_name, pk, sk] for pk, sk in missing + different],
            )
        awaiting, published = con.execute(
            "SELECT count(*) FILTER (WHERE item_value IS NULL), count(*) FROM sink_published WHERE sink = ?",
            [sink.published_name],
        ).fetchone()
    passed = not missing and not different and not awaiting
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if passed else REPAIR_HINT,
        check_name=f"dynamodb_{sink.suffix.replace('-', '_')}_read_back",
        metadata={"table": table, "sampled": len(sample), "missing": len(missing), "different": len(different),
                  "keys_awaiting_rewrite": awaiting, "published_keys": published,
                  "examples": ", ".join(f"{pk[:60]} {sk[:60]}" for pk, sk in (missing + different)[:5])},
    )


def published_rows_sql(table: PostgresTable) -> str:
    """DuckDB: every row the table should hold (`$refusing` names its quarantine; register a scope
    first): rows the sink refused (quarantined) are not expected there."""
    first, *rest = [name for name, _ in table.keys]
    refused = " || '|' || ".join(f"coalesce(CAST(r.{c} AS VARCHAR), '')" for c in rest) or "''"
    return (f"SELECT * FROM ({table.source_sql}) AS r({', '.join(table.columns)})"
            f" WHERE NOT EXISTS (SELECT 1 FROM sink_quarantine q WHERE q.sink = $refusing AND q.pk = r.{first}"
            f" AND q.sk = {refused})")


def check_postgres(table: PostgresTable, warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    count_column = table.values[0][0]
    with warehouse.connect() as con, SinkScope.everything().registered(con) as everything:
        expected = {
            row[0]: (row[1], row[2]) for row in con.execute(
                f"SELECT granularity, count(*), coalesce(sum({count_column}), 0) FROM ({published_rows_sql(table)}) AS r"
                " GROUP BY granularity",
                bind(table.source_sql, everything) | {"refusing": f"postgres:{table.name}"},
            ).fetchall()
        }
    with postgres.connect() as connection:
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [table.name]).fetchone()[0]
        actual = {
            row[0]: (row[1], row[2]) for row in connection.execute(
                f"SELECT granularity, count(*), coalesce(sum({count_column}), 0) FROM {table.name} GROUP BY granularity"
            ).fetchall()
        } if exists else {}
    return dg.AssetCheckResult(
        passed=expected == actual,
        check_name=f"postgres_{table.name}_read_back",
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if expected == actual else REPAIR_HINT,
        metadata={"table": table.name, "rows": sum(n for n, _ in actual.values()),
                  "expected": str(dict(sorted(expected.items()))),
                  "actual": str(dict(sorted(actual.items())))},
    )


# Aggregate read-backs: per-group row counts and sums, computed in the warehouse and in the store.

RECONCILE_HINT = ("What to do: run sink_reconciliation_job (it also runs daily at 04:30 UTC): it rewrites missing and "
                  "changed rows and deletes extras, then runs this check again.")
Figures = dict[str, tuple]  # group (a day, a month, a granularity, 'all') -> (rows, sums...)


def read_back_spec(name: str, asset: dg.AssetKey, what: str) -> dg.AssetCheckSpec:
    """A blocking read-back check on a sink asset, described with what it compares and what to do."""
    return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=f"{what} {RECONCILE_HINT}")


@dataclass(frozen=True)
class Aggregate:
    """Row count and sums of one table per group, as SQL either engine runs. Timestamps are summed as
    epoch microseconds, integers in both engines, so any change of an instant shows."""

    table: str  # the store's table (a constant)
    group: str | None = None  # a column; None: the whole table is one group, 'all'
    sums: tuple[str, ...] = ()
    times: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return ("rows", *(f"sum({c})" for c in self.sums), *(f"sum({c} in epoch µs)" for c in self.times))

    def sql(self, source: str, postgres: bool = False, where: str = "") -> str:
        """`source` is a table or an aliased subquery holding the table's columns."""
        epoch = "(extract(epoch FROM {}) * 1000000)::int8" if postgres else "epoch_us({})"
        measures = ["count(*)", *(f"sum({c})" for c in self.sums), *(f"sum({epoch.format(c)})" for c in self.times)]
        group = self.group or "'all'"
        return (f"SELECT {group}, {', '.join(measures)} FROM {source}"
                + (f" WHERE {where}" if where else "") + (f" GROUP BY {self.group}" if self.group else ""))


def _number(value):
    """Sums as comparable Python numbers: Postgres answers numeric (Decimal), DuckDB HUGEINT (int)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def figures(rows: Sequence[Sequence]) -> Figures:
    return {str(row[0]): tuple(_number(v) for v in row[1:]) for row in rows}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):  # sums of doubles differ in the last bits between engines
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _shown(labels: Sequence[str], values: tuple) -> str:
    return ", ".join(f"{label} {value}" for label, value in zip(labels, values, strict=True))


def differences(table: str, labels: Sequence[str], expected: Figures, actual: Figures, store: str) -> list[str]:
    """One line per group whose figures differ, naming the table, the group and both values."""
    found = []
    for group in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(group), actual.get(group)
        if got is None:
            found.append(f"{table} {group}: missing from {store} (warehouse: {_shown(labels, want)})")
        elif want is None:
            found.append(f"{table} {group}: only in {store} ({_shown(labels, got)})")
        elif not all(_same(w, g) for w, g in zip(want, got, strict=True)):
            found.append(f"{table} {group}: " + ", ".join(
                f"{label} {w} in the warehouse, {g} in {store}"
                for label, w, g in zip(labels, want, got, strict=True) if not _same(w, g)))
    return found


@dataclass(frozen=True)
class Compared:
    """One table's figures from both sides."""

    table: str
    labels: tuple[str, ...]
    expected: Figures
    actual: Figures


def read_back_result(check_name: str, store: str, compared: Sequence[Compared],
                     scope: str | None = None) -> dg.AssetCheckResult:
    """ERROR when any group differs; the description names the first differences and what to do.
    `scope` names the periods compared when not every period was."""
    found = [line for c in compared for line in differences(c.table, c.labels, c.expected, c.actual, store)]
    groups = sum(len(c.expected.keys() | c.actual.keys()) for c in compared)
    shown = "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
    return dg.AssetCheckResult(
        passed=not found,
        check_name=check_name,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not found else f"{len(found)} of {groups} group(s) differ from the warehouse: "
        f"{brief(shown, 110)}. What to do: run sink_reconciliation_job.",
        metadata={"tables": ", ".join(c.table for c in compared), "groups_compared": groups,
                  "groups_differing": len(found), "differences": dg.MetadataValue.json(found[:20]),
                  "rows_in_store": sum(values[0] for c in compared for values in c.actual.values())}
        | ({"periods_compared": scope} if scope else {}),
    )


@dataclass(frozen=True)
class ReadBack:
    """One table to compare: the rows the warehouse says it holds (a DuckDB subquery, aliased) and
    which of the store's rows count (a Postgres condition)."""

    aggregate: Aggregate
    desired: str
    params: Sequence | dict = ()
    store_where: str = ""
    store_params: Sequence = ()
    label: str | None = None  # how differences name the table (default: its name)


def compare_postgres(con, connection, read_backs: Sequence[ReadBack]) -> list[Compared]:
    """Each table's figures in DuckDB (`con`) and in Postgres (`connection`); a missing table holds nothing."""
    found = []
    for rb in read_backs:
        table = rb.aggregate.table
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
        actual = figures(connection.execute(rb.aggregate.sql(table, postgres=True, where=rb.store_where),
                                            rb.store_params).fetchall()) if exists else {}
        expected = figures(con.execute(rb.aggregate.sql(rb.desired), rb.params).fetchall())
        found.append(Compared(rb.label or table, rb.aggregate.labels, _without_empty(expected), _without_empty(actual)))
    return found


def _without_empty(found: Figures) -> Figures:
    """A whole-table group of an empty table ('all': 0 rows) means the same as no group at all."""
    return {group: values for group, values in found.items() if values[0]}


def _bounds(influxdb, measurement: str) -> tuple[str, str] | None:
    """Times (RFC 3339) of the measurement's first and last points; None when it holds none."""
    influxdb.query(f'CREATE DATABASE "{influxdb.database}"')  # as a publish does: a new server has none
    found = []
    for order in ("ASC", "DESC"):
        series = influxdb.query(f'SELECT * FROM "{measurement}" ORDER BY time {order} LIMIT 1')[0].get("series")
        if not series:
            return None
        found.append(series[0]["values"][0][0])
    return found[0], found[1]


def influx_day_figures(influxdb, measurement: str, count_field: str, sum_fields: Sequence[str]) -> Figures:
    """Per UTC day: points (those with `count_field`) and field sums, computed by InfluxDB."""
    bounds = _bounds(influxdb, measurement)
    if bounds is None:
        return {}
    measures = ", ".join([f'count("{count_field}")', *(f'sum("{f}")' for f in sum_fields)])
    results = influxdb.query(f"SELECT {measures} FROM \"{measurement}\" WHERE time >= '{bounds[0][:10]}T00:00:00Z' "
                             f"AND time <= '{bounds[1]}' GROUP BY time(1d) fill(none)")
    rows = [row for series in results[0].get("series", []) for row in series["values"]]
    return {row[0][:10]: tuple(row[1:]) for row in rows}


def influx_points(influxdb, measurement: str, window_days: int = 100) -> list[dict]:
    """Every point of the measurement as {column: value} (time as RFC 3339 text), read in time windows
    so no answer grows with history."""
    bounds = _bounds(influxdb, measurement)
    if bounds is None:
        return []
    points, start, last = [], date.fromisoformat(bounds[0][:10]), date.fromisoformat(bounds[1][:10])
    while start <= last:
        stop = start + timedelta(days=window_days)
        results = influxdb.query(f"SELECT * FROM \"{measurement}\" WHERE time >= '{start}T00:00:00Z' "
                                 f"AND time < '{stop}T00:00:00Z'")
        for series in results[0].get("series", []):
            points += [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
        start = stop
    return points
