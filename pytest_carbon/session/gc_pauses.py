"""Full garbage collections are the session's overhead, not the test they land in.

A full (generation 2) collection walks every object the process tracks: pytest's,
the plugins', every earlier test's leftovers. Its pause (tenths of a second in a large
suite) is set by that whole heap, not by the test whose allocation happened to trip the
threshold, so it is charged to the overhead account "gc". Younger generations are
frequent and short: the callback returns at once for them.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from pathlib import Path
from typing import Any

from pytest_carbon.ledger import GC, Ledger

_PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep


class FullCollections:
    """A `gc.callbacks` entry: each full collection in the main thread is a stretch of the
    ledger's "gc" overhead, wherever it interrupts."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.thread = threading.get_ident()
        self.open = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            if self.open or self.ledger.end is not None or threading.get_ident() != self.thread:
                return
            if _inside_plugin(sys._getframe(0).f_back):
                # A boundary (a meter read) is under way: leave the pause where it is.
                return
            self.open = True
            self.ledger.push_overhead(GC)
        elif self.open:
            self.open = False
            self.ledger.pop()

    def install(self) -> None:
        gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def _inside_plugin(frame: Any) -> bool:
    """Whether the collection interrupted this package's own code (rare: it costs a walk
    up the stack, made only for full collections)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PACKAGE):
            return True
        frame = frame.f_back
    return False
