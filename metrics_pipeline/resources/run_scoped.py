"""Resources that keep one connection for the length of a run (every step a user of it)."""

from typing import Any

import dagster as dg
from pydantic import PrivateAttr


class HeldForTheRun(dg.ConfigurableResource):
    """Dagster sets a resource up once per run (in-process executor) and tears it down after; between
    the two, `_held` is the run's connection, opened by the subclass at first use and closed here."""

    _held: Any = PrivateAttr(default=None)
    _in_run: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        held, self._held, self._in_run = self._held, None, False
        if held is not None:
            held.close()
