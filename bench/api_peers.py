"""What bench_api.py measures our read API against, each run as its own process:

    python bench/api_peers.py proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS
        a TCP proxy adding DELAY_MS to every request on its way to the server (a latency line, not a
        throttle: bytes arriving together leave together), so a local DynamoDB behaves like a remote one;
    python bench/api_peers.py hub PORT STACK ENDPOINT TODAY REGISTRY_JSON
        napari-hub's reader (backend/api/metrics.py with models/install_activity.py and
        models/github_activity.py) on our tables: per page, one after the other, Query for the install
        timeline, GetItem TOTAL:, Query for the 30 days' DAY items, Query for the commit timeline of the
        plugin's repo, GetItem TOTAL:{repo}, GetItem LATEST:{repo}. The hub reads the repo from its plugin
        table; here it comes from memory (REGISTRY_JSON: {plugin: repo}), one request fewer than the hub.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward bytes, each chunk `delay` seconds after it arrived (order kept, delays not summed)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while (item := await queue.get()) is not None:
            due, chunk = item
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
    except ConnectionError:
        pass
    queue.put_nowait(None)
    await sender


async def _proxy(listen: int, upstream: int, delay_ms: float) -> None:
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer, delay_ms / 1000), _pipe(server_reader, client_writer, 0),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def _month_ms(day: date) -> int:
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()) * 1000


def _months(today: date, count: int) -> list[date]:
    first, out = today.replace(day=1), []
    for _ in range(count):
        first = (first - timedelta(days=1)).replace(day=1)
        out.append(first)
    return out[::-1]


def hub_app(stack: str, endpoint: str, today: date, registry: dict[str, str]):
    """The hub's `get_metrics_for_plugin`, sequential as there (pynamodb calls are synchronous)."""
    import boto3
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    installs, github = f"{stack}-install-activity", f"{stack}-github-activity"
    app = FastAPI()

    def query(table: str, key: str, plugin: str, low: str, high: str) -> list[dict]:
        items, kwargs = [], {"TableName": table, "KeyConditionExpression": f"plugin_name = :p AND {key} BETWEEN :a AND :b",
                             "ExpressionAttributeValues": {":p": {"S": plugin}, ":a": {"S": low}, ":b": {"S": high}}}
        while True:
            page = client.query(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(table: str, key: str, plugin: str, sort_key: str) -> dict | None:
        return client.get_item(TableName=table, Key={"plugin_name": {"S": plugin}, key: {"S": sort_key}}).get("Item")

    @app.get("/metrics/{plugin}")
    def metrics(plugin: str, limit: str = "12"):  # the hub route's default
        repo = registry.get(plugin.lower())  # the hub: plugin.get_plugin(name)["code_repository"]
        name = plugin.lower()
        month_delta = max(int(limit), 0) if limit.isdigit() else 0
        months = _months(today, month_delta)
        usage_timeline, maintenance_timeline = [], []
        if month_delta:
            rows = query(installs, "type_timestamp", name, f"MONTH:{months[0]:%Y%m}", f"MONTH:{months[-1]:%Y%m}")
            found = {int(r["timestamp"]["N"]): int(r["install_count"]["N"]) for r in rows}
            usage_timeline = [{"timestamp": _month_ms(m), "installs": found.get(_month_ms(m), 0)} for m in months]
        total = get(installs, "type_timestamp", name, "TOTAL:")
        days = query(installs, "type_timestamp", name, f"DAY:{today - timedelta(days=30):%Y%m%d}", f"DAY:{today:%Y%m%d}")
        if month_delta:
            rows = query(github, "type_identifier", name, f"MONTH:{months[0]:%Y%m}:{repo}", f"MONTH:{months[-1]:%Y%m}:{repo}")
            found = {int(r["timestamp"]["N"]): int(r["commit_count"]["N"]) for r in rows}
            maintenance_timeline = [{"timestamp": _month_ms(m), "commits": found.get(_month_ms(m), 0)} for m in months]
        total_commits = get(github, "type_identifier", name, f"TOTAL:{repo}")
        latest = get(github, "type_identifier", name, f"LATEST:{repo}")
        body = {
            "usage": {"timeline": usage_timeline, "stats": {
                "total_installs": int(total["install_count"]["N"]) if total else 0,
                "installs_in_last_30_days": sum(int(d["install_count"]["N"]) for d in days)}},
            "maintenance": {"timeline": maintenance_timeline, "stats": {
                "total_commits": int(total_commits["commit_count"]["N"]) if total_commits else 0,
                "latest_commit_timestamp": int(latest["timestamp"]["N"]) if latest else None}},
        }
        return JSONResponse(body, headers={"X-Backend-Calls": str(6 if month_delta else 4)})

    return app


def main(argv: list[str]) -> None:
    if argv[0] == "proxy":
        asyncio.run(_proxy(int(argv[1]), int(argv[2]), float(argv[3])))
    elif argv[0] == "hub":
        import uvicorn

        port, stack, endpoint, today, registry = argv[1:6]
        app = hub_app(stack, endpoint, date.fromisoformat(today), json.loads(open(registry).read()))
        uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
    else:
        raise SystemExit(f"unknown peer {argv[0]!r}: proxy or hub")


if __name__ == "__main__":
    main(sys.argv[1:])
