"""Check results per partition, also for single-run backfills over a range of partitions.

`AssetCheckResult` records a range run's result against no partition, so partitioned checks
yield one `AssetCheckEvaluation` per partition key instead, pointing at that partition's latest
materialization: the UI shows each day's result, and automation (`check_failed`) treats it as
current until the partition is materialized again.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)


@dataclass(frozen=True)
class Outcome:
    passed: bool
    metadata: dict = field(default_factory=dict)
    description: str | None = None


def partitioned_check(**kwargs):
    """`dg.asset_check` with a `partitions_def` (a preview API in Dagster 1.13, used knowingly)."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=dg.PreviewWarning)
            return dg.asset_check(**kwargs)(fn)

    return decorate


def _targets(instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: list[str]) -> dict:
    ids = instance.get_latest_storage_id_by_partition(asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(keys))
    if not ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(ids.values())), limit=len(ids)
    ).records
    return {
        r.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
        )
        for r in records
    }


def partition_evaluations(
    context: dg.AssetCheckExecutionContext,
    outcomes: Mapping[str, Outcome],
    severity: dg.AssetCheckSeverity,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition key (blocking as the check's spec says), then the step's output."""
    spec = context.check_specs[0]
    targets = _targets(context.instance, spec.asset_key, list(outcomes))
    for key, outcome in outcomes.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=outcome.passed,
            partition=key,
            metadata=outcome.metadata,
            severity=severity,
            description=outcome.description,
            blocking=spec.blocking,
            target_materialization_data=targets.get(key),
        )
    yield dg.Output(None)
