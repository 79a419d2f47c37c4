"""The plugin registry (plugin name -> GitHub repo) and the naming rules every asset shares."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from packaging.utils import canonicalize_name

from metrics_pipeline.landing.guards import ALLOW_DROP_TAG

REGISTRY_SETTING = "METRICS_REGISTRY_CSV"
DEFAULT_MAX_DROP_FRACTION = 0.5  # a registry losing more than this share of its plugins fails the run

# The same PEP 503 rule as SQL, for engines that normalize project names in the query:
# regexp_replace(lower(name), NORMALIZE_SQL_PATTERN, '-', 'g').
NORMALIZE_SQL_PATTERN = "[-_.]+"

# owner: GitHub's login rule; repo: GitHub's allowed characters (".git" is stripped after).
_OWNER_REPO = r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<repo>[A-Za-z0-9._-]+)"
_REST = r"(?:[/?#@].*)?"  # extra path, query, fragment, pip's @ref
_GITHUB_URL_FORMS = [
    # https://, http://, ssh://git@, git://, git+https:// ... with optional www. and port
    re.compile(rf"(?:git\+)?(?:https?|ssh|git)://(?:[^@/\s]+@)?(?:www\.)?github\.com(?::\d+)?/{_OWNER_REPO}{_REST}", re.I),
    re.compile(rf"[^@/:\s]+@github\.com:/?{_OWNER_REPO}{_REST}", re.I),  # scp-like: git@github.com:owner/repo.git
    re.compile(rf"(?:www\.)?github\.com/{_OWNER_REPO}{_REST}", re.I),  # no scheme
]
# First path segments of github.com pages that are not a repository.
_NOT_OWNERS = frozenset({
    "about", "apps", "collections", "enterprise", "explore", "features", "login", "marketplace",
    "notifications", "orgs", "pricing", "search", "settings", "sponsors", "topics", "users",
})

# Quarantine reasons (keys of Registry.quarantine_counts).
EMPTY_NAME = "empty plugin name"
CONFLICTING_DUPLICATE = "duplicate name with another repo"
NOT_GITHUB_REPO = "code_repository is not a GitHub repository URL"


def normalize_plugin_name(name: str) -> str:
    """PEP 503 normalization (`packaging.utils.canonicalize_name`) of the name without surrounding spaces."""
    return canonicalize_name(name.strip())


def repo_from_code_repository(url: str | None) -> str | None:
    """`owner/repo` from any common GitHub URL form, keeping the registry's spelling; None otherwise."""
    text = (url or "").strip()
    for form in _GITHUB_URL_FORMS:
        match = form.fullmatch(text)
        if match is None:
            continue
        owner, repo = match.group("owner"), match.group("repo")
        repo = repo[: -len(".git")] if repo.lower().endswith(".git") else repo
        if owner.lower() in _NOT_OWNERS or repo in ("", ".", ".."):
            return None
        return f"{owner}/{repo}"
    return None


@dataclass(frozen=True)
class Plugin:
    name: str  # PEP 503-normalized: the key every table uses
    repo: str | None  # owner/name as the registry spells it


@dataclass
class Registry:
    plugins: list[Plugin]
    quarantined: list[str] = field(default_factory=list)  # "line N: reason ..."
    quarantine_counts: dict[str, int] = field(default_factory=dict)  # reason -> rows

    @property
    def plugin_names(self) -> list[str]:
        return sorted(p.name for p in self.plugins)

    @property
    def plugin_repos(self) -> list[tuple[str, str]]:
        return sorted((p.name, p.repo) for p in self.plugins if p.repo)

    def quarantine_metadata(self, examples: int = 5) -> dict:
        """Counts by reason and a few examples, for an asset's metadata."""
        return {
            "registry_rows_quarantined": len(self.quarantined),
            "registry_quarantine_reasons": dict(sorted(self.quarantine_counts.items())),
            "registry_quarantine_examples": "\n".join(self.quarantined[:examples]),
        }


