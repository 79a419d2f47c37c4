"""A tiny third-party metric plugin package for the tests: downloads per plugin and package version."""

from metrics_pipeline.plugins.spec import Column, MetricPlugin

FILE_KINDS = MetricPlugin(
    name="sample_release_days",
    summary="Downloads per plugin and package version (a sample third-party plugin)",
    columns=(
        Column("plugin_name", "varchar", "registry plugin"),
        Column("file_version", "varchar", 'package version; "unknown" when absent'),
        Column("downloads", "bigint", "download rows", measure=True),
    ),
    sql="""
        SELECT day, plugin_name, file.version AS file_version, sum(downloads) AS downloads
        FROM source_rows WHERE day >= $start AND day < $end
        GROUP BY ALL
    """,
    requires=("file.version",),
)


def make():
    """Entry points may name a factory as well as an instance."""
    return FILE_KINDS
