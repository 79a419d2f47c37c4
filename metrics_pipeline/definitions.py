"""Assembles the code location from its domains; each domain folder exposes `definitions(env)`."""

from __future__ import annotations

import importlib
import os
import warnings

import dagster as dg

# Adding a domain is one line here.
DOMAINS = (
    "metrics_pipeline.resources",  # shared resources: warehouse, registry, external systems
    "metrics_pipeline.installs",
    "metrics_pipeline.commits",
    "metrics_pipeline.automation",
    "metrics_pipeline.sinks",
    "metrics_pipeline.events",
    "metrics_pipeline.community",  # off unless METRICS_COMMUNITY_SOURCE=github
    "metrics_pipeline.quality",  # checks, alert sensor, restatement log
    "metrics_pipeline.plugins",  # metric plugins by entry point (built-in download breakdowns included)
)


def domain_definitions(env=os.environ) -> list[dg.Definitions]:
    return [importlib.import_module(f"{domain}.definitions").definitions(env) for domain in DOMAINS]


@dg.definitions
def defs() -> dg.Definitions:
    merged = dg.Definitions.merge(*domain_definitions())
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13, used knowingly
        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        # Every asset links to the file and line that defines it (the UI's "code reference").
        assets = dg.with_source_code_references(list(merged.assets or []))
    return dg.Definitions(
        assets=assets, asset_checks=merged.asset_checks, jobs=merged.jobs, schedules=merged.schedules,
        sensors=merged.sensors, resources=merged.resources, executor=merged.executor, loggers=merged.loggers,
        metadata=merged.metadata,
    )
