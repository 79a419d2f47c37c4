"""Check results over the days of a run, public Dagster APIs only.

Each day's outcome is written onto that day's partition (its figures and `check <name>`), and the
check reports one result per run that names the failing days with their figures: a 365-day
backfill writes one evaluation per check, not 365.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from metrics_pipeline.changes import day_ranges, describe

FAILING_DAYS_SHOWN = 20
BRIEF_CHARACTERS = 200  # Dagster logs a check's description after ~100 characters of its own


def brief(text: str, limit: int = BRIEF_CHARACTERS) -> str:
    """`text` as one readable log line: newlines folded, clipped with a count of what was left out
    (the full detail stays in the result's metadata)."""
    line = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= limit else f"{line[:limit - 30].rstrip()}... (+{len(line) - limit + 30} chars)"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    metadata: dict = field(default_factory=dict)
    description: str | None = None


def day_label(outcome: Outcome) -> str:
    return "passed" if outcome.passed else f"failed: {outcome.description or outcome.metadata}"


def days_result(
    check_name: str, outcomes: Mapping, severity: dg.AssetCheckSeverity, what: str,
    asset_key: dg.AssetKey | None = None,
) -> dg.AssetCheckResult:
    """One result for the run's days: passed when every day passed; failing days named with figures."""
    failing = {str(day): o for day, o in sorted(outcomes.items()) if not o.passed}
    shown = dict(list(failing.items())[:FAILING_DAYS_SHOWN])
    days = sorted(str(d) for d in outcomes)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=not failing,
        severity=severity,
        metadata={
            "days_checked": len(outcomes),
            "first_day": days[0] if days else "",
            "last_day": days[-1] if days else "",
            "days_failing": len(failing),
            "failing_days": dg.MetadataValue.json({day: o.metadata for day, o in shown.items()}),
        },
        description=what if not failing else _failing_text(failing),
    )


def _failing_text(failing: dict[str, Outcome]) -> str:
    """The failing days as ranges, then the first day's reason (every day's figures are in `failing_days`)."""
    days = describe(day_ranges([date.fromisoformat(day) for day in failing]))
    first = next(((day, o) for day, o in failing.items() if o.description or o.metadata.get("examples")), None)
    reason = f". {first[0]}: {first[1].description or first[1].metadata.get('examples')}" if first else ""
    return brief(f"{len(failing)} day(s) failed: {days}{reason}")


def partitioned_check(**kwargs):
    """`dg.asset_check` over the run's days (its context has the run's partition keys)."""
    kwargs.pop("partitions_def", None)
    return dg.asset_check(**kwargs)


def partition_evaluations(
    context: dg.AssetCheckExecutionContext, outcomes: Mapping[str, Outcome], severity: dg.AssetCheckSeverity,
) -> Iterator[dg.AssetCheckResult]:
    """The run's one result for a check over days (see `days_result`)."""
    spec = context.check_specs[0]
    yield days_result(spec.name, outcomes, severity, spec.description or "every day passed")
