"""Shared by every pulled source: the batch a source returns, file listing and catalog, fingerprints."""
