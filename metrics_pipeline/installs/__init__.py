"""Installs: where download rows come from (sources.py) and how they roll up (assets.py)."""
