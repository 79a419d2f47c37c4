"""The file catalog opens only files that can hold a window, and notices rewritten files."""

import os
from datetime import date

from metrics_pipeline.landing.catalog import FileCatalog
from metrics_pipeline.landing.files import list_source_files
from metrics_pipeline.installs.sources import FileInstallsSource
from metrics_pipeline_tests.scenario import Download, FileDownloadsWriter


def test_only_overlapping_files_are_opened_and_rewrites_are_remeasured(tmp_path):
    writer = FileDownloadsWriter(tmp_path)
    writer.write([Download("2024-01-01 10:00:00", "a"), Download("2024-01-03 10:00:00", "a")])  # batch-0000
    writer.write([Download("2024-01-05 10:00:00", "a")])  # batch-0001
    source = FileInstallsSource(directory=str(writer.directory))
    catalog = FileCatalog("downloads", str(writer.directory))
    measured = []

    def measure(file):
        measured.append(os.path.basename(file.path))
        return source._measure(file)

    def names(start, end):
        files = catalog.select(list_source_files(str(writer.directory), (".parquet",), "X"), start, end, measure).files
        return [os.path.basename(f.path) for f in files]

    assert names(date(2024, 1, 2), date(2024, 1, 3)) == ["batch-0000.parquet"]  # inside the first file's span
    assert names(date(2024, 1, 4), date(2024, 1, 5)) == []
    assert names(date(2024, 1, 5), date(2024, 1, 6)) == ["batch-0001.parquet"]
    assert measured == ["batch-0000.parquet", "batch-0001.parquet"]  # each measured once, then cached

    first = writer.directory / "batch-0000.parquet"
    first.unlink()
    writer._seq = iter([0])
    writer.write([Download("2024-01-04 10:00:00", "a", times=2)])  # rewritten: new span
    assert names(date(2024, 1, 4), date(2024, 1, 5)) == ["batch-0000.parquet"]
    assert measured[-1] == "batch-0000.parquet"
