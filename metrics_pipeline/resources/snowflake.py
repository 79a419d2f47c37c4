"""A Snowflake session through snowflake-connector-python: server-side binds, UTC, scrubbed errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import dagster as dg
import snowflake.connector
from snowflake.connector.errors import DatabaseError, Error as SnowflakeError

from metrics_pipeline.resources.secrets import (
    CredentialError,
    ParameterStoreSecrets,
    parameter_store_from,
    resolve_credential,
    scrub,
)

# Resource field -> the environment variable (or SSM parameter name) that configures it.
SETTINGS = {
    "account": "METRICS_SNOWFLAKE_ACCOUNT",
    "user": "METRICS_SNOWFLAKE_USER",
    "password": "METRICS_SNOWFLAKE_PASSWORD",
    "private_key_file": "METRICS_SNOWFLAKE_PRIVATE_KEY_FILE",
    "warehouse": "METRICS_SNOWFLAKE_WAREHOUSE",
    "database": "METRICS_SNOWFLAKE_DATABASE",
    "schema_name": "METRICS_SNOWFLAKE_SCHEMA",
    "role": "METRICS_SNOWFLAKE_ROLE",
    "host": "METRICS_SNOWFLAKE_HOST",
    "port": "METRICS_SNOWFLAKE_PORT",
    "protocol": "METRICS_SNOWFLAKE_PROTOCOL",
}
_REQUIRED = ("account", "user", "database", "schema_name")
_LOGIN_REFUSED = {390100, 390144, 390101, 390422, 251005, 251006}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")


def checked_identifier(name: str, setting: str) -> str:
    """`name` if it is a plain (optionally qualified) identifier safe to place in SQL; else an error."""
    if not _IDENTIFIER.match(name or ""):
        raise ValueError(f"{setting}={name!r} is not a plain Snowflake identifier like DB.SCHEMA.NAME")
    return name


def naive_utc(value: datetime | None) -> datetime | None:
    """Snowflake returns aware datetimes for TIMESTAMP_TZ/LTZ; the pipeline keeps naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


class SnowflakeConnection(dg.Config):
    """Connection settings shared by the Snowflake sources (nested config, so sensors can build them
    without a context manager); secrets are `dg.EnvVar`s or looked up in SSM at connect time."""

    account: str
    user: str
    password: str = ""
    private_key_file: str = ""
    warehouse: str = ""
    database: str
    schema_name: str
    role: str = ""
    host: str = ""  # set only for a non-standard endpoint (tests: fakesnow on 127.0.0.1)
    port: int = 443
    protocol: str = "https"
    login_timeout_seconds: int = 60
    secrets: ParameterStoreSecrets | None = None

    def _connect_args(self) -> tuple[dict[str, Any], list[str]]:
        args: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "database": self.database,
            "schema": self.schema_name,
            "paramstyle": "qmark",  # binds travel separately from the SQL text
            "login_timeout": self.login_timeout_seconds,
            "network_timeout": self.login_timeout_seconds * 5,
            "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "metrics_pipeline"},
            "application": "metrics_pipeline",
        }
        for field in ("warehouse", "role"):
            if getattr(self, field):
                args[field] = getattr(self, field)
        if self.host:
            args.update(host=self.host, port=self.port, protocol=self.protocol)
        if self.private_key_file:
            args.update(authenticator="SNOWFLAKE_JWT", private_key_file=self.private_key_file)
            return args, []
        password = resolve_credential(SETTINGS["password"], self.password, self.secrets)
        args["password"] = password
        return args, [password]

    @contextmanager
    def connect(self) -> Iterator[snowflake.connector.SnowflakeConnection]:
        args, secrets = self._connect_args()
        try:
            con = snowflake.connector.connect(**args)
        except SnowflakeError as error:
            raise CredentialError(_login_failure(error, secrets)) from None
        try:
            yield con
        finally:
            con.close()


def _login_failure(error: SnowflakeError, secrets: list[str]) -> str:
    """A message naming the settings to check, with the connector's text scrubbed of secrets."""
    detail = scrub(str(getattr(error, "raw_msg", None) or error.msg or type(error).__name__), secrets)
    errno = getattr(error, "errno", None)
    if errno in _LOGIN_REFUSED:
        checked = f"{SETTINGS['user']} and {SETTINGS['password']} (or {SETTINGS['private_key_file']})"
        return f"Snowflake refused the login (errno {errno}): {detail} - check {checked}"
    where = ", ".join(SETTINGS[f] for f in ("account", "host", "port", "protocol"))
    kind = "login" if isinstance(error, DatabaseError) else "connection"
    return f"Snowflake {kind} failed (errno {errno}): {detail} - check {where}"


def run_query(con, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    with con.cursor() as cur:
        cur.execute(sql, list(params))
        return cur.fetchall()


def stage_names(con, table: str, names: Sequence[str]) -> None:
    """A session temp table `table(name)` holding `names`, filled with one array-bound insert."""
    with con.cursor() as cur:
        cur.execute(f"CREATE OR REPLACE TEMPORARY TABLE {checked_identifier(table, 'temp table')} (name VARCHAR)")
        if names:
            cur.executemany(f"INSERT INTO {table} (name) VALUES (?)", [(n,) for n in names])


def snowflake_connection_from(env: Mapping[str, str]) -> SnowflakeConnection:
    """The resource for `env`: required settings and the password stay `dg.EnvVar`s (or SSM lookups)."""
    fields: dict[str, Any] = {field: dg.EnvVar(SETTINGS[field]) for field in _REQUIRED}
    for field in ("warehouse", "role", "host", "protocol", "private_key_file"):
        if env.get(SETTINGS[field]):
            fields[field] = dg.EnvVar(SETTINGS[field])
    if env.get(SETTINGS["port"]):
        fields["port"] = dg.EnvVar.int(SETTINGS["port"])
    store = parameter_store_from(env)
    if store is not None:
        fields["secrets"] = store
    if env.get(SETTINGS["password"]) or (store is None and not env.get(SETTINGS["private_key_file"])):
        fields["password"] = dg.EnvVar(SETTINGS["password"])
    return SnowflakeConnection(**fields)
