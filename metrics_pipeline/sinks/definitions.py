"""Where metrics go: the DynamoDB (hub layout) and Postgres projections, their read-back checks
(in the sink step) and the daily full reconciliation of every configured sink."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import dagster as dg

from metrics_pipeline.community.definitions import COMMUNITY_SOURCE_SETTING
from metrics_pipeline.events.definitions import events_enabled
from metrics_pipeline.events.influxdb import URL_SETTING
from metrics_pipeline.resources.definitions import setting
from metrics_pipeline.resources.postgres import DSN_ENV_VAR
from metrics_pipeline.sinks.assets import SINK_ASSETS
from metrics_pipeline.sinks.reconcile import Stores, reconciliation_job, reconciliation_schedule


def stores_from(env: Mapping[str, str]) -> Stores:
    """The optional sinks the other domains put in the graph for these settings (same rules as theirs)."""
    from metrics_pipeline.plugins.loader import PluginLoadWarning, usable_plugins

    with warnings.catch_warnings():  # the plugins domain warns about a left-out plugin once
        warnings.simplefilter("ignore", PluginLoadWarning)
        plugins = usable_plugins(env).plugins
    events = events_enabled(env)
    return Stores(events=events, influxdb=events and bool(env.get(URL_SETTING)),
                  community=setting(env, COMMUNITY_SOURCE_SETTING, "off") == "github",
                  restatements=bool(env.get(DSN_ENV_VAR)), plugins=plugins)


def definitions(env: Mapping[str, str]) -> dg.Definitions:
    job = reconciliation_job(stores_from(env))
    return dg.Definitions(assets=SINK_ASSETS, jobs=[job], schedules=[reconciliation_schedule(job)])
