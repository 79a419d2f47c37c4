"""ERROR check: the two sinks agree. Per period, the install figures DynamoDB was last written (as
recorded in `sink_published`) and Postgres' rows have the same count, sum and (plugin, value)
checksum, and so do the commit TOTALs, once neither sink is running. It compares the periods both
sinks published since it last passed (everything the first time); the nightly reconciliation
compares every period."""

import dagster as dg

from metrics_pipeline import changes
from metrics_pipeline.resources.postgres import PostgresResource
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, bind
from metrics_pipeline.sinks.dynamodb import GITHUB_FEED, INSTALL_FEED, INSTALL_PUBLISHED_IN_SCOPE
from metrics_pipeline.sinks.postgres import GITHUB_ACTIVITY, INSTALL_ACTIVITY, in_scope
from metrics_pipeline.sinks.scope import SinkFeed, SinkScope

EXAMPLES = 5

# Per period (DAY:yyyymmdd, MONTH:yyyymm, TOTAL, commit TOTALs): items, sum of values and a checksum of
# (plugin, value) pairs, each computed in its own engine; only these aggregates reach Python.
_GROUPED = """
SELECT period, count(*), coalesce(sum(value), 0), coalesce(sum({checksum}), 0)
FROM ({figures}) AS f GROUP BY period
"""
DYNAMODB_FIGURES_SQL = _GROUPED.format(checksum="('0x' || left(md5(pk || '|' || coalesce(value::VARCHAR, '')), 7))::BIGINT", figures="""
SELECT pk, CASE WHEN sk = 'TOTAL:' THEN 'TOTAL' ELSE sk END AS period,
       TRY_CAST(split_part(item_value, '|', 2) AS BIGINT) AS value FROM sink_published p
WHERE sink = 'dynamodb:install-activity' AND item_value IS NOT NULL AND """ + INSTALL_PUBLISHED_IN_SCOPE + """
UNION ALL
SELECT pk, 'COMMITS TOTAL', TRY_CAST(split_part(item_value, '|', 3) AS BIGINT) FROM sink_published
WHERE sink = 'dynamodb:github-activity' AND item_value IS NOT NULL AND starts_with(sk, 'TOTAL:') AND $totals
""")
PENDING_SQL = "SELECT count(*) FROM sink_published WHERE sink LIKE 'dynamodb:%' AND item_value IS NULL"
POSTGRES_FIGURES_SQL = _GROUPED.format(checksum="('x' || left(md5(pk || '|' || coalesce(value::text, '')), 7))::bit(28)::int",
                                       figures="""
SELECT plugin_name AS pk, CASE granularity WHEN 'DAY' THEN 'DAY:' || to_char(period_start, 'YYYYMMDD')
                                           WHEN 'MONTH' THEN 'MONTH:' || to_char(period_start, 'YYYYMM')
                                           ELSE 'TOTAL' END AS period, install_count AS value
FROM install_activity WHERE {in_scope}
UNION ALL
SELECT plugin_name, 'COMMITS TOTAL', commit_count FROM github_activity WHERE granularity = 'TOTAL' AND %s
""")
# What the check compares: the periods changed in the rollups both sinks project, up to where every
# sink has published (a period one sink has not published yet waits for the next evaluation).
FEED = SinkFeed("quality/sinks_agree", days=INSTALL_FEED.days, months=INSTALL_FEED.months,
                totals=(*INSTALL_FEED.totals, "total_commits"))
SINK_FEEDS = (INSTALL_FEED, GITHUB_FEED, INSTALL_ACTIVITY.feed, GITHUB_ACTIVITY.feed)


def compare(dynamodb: dict[str, tuple], postgres: dict[str, tuple], pending: int, scope: SinkScope) -> dg.AssetCheckResult:
    """`dynamodb`/`postgres`: period -> (items, sum, checksum) of the periods in `scope`."""
    differ = sorted(p for p in dynamodb.keys() | postgres.keys() if dynamodb.get(p) != postgres.get(p))

    def side(figures: tuple | None) -> str:
        return "none" if figures is None else f"{figures[0]} item(s) summing {figures[1]}"

    examples = [f"{p}: dynamodb {side(dynamodb.get(p))}, postgres {side(postgres.get(p))}"
                + (" (same sums, other plugins)" if side(dynamodb.get(p)) == side(postgres.get(p)) else "")
                for p in differ[:EXAMPLES]]
    return dg.AssetCheckResult(
        passed=not differ and not pending,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dynamodb_figures": sum(f[0] for f in dynamodb.values()),
                  "postgres_figures": sum(f[0] for f in postgres.values()), "periods_differing": len(differ),
                  "dynamodb_writes_unfinished": pending, "examples": "\n".join(examples),
                  "periods_compared": scope.describe()},
        description=None if not differ else f"{len(differ)} period(s) differ, e.g. {examples[0]}",
    )


@dg.asset_check(
    asset=dg.AssetKey(["postgres", "install_activity"]),
    additional_deps=[dg.AssetKey(["dynamodb", "install_activity"]), dg.AssetKey(["dynamodb", "github_activity"]),
                     dg.AssetKey(["postgres", "github_activity"])],
    pool=WAREHOUSE_POOL,
    blocking=True,  # nothing follows it; a disagreement fails the run, so it alerts like a failed read-back
)
def sinks_agree(warehouse: DuckDBWarehouse, postgres: PostgresResource) -> dg.AssetCheckResult:
    """DynamoDB and Postgres hold the same DAY/MONTH/TOTAL installs and commit TOTALs. What to do:
    run sink_reconciliation_job; it repairs both from the warehouse."""
    with warehouse.connect() as con:
        published = min(changes.cursor(con, feed.consumer) or 0 for feed in SINK_FEEDS)
        todo = changes.pending(con, FEED.consumer, FEED.inputs, upto=published)
        scope = FEED.scope(todo)
        with scope.registered(con) as params:
            dynamodb = {row[0]: tuple(row[1:])
                        for row in con.execute(DYNAMODB_FIGURES_SQL, bind(DYNAMODB_FIGURES_SQL, params)).fetchall()}
        pending = con.execute(PENDING_SQL).fetchall()[0][0]
    where, where_params = in_scope(scope)
    with postgres.connect() as connection:
        exists = connection.execute(
            "SELECT to_regclass('install_activity') IS NOT NULL AND to_regclass('github_activity') IS NOT NULL"
        ).fetchone()[0]
        postgres_rows = {row[0]: tuple(row[1:]) for row in connection.execute(
            POSTGRES_FIGURES_SQL.format(in_scope=where), [*where_params, scope.totals]).fetchall()} if exists else {}
    result = compare(dynamodb, postgres_rows, pending, scope)
    if result.passed:  # a difference is compared again until it is repaired
        with warehouse.connect() as con:
            changes.advance(con, todo)
    return result
