"""InfluxDB 1.x over HTTP: line protocol to /write, InfluxQL to /query; credentials never echoed."""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import dagster as dg
from pydantic import Field

URL_SETTING = "METRICS_INFLUXDB_URL"


class InfluxDBError(RuntimeError):
    """A refused or failed request; names the endpoint path and status, never credentials."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def storable(value) -> bool:
    """Whether InfluxDB can hold this field value: its integers are int64, its floats finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, int):
        return -(1 << 63) <= value < 1 << 63
    return math.isfinite(value)


def _field(key: str, value) -> str:
    if not storable(value):
        raise ValueError(f"InfluxDB cannot store field {key!r} = {value!r} (integers are int64, floats finite)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(measurement: str, tags: dict[str, str], fields: dict, at: datetime) -> str:
    """One point in line protocol, time in seconds; None fields are left out, unstorable ones refused."""
    tag_text = "".join(f",{_escape_tag(k)}={_escape_tag(v)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{_escape_tag(k)}={_field(k, v)}" for k, v in fields.items() if v is not None)
    return f"{_escape_tag(measurement)}{tag_text} {field_text} {int(at.replace(tzinfo=timezone.utc).timestamp())}"


def _quote_time(moment: datetime) -> str:
    return "'" + moment.strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


class InfluxDBResource(dg.ConfigurableResource):
    """An InfluxDB 1.x server (METRICS_INFLUXDB_URL, e.g. http://127.0.0.1:8086) and database."""

    url: str = Field(description=f"base URL; set through {URL_SETTING}")
    database: str = "metrics"
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 10.0

    def _request(self, path: str, params: dict, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}", data=body, method="POST"
        )
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            raise InfluxDBError(f"InfluxDB {path} answered {error.code}: {detail} (setting {URL_SETTING})",
                                unreachable=error.code >= 500) from None
        except OSError as error:
            raise InfluxDBError(f"cannot reach InfluxDB at {URL_SETTING} ({type(error).__name__}: {error})",
                                unreachable=True) from None

    def query(self, influxql: str) -> list[dict]:
        answer = json.loads(self._request("/query", {"db": self.database, "q": influxql}))
        results = answer.get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxDBError(f"InfluxDB query failed: {result['error']}")
        return results

    def replace_window(self, measurement: str, start: datetime, end: datetime, lines: list[str]) -> None:
        """Make [start, end) of `measurement` hold exactly `lines` (delete, then write)."""
        self.query(f'CREATE DATABASE "{self.database}"')
        self.query(f'DELETE FROM "{measurement}" WHERE time >= {_quote_time(start)} AND time < {_quote_time(end)}')
        for offset in range(0, len(lines), 5000):
            self._request("/write", {"db": self.database, "precision": "s"},
                          "\n".join(lines[offset:offset + 5000]).encode())
