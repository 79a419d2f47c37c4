"""Prometheus text-format counters, summed over the collector's worker processes.

Each worker keeps its own counts and publishes them every second to `{spool}/metrics/{pid}.json`;
`/metrics` adds the other workers' files to its live counts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

HELP = {
    "metrics_collector_requests_accepted_total": "Requests answered 202.",
    "metrics_collector_events_accepted_total": "Events spooled (fsync'd) and acknowledged.",
    "metrics_collector_requests_rejected_total": "Requests refused, by reason.",
    "metrics_collector_spooled_bytes_total": "Bytes appended to spool segments.",
    "metrics_collector_segments_sealed_total": "Spool segments sealed.",
    "metrics_collector_segments_shipped_total": "Sealed segments shipped to object storage.",
    "metrics_collector_ship_failures_total": "Failed attempts to ship a segment (retried).",
}


class Counters:
    def __init__(self, spool: Path):
        self.values: Counter = Counter()
        self.directory = spool / "metrics"
        self.directory.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, amount: int = 1, reason: str | None = None) -> None:
        self.values[(name, reason)] += amount

    def publish(self) -> None:
        path = self.directory / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([[name, reason, value] for (name, reason), value in self.values.items()]))
        os.replace(tmp, path)

    def render(self) -> str:
        totals = Counter(self.values)
        for path in self.directory.glob("*.json"):
            if path.stem == str(os.getpid()):
                continue
            try:
                for name, reason, value in json.loads(path.read_text()):
                    totals[(name, reason)] += value
            except (OSError, ValueError):
                continue
        lines = []
        for name, text in HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            series = sorted((reason, value) for (n, reason), value in totals.items() if n == name)
            if not series:
                lines.append(f"{name} 0")
            for reason, value in series:
                label = f'{{reason="{reason}"}}' if reason else ""
                lines.append(f"{name}{label} {value}")
        return "\n".join(lines) + "\n"


def reset(spool: Path) -> None:
    """At collector start: counters begin at zero (Prometheus treats the drop as a restart)."""
    directory = spool / "metrics"
    for path in directory.glob("*.json") if directory.is_dir() else ():
        path.unlink(missing_ok=True)
