"""The plugin registry (plugin name -> GitHub repo) and the naming rules every asset shares."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

_PEP503_SEPARATORS = re.compile(r"[-_.]+")
_GITHUB_PREFIXES = ("https://github.com/", "http://github.com/", "https://www.github.com/")

# The same PEP 503 rule as SQL, for engines that normalize project names in the query.
NORMALIZE_SQL_PATTERN = "[-_.]+"


def normalize_plugin_name(name: str) -> str:
    """PEP 503 normalization: lowercase, runs of `-`, `_` and `.` become one `-`."""
    return _PEP503_SEPARATORS.sub("-", name.strip()).lower()


def repo_from_code_repository(url: str | None) -> str | None:
    """`owner/name` from a GitHub URL, keeping the registry's spelling; None when not GitHub."""
    text = (url or "").strip()
    lowered = text.lower()
    for prefix in _GITHUB_PREFIXES:
        if lowered.startswith(prefix):
            repo = text[len(prefix) :].rstrip("/").removesuffix(".git").rstrip("/")
            return repo or None
    return None


@dataclass(frozen=True)
class Plugin:
    name: str  # PEP 503-normalized: the key every table uses
    repo: str | None  # owner/name as the registry spells it


@dataclass
class Registry:
    plugins: list[Plugin]
    quarantined: list[str] = field(default_factory=list)  # "line N: reason"

    @property
    def plugin_names(self) -> list[str]:
        return sorted(p.name for p in self.plugins)

    @property
    def plugin_repos(self) -> list[tuple[str, str]]:
        return sorted((p.name, p.repo) for p in self.plugins if p.repo)


class PluginRegistry(dg.ConfigurableResource):
    """Reads the registry CSV (`name,code_repository`) fresh on every use, so edits apply at once."""

    csv_path: str

    def load(self) -> Registry:
        path = Path(self.csv_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"plugin registry not found at {path} (setting METRICS_REGISTRY_CSV)"
            )
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"name", "code_repository"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f"plugin registry {path} lacks column(s) {sorted(missing)}; "
                    "expected a header `name,code_repository`"
                )
            return parse_registry_rows(reader)


def parse_registry_rows(rows) -> Registry:
    """Normalize names, derive repos; a blank name or a conflicting duplicate is quarantined."""
    plugins: dict[str, Plugin] = {}
    quarantined: list[str] = []
    for line, row in enumerate(rows, start=2):
        raw_name = (row.get("name") or "").strip()
        if not raw_name:
            quarantined.append(f"line {line}: empty plugin name")
            continue
        plugin = Plugin(normalize_plugin_name(raw_name), repo_from_code_repository(row.get("code_repository")))
        known = plugins.get(plugin.name)
        if known is None or (known.repo is None and plugin.repo is not None):
            plugins[plugin.name] = plugin
        elif plugin.repo is not None and plugin.repo != known.repo:
            quarantined.append(
                f"line {line}: {raw_name!r} duplicates plugin {plugin.name!r} with another repo "
                f"({plugin.repo!r}; kept {known.repo!r})"
            )
    return Registry(sorted(plugins.values(), key=lambda p: p.name), quarantined)
