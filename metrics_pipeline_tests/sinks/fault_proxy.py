"""A fault-injecting HTTP proxy in front of a DynamoDB-compatible server, for throttling tests.

Deterministically by BatchWriteItem request count: every `throttle_every`-th request gets HTTP 400
ProvisionedThroughputExceededException; every `partial_every`-th forwards only the first half of
its batch and returns the rest as UnprocessedItems. Everything else passes through unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}


class FaultProxy:
    """Start with `start()`, point boto3 at `endpoint`, read `counts`, `stop()` when done."""

    def __init__(self, upstream: str, throttle_every: int = 3, partial_every: int = 4, always_throttle: bool = False):
        self.upstream = urlsplit(upstream)
        self.throttle_every, self.partial_every, self.always_throttle = throttle_every, partial_every, always_throttle
        self.counts = {"batch_requests": 0, "throttled": 0, "partial": 0}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _decide(self) -> str:
        with self._lock:
            self.counts["batch_requests"] += 1
            n = self.counts["batch_requests"]
            if self.always_throttle or n % self.throttle_every == 0:
                self.counts["throttled"] += 1
                return "throttle"
            if n % self.partial_every == 0:
                self.counts["partial"] += 1
                return "partial"
            return "forward"

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                action = "forward"
                if self.headers.get("X-Amz-Target", "").endswith(".BatchWriteItem"):
                    action = proxy._decide()
                if action == "throttle":
                    return self._reply(400, [], json.dumps(THROTTLED).encode())
                unprocessed = {}
                if action == "partial":
                    request = json.loads(body)
                    for table, items in request["RequestItems"].items():
                        keep = max(1, len(items) // 2)
                        request["RequestItems"][table], rest = items[:keep], items[keep:]
                        if rest:
                            unprocessed[table] = rest
                    body = json.dumps(request).encode()
                status, upstream_headers, payload = proxy._forward("POST", self.path, headers, body)
                if unprocessed and status == 200:
                    reply = json.loads(payload)
                    reply["UnprocessedItems"] = unprocessed
                    payload = json.dumps(reply).encode()
                self._reply(status, upstream_headers, payload)

            def _reply(self, status: int, upstream_headers: list, payload: bytes) -> None:
                self.send_response(status)
                for name, value in upstream_headers:
                    if name.lower() not in HOP_HEADERS | {"x-amz-crc32", "server", "date"}:
                        self.send_header(name, value)
                if not any(name.lower() == "content-type" for name, _ in upstream_headers):
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amz-crc32", str(zlib.crc32(payload) & 0xFFFFFFFF))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
