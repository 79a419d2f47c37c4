"""Deterministic demo inputs (registry, PyPI download Parquet, commit files) for local runs and tests."""
