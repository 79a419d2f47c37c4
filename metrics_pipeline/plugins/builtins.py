"""Built-in download breakdowns, registered through the same entry points as third-party plugins.

Each counts the download rows of registry plugins by one dimension, over a window of days at once; a
missing dimension (NULL or empty) is counted as "unknown", never dropped. `installs` applies the install rule (METRICS_INSTALLERS, not CI), so
its sums equal the installs rollups.
"""

from __future__ import annotations

from metrics_pipeline.plugins.columns import UNKNOWN
from metrics_pipeline.plugins.spec import Column, MetricPlugin, PluginCheck

# Installers that copy the index rather than install: their traffic is "mirror".
MIRROR_INSTALLERS = ("bandersnatch", "z3c.pypimirror", "Artifactory", "devpi", "pep381client", "Nexus")

PLUGIN = Column("plugin_name", "varchar", "PEP 503-normalized registry plugin")
DOWNLOADS = Column("downloads", "bigint", "download rows of the plugin (every installer, CI included)", measure=True)
INSTALLS = Column("installs", "bigint", "downloads that count as installs (METRICS_INSTALLERS, not CI)", measure=True)
INSTALLS_CHECK = PluginCheck("installs_within_downloads", "installs never exceed downloads",
                             "SELECT day, plugin_name FROM plugin_rows WHERE installs > downloads OR installs < 0")


def _breakdown(name: str, summary: str, column: Column, expression: str, requires: tuple[str, ...],
               with_installs: bool = True) -> MetricPlugin:
    measures = "sum(downloads)::BIGINT AS downloads" + (
        ", coalesce(sum(downloads) FILTER (WHERE countable), 0)::BIGINT AS installs" if with_installs else "")
    return MetricPlugin(
        name=name,
        summary=summary,
        columns=(PLUGIN, column, DOWNLOADS, *((INSTALLS,) if with_installs else ())),
        sql=f"""
            SELECT day, plugin_name, {expression} AS {column.name}, {measures}
            FROM source_rows
            GROUP BY ALL
        """,
        requires=(*requires, *(("countable",) if with_installs else ())),
        checks=(INSTALLS_CHECK,) if with_installs else (),
    )


PYTHON_VERSIONS = _breakdown(
    "python_versions", "Downloads and installs per plugin by Python minor version",
    Column("python_version", "varchar", 'Python minor version from details.python, e.g. "3.11"; "unknown" when absent or unparseable'),
    f"coalesce(nullif(regexp_extract(python_version, '^[0-9]+[.][0-9]+'), ''), '{UNKNOWN}')", ("python_version",),
)
OPERATING_SYSTEMS = _breakdown(
    "operating_systems", "Downloads and installs per plugin by operating system",
    Column("system_name", "varchar", 'details.system.name, e.g. "Linux"; "unknown" when absent'),
    "system_name", ("system_name",),
)
INSTALLERS = _breakdown(
    "installers", "Downloads per plugin by installer (every installer, not only the counted ones)",
    Column("installer_name", "varchar", 'details.installer.name, e.g. "pip", "uv"; "unknown" when absent'),
    "installer_name", ("installer_name",), with_installs=False,
)
COUNTRIES = _breakdown(
    "countries", "Downloads and installs per plugin by country",
    Column("country_code", "varchar", 'country_code (ISO 3166-1 alpha-2); "unknown" when absent'),
    "country_code", ("country_code",),
)
PACKAGE_VERSIONS = _breakdown(
    "package_versions", "Downloads and installs per plugin by package version",
    Column("file_version", "varchar", 'file.version downloaded; "unknown" when absent'),
    "file_version", ("file_version",),
)
_MIRRORS = ", ".join(f"'{name}'" for name in MIRROR_INSTALLERS)  # constants, not data
CI_MIRROR_SHARE = _breakdown(
    "ci_mirror_share", "Downloads per plugin split into installs, CI, mirror and other traffic",
    Column("traffic", "varchar", "ci (details.ci true), mirror (a mirroring installer), install (counted), "
                                 "other (any other installer, or none); share = downloads / day's sum"),
    f"CASE WHEN ci THEN 'ci' WHEN installer_name IN ({_MIRRORS}) THEN 'mirror' WHEN countable THEN 'install' ELSE 'other' END",
    ("ci", "installer_name", "countable"), with_installs=False,
)
