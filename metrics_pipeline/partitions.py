"""Daily and monthly partitions (UTC) shared by every asset; the first day comes from config."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

DEFAULT_START_DATE = "2023-01-01"


def partitions_start_date() -> str:
    """METRICS_START_DATE (YYYY-MM-DD): the first day the pipeline keeps metrics for."""
    value = os.environ.get("METRICS_START_DATE", DEFAULT_START_DATE)
    try:
        date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"METRICS_START_DATE must be YYYY-MM-DD, got {value!r}") from error
    return value


FIRST_DAY = date.fromisoformat(partitions_start_date())  # source rows before it form the opening balance

# Partition definitions must exist when the code location loads, so the start date is read
# here, once; nothing else is configured at import time.
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=0)
