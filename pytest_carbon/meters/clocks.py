"""The clocks every meter reads, out of reach of tests that patch time.

Test suites patch clocks: freezegun's `freeze_time` replaces `time.perf_counter` (and
every module attribute that holds it: it scans `sys.modules`), and tests monkeypatch
`time.process_time` or `os.times`. A meter that read those names would charge a frozen
or invented interval. So the real functions are taken once, here, and kept as
attributes of an object, which freezegun does not scan and monkeypatching a module does
not touch; meters copy them into their own instances. Where a patch is already in place
when this module is imported (a conftest that freezes time at import), the POSIX calls
underneath are used instead: `clock_gettime` and `posix.times`, which neither patches.
"""

from __future__ import annotations

import datetime
import functools
import os
import time
import types
from collections.abc import Callable
from typing import NamedTuple

_BUILTIN = (types.BuiltinFunctionType, types.BuiltinMethodType)


def _real(found: object, fallback: Callable[[], float]) -> Callable[[], float]:
    if isinstance(found, _BUILTIN):
        return found
    return fallback


def _posix_times() -> Callable[[], os.times_result]:
    try:
        import posix

        return posix.times
    except ImportError:  # pragma: no cover - not POSIX
        return os.times


class Clocks(NamedTuple):
    """The real clocks: wall (monotonic seconds), this process's CPU seconds, times(2)."""

    now: Callable[[], float]
    process_time: Callable[[], float]
    times: Callable[[], os.times_result]
    wall: Callable[[], datetime.datetime]  # the date and time now, in UTC


def _clocks() -> Clocks:
    if hasattr(time, "clock_gettime"):
        monotonic: Callable[[], float] = functools.partial(time.clock_gettime, time.CLOCK_MONOTONIC)
        cpu: Callable[[], float] = functools.partial(time.clock_gettime, time.CLOCK_PROCESS_CPUTIME_ID)
    else:  # pragma: no cover - not POSIX
        monotonic, cpu = time.perf_counter, time.process_time
    times = os.times if isinstance(os.times, _BUILTIN) else _posix_times()
    return Clocks(_real(time.perf_counter, monotonic), _real(time.process_time, cpu), times, _wall_clock())


def _wall_clock() -> Callable[[], datetime.datetime]:
    # freezegun replaces the datetime class itself: keep the real one in a closure, and
    # read the time from clock_gettime, which it does not patch.
    real: type[datetime.datetime] = datetime.datetime
    while real.__module__ != "datetime" and real.__bases__[0] is not object:  # a patched subclass
        real = real.__bases__[0]
    utc = datetime.timezone.utc
    if hasattr(time, "clock_gettime"):
        realtime = time.CLOCK_REALTIME
        gettime = time.clock_gettime
        return lambda: real.fromtimestamp(gettime(realtime), utc)
    return lambda: real.now(utc)  # pragma: no cover - not POSIX


CLOCKS = _clocks()
