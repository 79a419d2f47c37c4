"""What every backend answers: one plugin's facts for a request, the data status, export pages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime

from metrics_pipeline.api.export import ExportRequest


class BadRequest(ValueError):
    """The request itself is wrong: HTTP 400 with this message."""


class BackendUnavailable(RuntimeError):
    """The backend cannot answer now (e.g. a pipeline run holds the warehouse): HTTP 503."""


class ExportUnavailable(RuntimeError):
    """This backend does not serve bulk export: HTTP 501."""


class CommunityUnavailable(RuntimeError):
    """No configured backend holds the community metrics: HTTP 501."""


@dataclass(frozen=True)
class PluginQuery:
    """One request's reads; month bounds are None when the timeline is empty (limit 0)."""

    plugin: str  # PEP 503-normalized
    first_month: date | None
    last_month: date | None
    window_start: date  # installs_in_last_30_days: DAY rows in [window_start, window_end]
    window_end: date
    installs: bool = True
    commits: bool = True


@dataclass
class PluginFacts:
    monthly_installs: dict[date, int] = field(default_factory=dict)
    total_installs: int = 0
    installs_in_window: int = 0
    monthly_commits: dict[date, int] = field(default_factory=dict)  # summed over the plugin's repos
    total_commits: int = 0
    latest_commit_at: datetime | None = None  # naive or aware UTC
    latest_commit_ms: int | None = None  # set instead by backends that store milliseconds
    last_complete_day: dict[str, date | None] = field(default_factory=dict)  # 'installs' / 'commits'
    commit_months_from: date | None = None  # oldest month the backend holds commits for (None: all)
    backend_calls: int = 0


@dataclass(frozen=True)
class CommunityQuery:
    plugin: str  # PEP 503-normalized
    first_month: date | None  # None: limit 0
    last_month: date | None


@dataclass
class CommunityRow:
    """One community_activity-shaped row: `metrics` in export.COMMUNITY_METRICS order."""

    kind: str  # 'TOTAL', 'MONTH', or 'DAY' (period_start = the repo's last day with metrics; metrics all None)
    repo: str
    period_start: date | None
    metrics: tuple


@dataclass
class CommunityFacts:
    rows: list[CommunityRow]
    backend_calls: int


@dataclass
class ExportPage:
    total_rows: int
    rows: list[tuple]
    backend_calls: int


class MetricsBackend(ABC):
    """One implementation per store; the app never branches on which one it has."""

    name: str

    @abstractmethod
    def read_plugin(self, query: PluginQuery) -> PluginFacts:
        """All reads for one request (the backend issues them in one round trip or concurrently)."""

    @abstractmethod
    def ping(self) -> None:
        """A cheap reachability check for /healthz; raises on failure."""

    serves_community = False  # whether read_community is implemented

    def read_community(self, query: CommunityQuery) -> CommunityFacts:
        """The plugin's TOTAL rows, its MONTH rows in the query's months and each repo's last DAY."""
        raise CommunityUnavailable(f"the {self.name} backend holds no community metrics")

    def export_page(self, request: ExportRequest, offset: int, limit: int) -> ExportPage:
        raise ExportUnavailable(f"the {self.name} backend does not serve export")

    def close(self) -> None:
        """Release pools and threads."""
