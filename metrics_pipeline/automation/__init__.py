"""When things run: the daily schedule, the late-data sensor and the rollup automation."""
