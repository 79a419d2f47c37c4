"""Try a metric plugin without Dagster: `check` its declaration, `run` it on local download files.

    python -m metrics_pipeline.plugins check [PLUGIN ...]
    python -m metrics_pipeline.plugins run PLUGIN --day 2024-01-31 [--to 2024-02-29]
        [--downloads DIR] [--registry CSV] [--installers pip,uv] [--rows 20]

PLUGIN is an installed plugin's name or `module:ATTRIBUTE` (a package not installed yet, on sys.path).
`run` computes exactly as the pipeline does (same contract, same windows, rollups in an in-memory
warehouse) and prints every table and each check per day. Exit code 1: the plugin was refused.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import sys
from datetime import date
from typing import TextIO

import duckdb

from metrics_pipeline.plugins import compute, derived, store
from metrics_pipeline.plugins.contract import PluginRefused, check_declaration
from metrics_pipeline.plugins.loader import installed_plugins, usable_plugins
from metrics_pipeline.plugins.rows import FilePluginRows
from metrics_pipeline.plugins.spec import MetricPlugin, PluginSpecError, validate
from metrics_pipeline.registry import PluginRegistry
from metrics_pipeline.resources.warehouse import scratch as scratch_duckdb


def _resolve(name: str) -> MetricPlugin:
    if ":" in name:
        module, attribute = name.split(":", 1)
        loaded = getattr(importlib.import_module(module), attribute)
        plugin = validate(loaded() if callable(loaded) and not isinstance(loaded, MetricPlugin) else loaded, name)
        return check_declaration(plugin)
    installed = installed_plugins()
    found = next((p for p in installed.plugins if p.name == name), None)
    if found is None:
        why = next((w for point, w in installed.refused.items() if name in point), None)
        raise PluginSpecError(why or f"no installed plugin is named {name!r} (installed: "
                                     f"{', '.join(p.name for p in installed.plugins)})")
    return found


def check(names: list[str], out: TextIO) -> int:
    """Each named plugin (default: every installed one) as the pipeline would load it."""
    failed = 0
    if not names:
        usable = usable_plugins()
        for plugin in usable.plugins:
            out.write(f"ok  {plugin.name}: {', '.join(t.name for t in store.tables(plugin))}\n")
        for origin, why in usable.refused.items():
            out.write(f"refused  {origin}: {why}\n")
        return 1 if usable.refused else 0
    for name in names:
        try:
            plugin = _resolve(name)
        except (PluginSpecError, ImportError, AttributeError) as error:
            out.write(f"refused  {name}: {error}\n")
            failed += 1
            continue
        out.write(f"ok  {plugin.name}: reads {', '.join(compute.required(plugin))}; "
                  f"fills {', '.join(t.name for t in store.tables(plugin))}\n")
    return 1 if failed else 0


def _print_table(con: duckdb.DuckDBPyConnection, table: store.Table, limit: int, out: TextIO) -> None:
    order = ", ".join(table.key) or "ALL"
    total = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]
    rows = con.execute(f"SELECT * FROM {table.name} ORDER BY {order} LIMIT ?", [limit]).fetchall()
    out.write(f"\n{table.name} ({total} rows{', first ' + str(limit) if total > limit else ''})\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in table.typed])
    writer.writerows(rows)


def run(name: str, first: date, last: date, downloads: str, registry: str, installers: list[str], limit: int,
        out: TextIO) -> int:
    """The plugin's tables for [first, last] from the files in `downloads`, printed."""
    plugin = _resolve(name)
    plugin_names = list(PluginRegistry(csv_path=registry).load().plugin_names)
    rows = FilePluginRows(directory=downloads, installers=installers)
    with scratch_duckdb() as scratch, scratch_duckdb() as warehouse:  # the run's warehouse lives in memory here
        incomplete = rows.load(scratch, [(first, last)], compute.required(plugin), plugin_names)
        store.ensure_tables(warehouse, plugin)
        bad: dict[str, dict[date, int]] = {}
        for a, b in compute.windows([(first, last)], incomplete):
            compute.compute_window(scratch, warehouse, plugin, a, b, plugin_names)
            for check_name, days in compute.check_window(scratch, plugin, a, b, plugin_names).items():
                bad.setdefault(check_name, {}).update(days)
        derived.refresh(warehouse, plugin, [(first, last)])
        for table in store.tables(plugin):
            _print_table(warehouse, table, limit, out)
    for check_name, days in bad.items():
        failing = {day: n for day, n in days.items() if n}
        out.write(f"\ncheck {check_name}: " + ("passed" if not failing else
                  "failed on " + ", ".join(f"{day} ({n} bad rows)" for day, n in sorted(failing.items()))) + "\n")
    if incomplete:
        out.write(f"\nleft out (a quarantined file could hold them): {', '.join(map(str, sorted(incomplete)))}\n")
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m metrics_pipeline.plugins", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="load plugins as the pipeline does and report refusals")
    checking.add_argument("plugins", nargs="*", help="plugin names or module:ATTRIBUTE (default: every installed one)")
    running = commands.add_parser("run", help="compute a plugin for some days of local download files")
    running.add_argument("plugin")
    running.add_argument("--day", required=True, type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    running.add_argument("--to", type=date.fromisoformat, help="last UTC day (default: --day)")
    running.add_argument("--downloads", default=os.environ.get("METRICS_DOWNLOADS_DIR"),
                         help="directory of download Parquet files (default: METRICS_DOWNLOADS_DIR)")
    running.add_argument("--registry", default=os.environ.get("METRICS_REGISTRY_CSV"),
                         help="registry CSV (default: METRICS_REGISTRY_CSV)")
    running.add_argument("--installers", default=os.environ.get("METRICS_INSTALLERS", "pip"),
                         help="installers that count as installs, comma-separated (default: METRICS_INSTALLERS or pip)")
    running.add_argument("--rows", type=int, default=20, help="rows shown per table")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.plugins, out)
    if not args.downloads or not args.registry:
        parser.error("run needs --downloads and --registry (or METRICS_DOWNLOADS_DIR and METRICS_REGISTRY_CSV)")
    try:
        return run(args.plugin, args.day, args.to or args.day, args.downloads, args.registry,
                   [i.strip() for i in args.installers.split(",") if i.strip()], args.rows, out)
    except (PluginRefused, PluginSpecError, ImportError, AttributeError) as error:
        out.write(f"refused: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
