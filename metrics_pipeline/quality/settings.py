"""Thresholds of the warning checks, configurable by environment variables (defaults in brackets)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

# setting -> (field, type); every one optional.
SETTINGS = {
    "METRICS_ANOMALY_LOW_RATIO": ("low_ratio", float),  # [0.3] below this x trailing median: warn
    "METRICS_ANOMALY_HIGH_RATIO": ("high_ratio", float),  # [5.0] above this x trailing median: warn
    "METRICS_ANOMALY_TRAILING_DAYS": ("trailing_days", int),  # [28] days the median is taken over
    "METRICS_ANOMALY_MIN_HISTORY_DAYS": ("min_history_days", int),  # [7] fewer days: no ratio test
    "METRICS_ANOMALY_LARGEST_PLUGINS": ("largest_plugins", int),  # [10] plugins tested one by one
    "METRICS_ANOMALY_ZERO_MIN_MEDIAN": ("zero_min_median", float),  # [5] a plugin "drops to zero" from this median up
    "METRICS_SOURCE_STALL_DAYS": ("stall_days", int),  # [2] newest complete source day may lag today by this
}


class QualitySettings(dg.ConfigurableResource):
    """What counts as an anomaly or a stalled source."""

    low_ratio: float = 0.3
    high_ratio: float = 5.0
    trailing_days: int = 28
    min_history_days: int = 7
    largest_plugins: int = 10
    zero_min_median: float = 5.0  # below it a day without installs is ordinary for a small plugin
    stall_days: int = 2


def quality_settings_from(env: Mapping[str, str]) -> QualitySettings:
    """Settings present in `env`, parsed now so a bad value fails naming its variable."""
    values = {}
    for name, (field, kind) in SETTINGS.items():
        text = (env.get(name) or "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError as error:
            raise ValueError(f"{name} must be a {kind.__name__}, got {text!r}") from error
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {text!r}")
        values[field] = value
    return QualitySettings(**values)
