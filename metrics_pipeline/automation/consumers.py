"""Which assets follow the change log (metadata `metrics/consumes`), and the selections the
schedule and sensors build from the repository's asset graph."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from metrics_pipeline.asset_conventions import CONSUMES


def consumes(*tables: str) -> dict:
    """Asset metadata marking a change-log consumer (its cursor is named after its asset key)."""
    return {CONSUMES: ",".join(tables)}


def consumer_inputs(graph) -> dict[str, tuple[str, ...]]:
    """Consumer name (asset key as text) -> the tables it reads changes of."""
    found = {}
    for node in graph.asset_nodes:
        value = node.metadata.get(CONSUMES)
        if value is not None:
            text = value.value if hasattr(value, "value") else value
            found[node.key.to_user_string()] = tuple(t for t in str(text).split(",") if t)
    return found


def with_downstream(graph, keys: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """`keys` and every unpartitioned asset downstream of them: what must follow them in one run."""
    chosen, stack = set(keys), list(keys)
    while stack:
        for child in graph.get(stack.pop()).child_keys:
            node = graph.get(child)
            if child not in chosen and node.partitions_def is None and node.is_materializable:
                chosen.add(child)
                stack.append(child)
    return sorted(chosen, key=lambda k: k.to_user_string())


def partitioned_keys(graph) -> list[dg.AssetKey]:
    return [n.key for n in graph.asset_nodes if n.partitions_def is not None and n.is_materializable]
