"""Write a deterministic demo data set: plugin registry, daily PyPI download Parquet, commit files.

Usage: python -m metrics_pipeline.demo.generate --out DIR --start 2024-01-01 --end 2024-03-31
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from metrics_pipeline.demo.catalog import build_catalog, write_registry
from metrics_pipeline.demo.commits import write_commits
from metrics_pipeline.demo.downloads import write_downloads
from metrics_pipeline.demo.schema import COMMIT_SCHEMA, DOWNLOAD_SCHEMA

__all__ = ["COMMIT_SCHEMA", "DOWNLOAD_SCHEMA", "DemoSummary", "generate", "main"]


@dataclass(frozen=True)
class DemoSummary:
    """What a run wrote, for the CLI and for tests to check against."""

    plugins: int
    download_rows: int
    commit_rows: int
    files: int


def generate(
    out_dir: Path, start: date, end: date, seed: int = 7, plugins: int = 300, untracked: int = 120
) -> DemoSummary:
    """Write the whole demo set; the same arguments always give byte-identical files."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog(seed, plugins, untracked)
    write_registry(out_dir / "registry.csv", catalog.registry_rows)
    download_rows, download_files = write_downloads(out_dir, start, end, seed, catalog)
    commit_rows, commit_files = write_commits(out_dir, start, end, seed, catalog)
    return DemoSummary(len(catalog.registry_rows), download_rows, commit_rows, 1 + download_files + commit_files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day, inclusive")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last UTC day, inclusive")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plugins", type=int, default=300)
    parser.add_argument("--untracked", type=int, default=120)
    args = parser.parse_args(argv)
    summary = generate(args.out, args.start, args.end, args.seed, args.plugins, args.untracked)
    days = (args.end - args.start).days + 1
    print(
        f"wrote {summary.files} files to {args.out}: {summary.plugins} plugins, "
        f"{summary.download_rows} download rows ({summary.download_rows / days:.0f}/day), "
        f"{summary.commit_rows} commit rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
