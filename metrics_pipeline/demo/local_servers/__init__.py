"""Start local sink servers for a run when no endpoints are configured, so a fresh machine runs the graph."""

from collections.abc import Iterator, MutableMapping
from contextlib import ExitStack, contextmanager

from metrics_pipeline.demo.local_servers.dynamodb import ensure_local_dynamodb
from metrics_pipeline.demo.local_servers.postgres import ensure_local_postgres


@contextmanager
def local_sink_servers(env: MutableMapping[str, str]) -> Iterator[list[str]]:
    """Fill METRICS_POSTGRES_DSN / METRICS_DYNAMODB_ENDPOINT_URL in `env` (e.g. os.environ) with
    throwaway local servers where unset; stops exactly those servers (by PID) on exit.

    Yields the names of the settings it filled in.
    """
    with ExitStack() as stack:
        started = []
        postgres = ensure_local_postgres(env)
        if postgres is not None:
            stack.callback(postgres.stop)
            started.append("METRICS_POSTGRES_DSN")
        dynamodb = ensure_local_dynamodb(env)
        if dynamodb is not None:
            stack.callback(dynamodb.stop)
            started.append("METRICS_DYNAMODB_ENDPOINT_URL")
        yield started
