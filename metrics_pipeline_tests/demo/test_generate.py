"""Quick checks of the demo-data generator on a 10-day range."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metrics_pipeline.demo.generate import COMMIT_SCHEMA, DOWNLOAD_SCHEMA, generate, main

START, END = date(2024, 1, 27), date(2024, 2, 5)  # crosses a month boundary
DAYS = [START + timedelta(days=i) for i in range(10)]


def _run(out: Path):
    return generate(out, START, END, seed=11, plugins=60, untracked=30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo")
    return out, _run(out)


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_identical_bytes(demo, tmp_path):
    out, summary = demo
    again = _run(tmp_path / "again")
    assert again == summary
    assert _contents(out) == _contents(tmp_path / "again")


def test_different_seed_gives_different_downloads(demo, tmp_path):
    out, _ = demo
    generate(tmp_path, START, START, seed=12, plugins=60, untracked=30)
    name = f"downloads/{START:%Y/%m}/file_downloads-{START:%Y-%m-%d}.parquet"
    assert (out / name).read_bytes() != (tmp_path / name).read_bytes()


def test_expected_files_and_summary(demo):
    out, summary = demo
    downloads = sorted((out / "downloads").rglob("*.parquet"))
    expected = [f"downloads/{d:%Y/%m}/file_downloads-{d:%Y-%m-%d}.parquet" for d in DAYS]
    assert [p.relative_to(out).as_posix() for p in downloads] == expected
    commits = sorted(p.name for p in (out / "commits").iterdir())
    assert commits == ["commits-2024-01.parquet", "commits-2024-02.parquet", "extra-commits.csv"]
    assert summary.files == 1 + len(downloads) + len(commits)
    assert summary.plugins == 60
    assert summary.download_rows == sum(pq.read_metadata(p).num_rows for p in downloads)


def test_download_schema_and_rows_within_their_day(demo):
    out, _ = demo
    for day in DAYS:
        path = out / "downloads" / f"{day:%Y/%m}" / f"file_downloads-{day:%Y-%m-%d}.parquet"
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == DOWNLOAD_SCHEMA
        assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("file").type.names == ["filename", "project", "version", "type"]
        assert table.schema.field("details").type.field("ci").type == pa.bool_()
        assert table.num_rows > 100
        stamps = table.column("timestamp").to_pylist()
        low = datetime.combine(day, datetime.min.time(), timezone.utc)
        assert all(low <= ts < low + timedelta(days=1) for ts in stamps)


def test_download_content_mix(demo):
    out, _ = demo
    con = duckdb.connect()
    glob = str(out / "downloads" / "**" / "*.parquet")
    installers = {r[0] for r in con.execute(f"SELECT DISTINCT details.installer.name FROM '{glob}'").fetchall()}
    assert {"pip", "uv", "poetry", "requests", "Browser", "bandersnatch", "devpi", "pdm", None} <= installers
    ci = dict(con.execute(f"SELECT details.ci, count(*) FROM '{glob}' GROUP BY 1").fetchall())
    total = sum(ci.values())
    assert 0.05 < ci[True] / total < 0.15 and 0.10 < ci[None] / total < 0.20
    types = {r[0] for r in con.execute(f"SELECT DISTINCT file.type FROM '{glob}'").fetchall()}
    assert types == {"bdist_wheel", "sdist"}
    assert con.execute(f"SELECT count(*) FROM '{glob}' WHERE file.project <> project").fetchone()[0] > 0


def test_registry_header_spelling_variety_and_unique_names(demo):
    out, _ = demo
    lines = (out / "registry.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "name,code_repository"
    rows = list(csv.DictReader(lines))
    names = [r["name"] for r in rows]
    normalized = [re.sub(r"[-_.]+", "-", n).lower() for n in names]
    assert len(set(normalized)) == len(names) == 60
    assert any("_" in n for n in names) and any(n != n.lower() for n in names)
    assert any(n != norm for n, norm in zip(names, normalized))
    urls = [r["code_repository"] for r in rows]
    assert sum(u.startswith("https://github.com/") for u in urls) > 40
    assert "" in urls and any("gitlab.com" in u for u in urls)


def test_commit_files_schema_months_and_csv(demo):
    out, _ = demo
    folder = out / "commits"
    for month in ("2024-01", "2024-02"):
        table = pq.read_table(folder / f"commits-{month}.parquet")
        assert table.schema.remove_metadata() == COMMIT_SCHEMA
        assert {f"{ts:%Y-%m}" for ts in table.column("commit_author_date").to_pylist()} <= {month}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        "SELECT repo, sha, commit_author_date, ingestion_time FROM read_csv($p, header = true)",
        {"p": str(folder / "extra-commits.csv")},
    ).fetchall()
    assert rows
    header = (folder / "extra-commits.csv").read_text().splitlines()[0].replace('"', "")
    assert header == ",".join(COMMIT_SCHEMA.names)
    low = datetime.combine(START, datetime.min.time(), timezone.utc)
    for repo, sha, authored, ingested in rows:
        assert re.fullmatch(r"[0-9a-f]{40}", sha) and "/" in repo
        assert low <= authored < low + timedelta(days=10) and ingested > authored


def test_cli_writes_summary(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--start", "2024-01-01", "--end", "2024-01-01", "--plugins", "20", "--untracked", "5"]
    assert main(args) == 0
    assert "20 plugins" in capsys.readouterr().out
    assert (tmp_path / "downloads/2024/01/file_downloads-2024-01-01.parquet").is_file()
