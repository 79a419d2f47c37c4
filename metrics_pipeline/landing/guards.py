"""What a raw landing refuses or sets aside: vanishing sources, quarantined files, unusable rows.

A window whose source suddenly returns far fewer rows than were landed before is refused (the
partition fails naming the setting) unless the run says the drop is real; days a quarantined file
could hold keep their previous rows; everything set aside is written to the `quarantine` table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from metrics_pipeline.changes import day_ranges, describe
from metrics_pipeline.landing.batch import SourceBatch
from metrics_pipeline.quality.evaluations import brief

ALLOW_DROP_TAG = "metrics/allow-drop"  # "true": the run may replace landed days with far fewer rows
MAX_DROP_SETTING = "METRICS_SOURCE_MAX_DROP"  # share of landed rows a window may lose (default 0.5)


def drop_allowed(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(ALLOW_DROP_TAG, "").lower() == "true"


def guard_vanishing_source(
    con: duckdb.DuckDBPyConnection, source: str, resource, start: date, end: date, batch: SourceBatch,
    allowed: bool, keep: set[date],
) -> None:
    """Fail before writing when the window's source rows fell below (1 - the source's
    `max_drop_fraction`) of what was landed; `resource.setting` names where the source points."""
    setting = resource.setting
    before = con.execute(
        "SELECT coalesce(sum(source_rows), 0) FROM source_fingerprints "
        "WHERE source = ? AND day >= ? AND day < ? AND source_rows > 0 AND NOT list_contains(?, day)",
        [source, start, end, sorted(keep)],
    ).fetchall()[0][0]
    now = sum(f.source_rows for f in batch.fingerprints if f.day not in keep)
    if before and now < before * (1 - resource.max_drop_fraction) and not allowed:
        raise dg.Failure(
            description=f"{setting} returned {now:,} {source} rows for {start}..{end} where {before:,} were landed "
            f"before: refusing to replace them (a wrongly mounted or emptied source?). If the drop is real, re-run "
            f"with the run tag {ALLOW_DROP_TAG}=true.",
            metadata={"source_rows_now": now, "source_rows_landed_before": int(before), "setting": setting},
        )


def record_quarantine(con: duckdb.DuckDBPyConnection, source: str, batch: SourceBatch) -> None:
    """Rewrite the quarantine entries of the files this window looked at (call inside its transaction)."""
    selection = batch.files
    if selection is None:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    entries = [(b.path, b.reason, None, None, *(b.days or (None, None)))
               for b in [*selection.bad, *selection.unplaced, *selection.unusable]]
    entries += [(path, "identical content to another file: read once", None, original, None, None)
                for path, original in selection.duplicates.items()]
    entries += [(path, reason, rows, selection.samples.get(reason), None, None)
                for path, reasons in selection.dropped_by_file.items() for reason, rows in reasons.items()]
    items = sorted({e[0] for e in entries} | {f.path for f in selection.files})
    con.execute("DELETE FROM quarantine WHERE source = ? AND list_contains(?, item)", [source, items])
    if entries:
        con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(source, path, reason, rows, sample, first, last, now) for path, reason, rows, sample, first, last in entries],
        )


SOURCE_FILES_CHECK = "source_files_readable"


def source_files_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SOURCE_FILES_CHECK, asset=asset, blocking=True,
        description="No quarantined source file could hold the run's days (their previous values are kept). "
        "What to do: repair or remove the named file; the late-data sensor re-runs its days.",
    )


def files_check(asset_key: dg.AssetKey, batch: SourceBatch, incomplete: set[date]) -> dg.AssetCheckResult:
    """ERROR when a quarantined file could hold days of this window (they keep their previous rows),
    or when a quarantined file's days are unknown (it could hold any day)."""
    selection = batch.files
    if selection is None:
        return dg.AssetCheckResult(asset_key=asset_key, check_name=SOURCE_FILES_CHECK, passed=True)
    bad = [f"{b.path}: {b.reason} (days {b.days[0]}..{b.days[1]})" for b in selection.bad]
    unplaced = [f"{b.path}: {b.reason} (days unknown)" for b in selection.unplaced]
    days = sorted(incomplete)
    kept = "" if not days else f"days {changes_text(days)} keep their previous values; "
    named = "; ".join(f"{Path(b.path).name}: {b.reason}" for b in [*selection.bad, *selection.unplaced][:2])
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SOURCE_FILES_CHECK,
        passed=not bad and not unplaced,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "quarantined_files": dg.MetadataValue.json(bad),
            "incomplete_days": changes_text(days),
            "files_of_unknown_days": dg.MetadataValue.json(unplaced),
            "duplicate_files": dg.MetadataValue.json(selection.duplicates),
            "files_without_usable_rows": dg.MetadataValue.json({b.path: b.reason for b in selection.unusable}),
        },
        description="Every source file these days could come from was read" if not bad and not unplaced else
        brief(f"{len(bad) + len(unplaced)} quarantined file(s): {kept}{named} (paths in quarantined_files)"),
    )


def changes_text(days: list[date]) -> str:
    return describe(day_ranges(days)) if days else ""