class RegistryShrankError(dg.Failure):
    """The registry lost more plugins than the allowed share since the last landing."""


class PluginRegistry(dg.ConfigurableResource):
    """Reads the registry CSV (`name,code_repository`) fresh on every use, so edits apply at once."""

    csv_path: str
    max_drop_fraction: float = DEFAULT_MAX_DROP_FRACTION

    def load(self) -> Registry:
        path = Path(self.csv_path)
        if not path.is_file():
            raise FileNotFoundError(f"plugin registry not found at {path} (setting {REGISTRY_SETTING})")
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"name", "code_repository"} - {(f or "").strip() for f in reader.fieldnames or ()}
            if missing:
                raise ValueError(
                    f"plugin registry {path} lacks column(s) {sorted(missing)}; "
                    f"expected a header `name,code_repository` (setting {REGISTRY_SETTING})"
                )
            reader.fieldnames = [(f or "").strip() for f in reader.fieldnames]
            return parse_registry_rows(reader)


def parse_registry_rows(rows) -> Registry:
    """Normalize names, derive repos; a blank name, a conflicting duplicate or a repo that is
    not a GitHub URL is quarantined (the plugin itself is kept in the last case)."""
    plugins: dict[str, Plugin] = {}
    quarantined: list[str] = []
    counts: Counter[str] = Counter()

    def quarantine(line: int, reason: str, detail: str = "") -> None:
        counts[reason] += 1
        quarantined.append(f"line {line}: {reason}{detail}")

    for line, row in enumerate(rows, start=2):
        raw_name = (row.get("name") or "").strip()
        if not raw_name:
            quarantine(line, EMPTY_NAME)
            continue
        raw_repo = (row.get("code_repository") or "").strip()
        plugin = Plugin(normalize_plugin_name(raw_name), repo_from_code_repository(raw_repo))
        if raw_repo and plugin.repo is None:
            quarantine(line, NOT_GITHUB_REPO, f": {raw_name!r} has {raw_repo[:200]!r}")
        known = plugins.get(plugin.name)
        if known is None or (known.repo is None and plugin.repo is not None):
            plugins[plugin.name] = plugin
        elif plugin.repo is not None and plugin.repo != known.repo:
            quarantine(
                line, CONFLICTING_DUPLICATE,
                f": {raw_name!r} duplicates plugin {plugin.name!r} ({plugin.repo!r}; kept {known.repo!r})",
            )
    return Registry(sorted(plugins.values(), key=lambda p: p.name), quarantined, dict(counts))


def guard_registry_shrink(
    previous_count: int | None, registry: Registry, allow: bool,
    max_drop_fraction: float = DEFAULT_MAX_DROP_FRACTION,
) -> None:
    """Fail before anything is replaced when the registry lost more than `max_drop_fraction` of
    the plugins the last landing saw (a truncated or wrongly mounted file), unless allowed."""
    if allow or not previous_count:
        return
    current = len(registry.plugins)
    if current >= previous_count * (1 - max_drop_fraction):
        return
    raise RegistryShrankError(
        description=(
            f"the plugin registry (setting {REGISTRY_SETTING}) lists {current} plugins, "
            f"{previous_count - current} fewer than the {previous_count} the last landing saw "
            f"(more than {max_drop_fraction:.0%}); fix the file, or re-run with the tag "
            f"{ALLOW_DROP_TAG}=true if the drop is real"
        ),
        metadata={"registry_plugins": current, "previous_registry_plugins": previous_count,
                  "max_drop_fraction": max_drop_fraction},
    )


def previous_registry_count(context: dg.AssetExecutionContext, metadata_key: str = "registry_plugins") -> int | None:
    """The registry size the asset's latest materialization recorded in its metadata (None: never)."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get(metadata_key) if materialization is not None else None
    return int(value.value) if value is not None else None

