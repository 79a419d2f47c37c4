"""Readable progress for the demo: one line per stage (what each asset wrote, seconds), no event logs."""

from __future__ import annotations

import textwrap
import time
from collections import defaultdict

import dagster as dg

# Dagster's console logger at WARNING: the demo prints its own lines; warnings and errors still show.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
_FIGURES = ("dagster/row_count", "written", "deleted", "unchanged")


def _value(entry) -> int | None:
    value = getattr(entry, "value", entry)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def asset_figures(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, int]]:
    """Per asset: row counts and sink writes, summed over its materializations (one per partition);
    figures recorded for a whole window (same window on every partition of a range) count once."""
    figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen = set()
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        figures[name]  # an asset without figures still gets a line
        window = tuple(str(materialization.metadata.get(key, "")) for key in ("window_start", "window_end_exclusive"))
        if window != ("", "") and (name, window) in seen:
            continue
        seen.add((name, window))
        for key in _FIGURES:
            value = _value(materialization.metadata.get(key))
            if value is not None:
                figures[name][key.removeprefix("dagster/").replace("row_count", "rows")] += value
    return figures


def check_outcomes(result: dg.ExecuteInProcessResult) -> tuple[int, list[str]]:
    """(checks passed, descriptions of the failed ones)."""
    passed, failed = 0, []
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        evaluation = event.event_specific_data
        if evaluation.passed:
            passed += 1
        else:
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} ({evaluation.severity.value})")
    return passed, failed


def describe(figures: dict[str, dict[str, int]]) -> str:
    parts = []
    for name, values in figures.items():
        shown = ", ".join(f"{number:,} {label}" for label, number in values.items())
        parts.append(f"{name} ({shown})" if shown else name)
    return "; ".join(parts)


class Stages:
    """Runs jobs one after another, printing `[i/n] job: figures (seconds)`; remembers check outcomes."""

    def __init__(self, total: int):
        self.total, self.done, self.passed, self.failed = total, 0, 0, []

    def run(self, definitions: dg.Definitions, name: str, instance: dg.DagsterInstance, tags=None, label: str = ""):
        self.done += 1
        started = time.monotonic()
        result = definitions.resolve_job_def(name).execute_in_process(
            instance=instance, tags=tags or {}, run_config=QUIET_RUN_CONFIG, raise_on_error=False
        )
        seconds = time.monotonic() - started
        passed, failed = check_outcomes(result)
        self.passed += passed
        self.failed += failed
        prefix = f"[{self.done}/{self.total}] {name}{' ' + label if label else ''}"
        if not result.success:
            failure = next((e for e in result.all_events if e.is_failure), None)
            reason = failure.message if failure is not None else "see the Dagster UI (make dev) for the run's logs"
            raise SystemExit(f"{prefix}: FAILED after {seconds:.1f} s (run {result.run_id}): {reason[:200]}")
        line = f"{prefix} ({seconds:.1f} s): {describe(asset_figures(result))}"
        print(textwrap.fill(line, width=120, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False),
              flush=True)  # readable lines, however many assets the graph holds
        return result
