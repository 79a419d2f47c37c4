"""Every installed plugin's model in one step: `plugins/<name>/daily`, its monthly and total sums, its rollups.

Each plugin follows `raw_installs` through the change log. The step reads the download rows of the
days any plugin has pending once (only the columns the plugins require), runs each plugin's SQL once
per contiguous window of days, and replaces that plugin's days, derived tables and cursor in one
transaction. A plugin installed later builds every landed day; a changed model (code version)
migrates its tables and rebuilds every day; a plugin that fails is left as it was (its `computed`
check says why) while the others go on.
"""


import hashlib
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import duckdb

from metrics_pipeline import changes
from metrics_pipeline.asset_conventions import CONSUMES, OWNERS, column_schema
from metrics_pipeline.changes import WHOLE, Range
from metrics_pipeline.partitions import FIRST_DAY
from metrics_pipeline.plugins import compute, derived, store
from metrics_pipeline.plugins.contract import PluginRefused
from metrics_pipeline.plugins.rows import PluginRowsSource, missing_columns_message
from metrics_pipeline.plugins.spec import IMPLEMENTED_SOURCES, MetricPlugin
from metrics_pipeline.quality.evaluations import Outcome, brief, days_result
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse, scratch as scratch_duckdb, transaction

GROUP = "plugins"
UPSTREAM = {"downloads": "raw_installs"}
_WHAT = {"daily": "one row per day and dimension", "monthly": "the month's days summed", "total": "every month summed"}


def code_version(plugin: MetricPlugin) -> str:
    """Changes whenever what the plugin's tables hold would change: model, SQL, source, rollups."""
    declared = repr((plugin.columns, plugin.sql, plugin.source, plugin.additive, plugin.requires, plugin.rollups))
    return hashlib.sha256(declared.encode()).hexdigest()[:16]


def asset_key(plugin: MetricPlugin, part: str) -> dg.AssetKey:
    """`plugins/<name>_<part>`: the graph labels a node by its last part, so it names the plugin."""
    return dg.AssetKey(["plugins", f"{plugin.name}_{part}"])


def consumer(plugin: MetricPlugin) -> str:
    """The cursor the catch-up sensor reads (the daily asset's key): it moves once a change set was
    handled, computed or refused, so an author mistake is never retried by the sensor."""
    return asset_key(plugin, "daily").to_user_string()


def model_consumer(plugin: MetricPlugin) -> str:
    """The cursor of what the current model has computed; a new model version has none (a full rebuild)."""
    return f"{consumer(plugin)}@{code_version(plugin)}"


def built(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin) -> bool:
    """The warehouse holds the plugin's current model, built at least once."""
    return changes.cursor(con, model_consumer(plugin)) is not None and store.current(con, plugin)


def computed_check(plugin: MetricPlugin) -> str:
    return f"{plugin.name}_computed"


def _spec(plugin: MetricPlugin, table: store.Table) -> dg.AssetSpec:
    upstream = dg.AssetKey(UPSTREAM.get(plugin.source, "raw_installs")) if table.part == "daily" else (
        asset_key(plugin, "monthly") if table.part == "total" else asset_key(plugin, "daily"))
    described = {c.name: c.description for c in table.columns}
    schema = column_schema(*((name, type_, described.get(name, "period")) for name, type_ in table.typed))
    metadata = {"dagster/column_schema": schema, "plugin": plugin.name, "plugin_source": plugin.source}
    if table.part == "daily":
        metadata[CONSUMES] = UPSTREAM.get(plugin.source, "raw_installs")
    rollup = next((r for r in plugin.rollups if r.name == table.part), None)
    what = f"{rollup.summary} (rollup per {rollup.period})" if rollup else _WHAT[table.part]
    return dg.AssetSpec(
        asset_key(plugin, table.part), deps=[upstream], group_name=GROUP, owners=OWNERS, kinds=set(plugin.kinds),
        skippable=True, code_version=code_version(plugin), metadata=metadata,
        description=f"{plugin.summary}: {what}.{(' ' + plugin.description) if plugin.description else ''}",
    )


