"""Postgres: connections from METRICS_POSTGRES_DSN, with errors that name it but never echo it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from psycopg import conninfo
from pydantic import Field, PrivateAttr

from metrics_pipeline.resources.run_scoped import HeldForTheRun

DSN_ENV_VAR = "METRICS_POSTGRES_DSN"


class PostgresConfigError(RuntimeError):
    """METRICS_POSTGRES_DSN is unset, malformed or points at a server we cannot use."""


def _redact(text: str, dsn: str) -> str:
    """libpq's messages name host/port/user; drop anything that could be the password."""
    try:
        password = conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text.replace(dsn, "<dsn>")


class PostgresResource(HeldForTheRun):
    """A Postgres database reached through a libpq DSN (set METRICS_POSTGRES_DSN)."""

    dsn: str = Field(description=f"libpq DSN or URI; set through {DSN_ENV_VAR}.")
    connect_timeout_seconds: int = 10

    _busy: bool = PrivateAttr(default=False)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """An autocommit=False connection; the caller commits (one transaction per partition). Within a
        run one connection serves every step (a connection costs a TLS and auth round trip); what a
        caller left uncommitted is rolled back, and a broken connection is replaced."""
        if not self._in_run or self._busy:  # outside a run, or nested inside another caller's transaction
            connection = self._open()
            try:
                yield connection
            finally:
                connection.close()
            return
        connection, self._busy = self._checkout(), True
        try:
            yield connection
        finally:
            self._busy = False
            if not connection.closed and not connection.broken and \
                    connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                connection.rollback()

    def _checkout(self) -> psycopg.Connection:
        """The run's connection, starting as a new one would (no temp tables); replaced when the server
        dropped it since the last step."""
        if self._held is not None:
            try:
                self._held.autocommit = True
                self._held.execute("DISCARD TEMP")
                self._held.autocommit = False
                return self._held
            except psycopg.Error:
                self._held.close()
        self._held = self._open()
        return self._held

    def answers(self) -> bool:
        """Whether the database accepts a connection now (the catch-up sensor asks before re-running a sink)."""
        try:
            psycopg.connect(self.dsn, connect_timeout=3, application_name="metrics_pipeline").close()
        except (psycopg.Error, ValueError):
            return False
        return True

    def _open(self) -> psycopg.Connection:
        if not self.dsn or not self.dsn.strip():
            raise PostgresConfigError(f"{DSN_ENV_VAR} is empty: set it to a libpq DSN or postgresql:// URI")
        try:
            conninfo.conninfo_to_dict(self.dsn)
        except psycopg.Error:
            raise PostgresConfigError(
                f"{DSN_ENV_VAR} is not a valid libpq DSN or postgresql:// URI (value not shown)"
            ) from None
        try:
            return psycopg.connect(
                self.dsn, connect_timeout=self.connect_timeout_seconds, application_name="metrics_pipeline"
            )
        except psycopg.Error as error:
            reason = _redact(str(error).strip(), self.dsn)
            raise PostgresConfigError(f"cannot connect to Postgres with {DSN_ENV_VAR}: {reason}") from None
