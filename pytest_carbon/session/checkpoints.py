"""What was measured survives a run that is stopped from outside.

The JSON report starts as a placeholder. While tests run, it is rewritten from time to
time with what was measured so far (a SIGKILL leaves the latest one), and on SIGTERM it
is written once more before the process ends as it would have. Both are marked
incomplete (`"complete": false`, `interrupted` saying why).
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any, Protocol

from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.values.errors import CarbonConfigError

INTERVAL_VAR = "PYTEST_CARBON_JSON_FLUSH"
DEFAULT_INTERVAL_S = 30.0
# A flush rewrites the whole report: the next waits at least this many times as long as
# the last took, so that large suites spend at most a few percent of their time on it.
SPACING = 20.0
CHECKPOINT = "the run did not finish (killed or still running); figures up to the last checkpoint"
SIGTERM_REASON = "interrupted (SIGTERM): figures up to the signal"


class Flusher(Protocol):
    def flush(self, interrupted: str) -> None: ...


def flush_interval(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds between checkpoints of the JSON report (inf: never)."""
    raw = environ.get(INTERVAL_VAR)
    if raw is None or not raw.strip():
        return DEFAULT_INTERVAL_S
    accepted = "a number of seconds above 0 (e.g. 30), or 'off'"
    if raw.strip().lower() == "off":
        return math.inf
    try:
        value = float(raw)
    except ValueError:
        raise CarbonConfigError(raw, f"environment variable {INTERVAL_VAR}", "is not a number", accepted) from None
    if not math.isfinite(value) or value <= 0:
        raise CarbonConfigError(raw, f"environment variable {INTERVAL_VAR}", "is not above 0 and finite", accepted)
    return value


class Checkpoints:
    """The periodic flush (asked for at the end of each test, see TestRunner) and the
    SIGTERM handler, for a run that writes a JSON report."""

    def __init__(self, reporting: Flusher, interval_s: float) -> None:
        self.reporting = reporting
        self.interval_s = interval_s
        self._handler_installed = False

    def first_due(self) -> float:
        """When the first checkpoint is due, on the ledger's clock (its readings' time)."""
        return CLOCKS.now() + self.interval_s

    def flush(self, now: float) -> float:
        """Rewrite the JSON report with what was measured so far; returns when the next
        checkpoint is due."""
        started = CLOCKS.now()
        self.reporting.flush(CHECKPOINT)
        took = CLOCKS.now() - started
        return max(now, started) + max(self.interval_s, SPACING * took)

    # -- SIGTERM -----------------------------------------------------------------------

    def install_sigterm(self) -> None:
        """Only where nothing else handles SIGTERM, and from the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._handler_installed = True

    def remove_sigterm(self) -> None:
        if self._handler_installed and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._handler_installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        try:
            self.reporting.flush(SIGTERM_REASON)
        finally:
            # Then what SIGTERM would have done without this handler: end the process.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self._handler_installed = False
            os.kill(os.getpid(), signal.SIGTERM)

    def pytest_unconfigure(self, config: Any) -> None:
        self.remove_sigterm()