def _check_specs(plugin: MetricPlugin) -> list[dg.AssetCheckSpec]:
    daily = asset_key(plugin, "daily")
    return [
        dg.AssetCheckSpec(computed_check(plugin), asset=daily,
                          description=f"Plugin {plugin.name!r} computed every changed day. What to do: read the "
                          "message (it names the plugin, column and rule), fix the plugin package; its days rebuild."),
        # A blocking plugin check blocks that plugin alone: its days roll back and its outputs are skipped,
        # so only its own sink waits (a Dagster-blocking check would stop every plugin's step).
        *(dg.AssetCheckSpec(c.name, asset=daily, description=c.description) for c in plugin.checks),
    ]


class BlockingCheckFailed(PluginRefused):
    def __init__(self, run: "PluginRun", failing: list[str]):
        super().__init__(f"blocking check(s) {', '.join(failing)} failed: the plugin's days were left as they were")
        self.run = run


@dataclass
class PluginRun:
    """What one plugin did in a step."""

    ranges: list[Range] = field(default_factory=list)
    rows: int = 0
    bad: dict[str, dict[date, int]] = field(default_factory=dict)  # check -> day -> bad rows
    derived: dict[str, list[Range]] = field(default_factory=dict)  # derived table -> periods refreshed
    error: str | None = None


def _landed_days(con: duckdb.DuckDBPyConnection, ranges: list[Range]) -> list[Range]:
    """`ranges` cut to the days raw_installs landed (a first run's WHOLE becomes every landed day)."""
    if not ranges:
        return []
    landed = con.execute(
        """
        SELECT min(day), max(day) FROM (
            SELECT day, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS island
            FROM source_fingerprints WHERE source = 'installs' AND day >= ?)
        GROUP BY island ORDER BY 1
        """, [FIRST_DAY]).fetchall()
    return changes.merge((max(a, first), min(b, last)) for a, b in ranges for first, last in landed
                         if a <= last and b >= first)


def _pending(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin) -> changes.Pending:
    """What the plugin's current model has not computed yet: everything when its tables hold another model."""
    upstream = UPSTREAM.get(plugin.source, "raw_installs")
    todo = changes.pending(con, model_consumer(plugin), [upstream])
    if not todo.first_run and not store.current(con, plugin):
        return changes.Pending(todo.consumer, todo.upto, {upstream: [WHOLE]}, first_run=True)
    return todo


def _move_cursors(con: duckdb.DuckDBPyConnection, plugin: MetricPlugin, todo: changes.Pending, computed: bool) -> None:
    changes.advance(con, changes.Pending(consumer(plugin), todo.upto, {}))
    if computed:
        changes.advance(con, todo)
        con.execute("DELETE FROM change_cursors WHERE starts_with(consumer, ?) AND consumer <> ?",
                    [consumer(plugin) + "@", todo.consumer])


def run_plugin(con, scratch, plugin: MetricPlugin, todo: changes.Pending, ranges: list[Range], incomplete: set[date],
               plugin_names: list[str]) -> PluginRun:
    """Replace the plugin's days in `ranges` (but incomplete ones) window by window, refresh what derives
    from them, record the changes and move its cursors: one transaction."""
    done = PluginRun(ranges)
    with transaction(con):
        store.ensure_tables(con, plugin)
        for first, last in compute.windows(ranges, incomplete):
            done.rows += compute.compute_window(scratch, con, plugin, first, last, plugin_names)
            for check, days in compute.check_window(scratch, plugin, first, last, plugin_names).items():
                done.bad.setdefault(check, {}).update(days)
        failing = sorted({c.name for c in plugin.checks if c.blocking and any(done.bad.get(c.name, {}).values())})
        if failing:
            raise BlockingCheckFailed(done, failing)
        changes.record(con, plugin.table("daily"), ranges)
        done.derived = derived.refresh(con, plugin, ranges)
        for table, periods in done.derived.items():
            changes.record(con, table, periods)
        _move_cursors(con, plugin, todo, computed=True)
    return done


