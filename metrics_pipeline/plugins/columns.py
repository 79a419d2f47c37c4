"""The columns plugin SQL can read in `source_rows`: every column of the download schema (BigQuery's
`pypi.file_downloads`, nested ones by their path, e.g. `details.cpu`) plus a few derived ones.

Only the columns the installed plugins `require` are read and materialized; a plugin's `source_rows`
holds exactly its own columns (nested ones as structs pruned to what it names), so its figures never
depend on which other plugins are installed. A missing text value (NULL or '') reads as 'unknown'.
"""

from __future__ import annotations

from collections.abc import Iterable

from metrics_pipeline.plugins.spec import PluginSpecError

UNKNOWN = "unknown"
TEXT, FLAG = "VARCHAR", "BOOLEAN"

# Path in the download schema -> (DuckDB type, meaning).
SCHEMA = {
    "timestamp": ("TIMESTAMP", "UTC time of the download"),
    "country_code": (TEXT, "ISO 3166-1 alpha-2 country of the client"),
    "url": (TEXT, "path of the downloaded file"),
    "project": (TEXT, "project as requested"),
    "file.filename": (TEXT, "file name, e.g. napari_foo-1.0-py3-none-any.whl"),
    "file.project": (TEXT, "project of the file, as spelled by its uploader"),
    "file.version": (TEXT, "package version downloaded"),
    "file.type": (TEXT, "bdist_wheel or sdist"),
    "details.installer.name": (TEXT, "pip, uv, bandersnatch, ..."),
    "details.installer.version": (TEXT, "installer version"),
    "details.python": (TEXT, "Python version, e.g. 3.11.7"),
    "details.implementation.name": (TEXT, "CPython, PyPy, ..."),
    "details.implementation.version": (TEXT, "implementation version"),
    "details.distro.name": (TEXT, "Linux distribution name, e.g. Ubuntu"),
    "details.distro.version": (TEXT, "distribution version"),
    "details.distro.id": (TEXT, "distribution codename"),
    "details.distro.libc.lib": (TEXT, "glibc or musl"),
    "details.distro.libc.version": (TEXT, "libc version"),
    "details.system.name": (TEXT, "operating system, e.g. Linux"),
    "details.system.release": (TEXT, "kernel or OS release"),
    "details.cpu": (TEXT, "CPU architecture, e.g. x86_64, arm64"),
    "details.openssl_version": (TEXT, "OpenSSL version string"),
    "details.setuptools_version": (TEXT, "setuptools version"),
    "details.rustc_version": (TEXT, "rustc version"),
    "details.ci": (FLAG, "true when the installer says it runs in CI (NULL: unknown)"),
    "tls_protocol": (TEXT, "TLS protocol, e.g. TLSv1.3"),
    "tls_cipher": (TEXT, "TLS cipher"),
}

# Derived columns: (DuckDB type, meaning, the schema path it reads or None when computed by the source).
DERIVED = {
    "day": ("DATE", "UTC date of the download", None),
    "plugin_name": (TEXT, "file.project, PEP 503-normalized; only registry plugins are fed", None),
    "countable": (FLAG, "true when the download is an install under the counting rules (METRICS_INSTALLERS, not CI)", None),
    "downloads": ("BIGINT", "download rows this row stands for: count with sum(downloads)", None),
    "file_version": (TEXT, "same as file.version", "file.version"),
    "installer_name": (TEXT, "same as details.installer.name", "details.installer.name"),
    "python_version": (TEXT, "same as details.python", "details.python"),
    "system_name": (TEXT, "same as details.system.name", "details.system.name"),
    "ci": (FLAG, "same as details.ci", "details.ci"),
    "download_type": (TEXT, "the Snowflake view's download_type label (Snowflake source only)", None),
}
ALWAYS = ("day", "plugin_name", "downloads")  # every plugin's source_rows has these
KNOWN = {**{name: value[:2] for name, value in DERIVED.items()}, **SCHEMA}


def expand(plugin_name: str, requires: Iterable[str]) -> tuple[str, ...]:
    """`requires` with struct prefixes (`details.distro`) expanded to their leaves, plus the columns
    every plugin gets, sorted; an unknown name is refused naming the plugin and the rule."""
    found = set(ALWAYS)
    for name in requires:
        leaves = [path for path in SCHEMA if path.startswith(name + ".")]
        if name in KNOWN:
            found.add(name)
        elif leaves:
            found.update(leaves)
        else:
            raise PluginSpecError(
                f"plugin {plugin_name!r}: requires names {name!r}, which is not a source column (rule: requires lists "
                f"columns of the download schema by path, e.g. 'details.cpu', or derived ones: {', '.join(DERIVED)})")
    return tuple(sorted(found))


def _tree(paths: Iterable[str]) -> dict:
    """Paths as nested dicts: {'details': {'cpu': None, 'distro': {'name': None}}, 'day': None}."""
    tree: dict = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = None
    return tree


def _quoted(name: str) -> str:
    return '"' + name + '"'


def struct_type(paths: Iterable[str]) -> dict[str, str]:
    """Top-level column -> DuckDB type for `paths` (nested paths become STRUCT types)."""
    def typed(prefix: str, node: dict | None) -> str:
        if node is None:
            return KNOWN[prefix][0]
        return "STRUCT(" + ", ".join(f"{_quoted(k)} {typed(f'{prefix}.{k}', v)}" for k, v in node.items()) + ")"

    return {name: typed(name, node) for name, node in _tree(paths).items()}


def normalized(expression: str, type_: str) -> str:
    """Text reads NULL and '' as 'unknown'; other types as they are."""
    return f"coalesce(nullif({expression}, ''), '{UNKNOWN}')" if type_ == TEXT else expression


def select_list(paths: Iterable[str], leaf) -> str:
    """A SELECT list building `paths` (top-level columns, structs for nested paths) from `leaf(path)`,
    the expression of one path; struct fields keep their schema names."""
    def build(prefix: str, node: dict | None) -> str:
        if node is None:
            return leaf(prefix)
        return "struct_pack(" + ", ".join(f"{_quoted(k)} := {build(f'{prefix}.{k}', v)}" for k, v in node.items()) + ")"

    return ", ".join(f"{build(name, node)} AS {_quoted(name)}" for name, node in _tree(paths).items())


def empty_table_sql(table: str, paths: Iterable[str], temporary: bool = False) -> str:
    """DDL of an empty table holding `paths` as `source_rows` would (load-time checks, a read of no files)."""
    columns = ", ".join(f"{_quoted(name)} {type_}" for name, type_ in struct_type(paths).items())
    return f"CREATE {'TEMP ' if temporary else ''}TABLE {table} ({columns})"
