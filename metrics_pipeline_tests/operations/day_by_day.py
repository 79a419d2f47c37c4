"""The reference for the UI backfill test: the whole graph run one day per run (as the schedule
would, each run carrying its day to the sinks), in process. Run as `python -m metrics_pipeline_tests.operations.day_by_day FIRST LAST`
with the METRICS_* settings in the environment (its own process: partitions read them at import)."""

import sys
from datetime import date, timedelta

import dagster as dg


def main(first: str, last: str) -> None:
    from metrics_pipeline.definitions import defs

    definitions = defs()
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    with dg.DagsterInstance.ephemeral() as instance:
        def run(job: str, partition: str | None = None) -> None:
            result = definitions.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            if not result.success:
                raise SystemExit(f"{job} {partition or ''} failed")

        for day in days:
            run("daily_metrics_job", day.isoformat())


if __name__ == "__main__":
    main(*sys.argv[1:3])
