"""Monthly commit Parquet files plus one CSV export, with the case and duplicate quirks of real data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from metrics_pipeline.demo.catalog import Catalog
from metrics_pipeline.demo.schema import COMMIT_SCHEMA, EPOCH, STRING, TIMESTAMP

_COMMIT_MESSAGES = (
    "Fix typo in README",
    "Bump version",
    "Add tests for reader",
    "Update CI workflow",
    "Merge pull request from fork",
    "Refactor widget layout",
    "Fix crash on empty layer",
    "Support napari 0.5",
    "Add sample data",
    "Pin numpy<2",
    "Update docs, examples and changelog",
    'Rename "Run" button',
    "Fix off-by-one in tiling\n\nCloses #12",
    "pre-commit autoupdate",
    "Initial commit",
    "Drop Python 3.8",
    "Speed up label counting",
    "Handle 3D stacks",
    "WIP",
    "Release 0.2.0",
)


def _hex_shas(rng: np.random.Generator, size: int) -> np.ndarray:
    raw = rng.integers(0, 256, (size, 20), dtype=np.uint8).tobytes().hex()
    return np.frombuffer(raw.encode("ascii"), dtype="S40").astype("U40")


def _commit_times(rng: np.random.Generator, n_repos: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(repo index, seconds after start): bursts of commits, with most repos quiet for weeks."""
    bursts_per_month = np.exp(rng.normal(-0.5, 1.3, n_repos))
    burst_repo = np.repeat(np.arange(n_repos), rng.poisson(bursts_per_month * n_days / 30.4))
    burst_start = rng.integers(0, n_days * 86_400, burst_repo.size)
    per_burst = rng.geometric(0.3, burst_repo.size)
    row_burst = np.repeat(np.arange(burst_repo.size), per_burst)
    if row_burst.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    gaps = rng.exponential(2_700.0, row_burst.size)
    cum = np.cumsum(gaps)
    first = np.concatenate(([0], np.cumsum(per_burst)[:-1]))
    offset = cum - (cum[first] - gaps[first])[row_burst]
    seconds = burst_start[row_burst] + offset.astype(np.int64)
    keep = seconds < n_days * 86_400
    return burst_repo[row_burst][keep], seconds[keep]


def _alternate_case(repo: str) -> str:
    return repo.lower() if repo.lower() != repo else repo.title()


def _commit_table(seed: int, catalog: Catalog, start: date, n_days: int) -> tuple[pa.Table, np.ndarray]:
    """All commits sorted by author date, and a mask of the ones that go to the CSV file."""
    rng = np.random.default_rng([seed, 4])
    repos = np.array(catalog.repos)
    repo_idx, seconds = _commit_times(rng, len(repos), n_days)
    size = repo_idx.size
    authors = rng.integers(10_000, 150_000_000, 400).astype(str)
    repo_authors = rng.integers(0, authors.size, (len(repos), 4))
    n_authors = rng.integers(1, 5, len(repos))
    author_col = (rng.random(size) ** 2 * n_authors[repo_idx]).astype(np.int64)
    alternate = np.array([_alternate_case(r) for r in repos])
    spelled = np.where(rng.random(size) < 0.10, alternate[repo_idx], repos[repo_idx])
    author_s = (start - EPOCH).days * 86_400 + seconds
    ingest_s = author_s + np.maximum(3_600 * rng.lognormal(1.5, 1.0, size), 600).astype(np.int64)
    columns = {
        "repo": spelled,
        "sha": _hex_shas(rng, size),
        "author_id": authors[repo_authors[repo_idx, author_col]],
        "author_s": author_s,
        "message": rng.integers(0, len(_COMMIT_MESSAGES), size),
        "ingest_s": ingest_s,
    }
    dupes = np.flatnonzero(rng.random(size) < 0.01)
    order = np.argsort(np.concatenate([author_s, author_s[dupes]]), kind="stable")
    rows = {k: np.concatenate([v, v[dupes]])[order] for k, v in columns.items()}
    table = pa.Table.from_arrays(
        [
            pa.array(rows["repo"], STRING),
            pa.array(rows["sha"], STRING),
            pa.array(rows["author_id"], STRING),
            pa.array(rows["author_s"] * 1_000_000, TIMESTAMP),
            pa.array(_COMMIT_MESSAGES, STRING).take(pa.array(rows["message"])),
            pa.array(np.char.add("https://github.com/", rows["repo"].astype(str)), STRING),
            pa.array(rows["ingest_s"] * 1_000_000, TIMESTAMP),
        ],
        schema=COMMIT_SCHEMA,
    )
    return table, rng.random(table.num_rows) < 0.03


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _iso_seconds(column: pa.ChunkedArray) -> pa.Array:
    """`2024-01-05T13:04:11Z`, the form commit exports use."""
    seconds = column.to_numpy().astype("datetime64[s]")
    return pa.array(np.char.add(np.datetime_as_string(seconds, unit="s").astype(str), "Z"), STRING)


def write_commits(out_dir: Path, start: date, end: date, seed: int, catalog: Catalog) -> tuple[int, int]:
    """Monthly Parquet files by author month plus one CSV with a small share; returns (rows, files)."""
    table, to_csv = _commit_table(seed, catalog, start, (end - start).days + 1)
    folder = out_dir / "commits"
    folder.mkdir(parents=True, exist_ok=True)
    month_of = table.column("commit_author_date").to_numpy().astype("datetime64[M]")
    months = _months(start, end)
    for month in months:
        keep = (month_of == np.datetime64(f"{month:%Y-%m}", "M")) & ~to_csv
        pq.write_table(table.filter(pa.array(keep)), folder / f"commits-{month:%Y-%m}.parquet")
    extra = table.filter(pa.array(to_csv))
    for name in ("commit_author_date", "ingestion_time"):
        extra = extra.set_column(extra.schema.get_field_index(name), name, _iso_seconds(extra.column(name)))
    pacsv.write_csv(extra, folder / "extra-commits.csv")
    return table.num_rows, len(months) + 1
