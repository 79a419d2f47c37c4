"""Application events: sealed collector segments landed exactly once, daily partitions, rollups, sinks."""
