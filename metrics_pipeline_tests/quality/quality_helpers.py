"""Running real assets with the quality checks, and reading their per-partition outcomes."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
import pyarrow as pa

from metrics_pipeline.asset_conventions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from metrics_pipeline.commits.sources import FileCommitsSource
from metrics_pipeline.installs.sources import FileInstallsSource
from metrics_pipeline.landing.batch import SourceBatch
from metrics_pipeline.quality.settings import QualitySettings
from metrics_pipeline_tests.scenario import Scenario


def run(
    scenario: Scenario, assets: list, first: str | None = None, last: str | None = None,
    checks_only: bool = False, tags: dict | None = None, **resources,
) -> dg.ExecuteInProcessResult:
    """One run of `assets` (and checks) over [first, last], like a single-run backfill; never raises.
    `checks_only`: run only the checks among `assets` (the others just define their targets)."""
    checks = [a for a in assets if isinstance(a, dg.AssetChecksDefinition)]
    selection = dg.AssetSelection.checks(*checks) if checks_only else None
    if first and any(getattr(a, "partitions_def", None) is not None for a in assets):
        tags = {**(tags or {}), PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first}
    return dg.materialize(
        assets, resources={**scenario.resources(), "quality_settings": QualitySettings(), **resources},
        instance=scenario.instance, tags=tags or {}, raise_on_error=False, selection=selection,
    )


def plain(value):
    return value.value if isinstance(value, dg.MetadataValue) else value


def outcomes(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str | None], tuple[bool, dict]]:
    """(check name, partition) -> (passed, metadata as plain values)."""
    return {
        (e.check_name, e.partition): (e.passed, {k: plain(v) for k, v in e.metadata.items()})
        for e in result.get_asset_check_evaluations()
    }


def day_outcomes(result: dg.ExecuteInProcessResult, asset: str, check: str) -> dict[str, tuple[bool, dict]]:
    """Each landed day's check outcome and figures, as shown on that day's partition."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.to_user_string() == asset and materialization.partition:
            figures = {k: plain(v) for k, v in materialization.metadata.items()}
            found[materialization.partition] = (figures.pop(f"check {check}") == "passed", figures)
    return found


def failing_days(result: dg.ExecuteInProcessResult, check: str) -> dict[str, dict]:
    """The failing days a run's check result names, with their figures."""
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return plain(evaluation.metadata["failing_days"])


def passed(result: dg.ExecuteInProcessResult, check: str) -> dict[str | None, bool]:
    return {partition: ok for (name, partition), (ok, _) in outcomes(result).items() if name == check}


class LeakyInstallsSource(FileInstallsSource):
    """A misbehaving source: returns the files' counts plus rows it should never return."""

    extra_rows: list[str] = []  # "day,plugin,installer,count"

    def install_counts(self, start: date, end: date, plugin_names) -> SourceBatch:
        batch = super().install_counts(start, end, plugin_names)
        rows = [line.split(",") for line in self.extra_rows]
        extra = pa.table(
            {
                "download_day": pa.array([date.fromisoformat(d) for d, *_ in rows], pa.date32()),
                "plugin_name": [p for _, p, _, _ in rows],
                "installer_name": [i for _, _, i, _ in rows],
                "download_count": pa.array([int(n) for *_, n in rows], pa.int64()),
            }
        )
        return SourceBatch(pa.concat_tables([batch.rows, extra.cast(batch.rows.schema)]), batch.fingerprints, batch.quarantined)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class LeakyCommitsSource(FileCommitsSource):
    """A misbehaving source: returns the files' commits plus rows it should never return."""

    extra_rows: list[str] = []  # "repo,sha,author time (UTC)"

    def commits(self, start: date, end: date, repos) -> SourceBatch:
        batch = super().commits(start, end, repos)
        rows = [line.split(",") for line in self.extra_rows]
        extra = pa.table({
            "repo": [r for r, _, _ in rows], "sha": [s for _, s, _ in rows], "author_id": ["1"] * len(rows),
            "commit_author_date": pa.array([at(t) for *_, t in rows], pa.timestamp("us")),
            "commit_message": ["m"] * len(rows),
            "ingestion_time": pa.array([at(t) for *_, t in rows], pa.timestamp("us")),
        })
        return SourceBatch(pa.concat_tables([batch.rows, extra.cast(batch.rows.schema)]), batch.fingerprints, batch.quarantined)