def _results(plugin: MetricPlugin, run: PluginRun):
    """The plugin's materializations (when it ran) and its checks' results."""
    key = asset_key(plugin, "daily")
    if run.error is None:
        for table in store.tables(plugin):
            metadata = ({"dagster/row_count": run.rows, "days_refreshed": changes.describe(run.ranges)}
                        if table.part == "daily" else {"periods_refreshed": changes.describe(run.derived.get(table.name, []))})
            yield dg.MaterializeResult(asset_key=asset_key(plugin, table.part), metadata=metadata)
    yield dg.AssetCheckResult(
        asset_key=key, check_name=computed_check(plugin), passed=run.error is None, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days": changes.describe(run.ranges)}, description=brief(run.error or "every changed day computed", 400),
    )
    for check in plugin.checks:
        outcomes = {day: Outcome(n == 0, {"bad_rows": n}, None if n == 0 else f"{n} bad rows")
                    for day, n in run.bad.get(check.name, {}).items()}
        severity = dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN
        yield days_result(check.name, outcomes, severity, check.description, asset_key=key)


def _refusal(plugin: MetricPlugin, rows: PluginRowsSource) -> str | None:
    """Why the configured source cannot feed the plugin (the loader leaves such plugins out too)."""
    if plugin.source not in IMPLEMENTED_SOURCES:
        return (f"plugin {plugin.name!r} reads source {plugin.source!r}, which the pipeline does not feed to plugins "
                f"yet (implemented: {', '.join(IMPLEMENTED_SOURCES)})")
    missing = rows.missing_columns(compute.required(plugin))
    return missing_columns_message(plugin.name, rows.kind, missing) if missing else None


def plugin_models(plugins: tuple[MetricPlugin, ...]) -> dg.AssetsDefinition:
    """One step for every plugin: a single read of the source rows their pending days need."""
    specs = [_spec(p, t) for p in plugins for t in store.tables(p)]

    @dg.multi_asset(name="plugin_models", specs=specs, check_specs=[c for p in plugins for c in _check_specs(p)],
                    can_subset=True, pool=WAREHOUSE_POOL)
    def _models(context: dg.AssetExecutionContext, plugin_rows: PluginRowsSource, registry: PluginRegistry,
                warehouse: DuckDBWarehouse):
        selected = [p for p in plugins if asset_key(p, "daily") in context.selected_asset_keys]
        plugin_names = list(registry.load().plugin_names)
        runs: dict[str, PluginRun] = {}
        with warehouse.connect() as con:
            todo = {p.name: _pending(con, p) for p in selected}
            ranges = {p.name: _landed_days(con, todo[p.name].ranges()) for p in selected}
            refusals = {p.name: _refusal(p, plugin_rows) for p in selected}
            for plugin in selected:
                if refusals[plugin.name]:
                    runs[plugin.name] = PluginRun(ranges[plugin.name], error=refusals[plugin.name])
                    _move_cursors(con, plugin, todo[plugin.name], computed=False)
        reading = [p for p in selected if p.name not in runs and ranges[p.name]]
        needed = changes.merge(r for p in reading for r in ranges[p.name])
        paths = sorted({c for p in reading for c in compute.required(p)})
        with scratch_duckdb() as scratch, warehouse.connect() as con:
            incomplete = plugin_rows.load(scratch, needed, paths, plugin_names) if needed else set()
            for plugin in selected:
                if plugin.name in runs:
                    continue
                try:
                    runs[plugin.name] = run_plugin(con, scratch, plugin, todo[plugin.name], ranges[plugin.name],
                                                   incomplete, plugin_names)
                except PluginRefused as refused:
                    runs[plugin.name] = getattr(refused, "run", PluginRun(ranges[plugin.name]))
                    runs[plugin.name].error = str(refused)
                    context.log.error(str(refused)[:300])
                    _move_cursors(con, plugin, todo[plugin.name], computed=False)
                except Exception as error:  # noqa: BLE001 - a plugin's failure stays with its own assets; retried
                    runs[plugin.name] = PluginRun(ranges[plugin.name], error=f"{type(error).__name__}: {error}")
                    context.log.error(f"plugin {plugin.name}: {runs[plugin.name].error}"[:300])
        for plugin in selected:
            yield from _results(plugin, runs[plugin.name])

    return _models
