"""The active meters, read together as one snapshot."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pytest_carbon.meters.base import Channel, Meter, Snapshot
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.meters.sampler import Sampler


class MeterSet:
    """The active meters, read together. A meter that fails is dropped, never fatal.

    `read()` returns `[t, e1, e2, ...]`: a perf_counter timestamp, then cumulative joules
    for every channel of every meter in order. A dropped meter keeps reporting its last
    values, so later intervals see zero from it and the timeline still adds up.
    """

    def __init__(self, meters: list[Meter]) -> None:
        self._now = CLOCKS.now
        self.meters = meters
        self.channels: tuple[Channel, ...] = tuple(c for m in meters for c in m.channels)
        self._last: dict[int, tuple[float, ...]] = {}
        self.dropped: dict[str, str] = {}  # meter name -> why
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._sampler: Sampler | None = None
        self._single: Meter | None = None  # the common case gets a shorter read path
        self._snapshot: Snapshot | None = None  # the lone meter's own snapshot call
        self._last_values: list[float] = []

    def start(self) -> None:
        started: list[Meter] = []
        for meter in self.meters:
            try:
                meter.start()
                self._last[id(meter)] = meter.read()
                started.append(meter)
            except Exception as error:
                self.warnings.append(f"meter {meter.name} could not start and is not used: {error}")
        self.meters = started
        self.channels = tuple(c for m in started for c in m.channels)
        self._single = started[0] if len(started) == 1 else None
        if self._single is not None:
            self._snapshot = self._single.snapshot_reader()
            if self._snapshot is not None:
                self._last_values = [self._now(), *self._last[id(self._single)]]
        polled = [m for m in started if m.poll_interval_s]
        if polled:
            self._sampler = Sampler(polled, self.dropped, self.drop)
            self._sampler.start()

    @property
    def fast_read(self) -> Snapshot:
        """What a boundary calls: the lone meter's snapshot where it has one (one call less
        per boundary; its failures go to recover()), else read()."""
        if self._snapshot is not None and not self.dropped:
            return self._snapshot
        return self.read

    def read(self) -> list[float]:
        if self._single is not None and not self.dropped:
            meter = self._single
            try:
                if self._snapshot is not None:
                    values = self._last_values = self._snapshot()
                    return values
                reading = self._last[id(meter)] = meter.read()
                return [self._now(), *reading]
            except Exception as error:
                if self._snapshot is not None:
                    self._last[id(meter)] = tuple(self._last_values[1:])
                self.drop(meter, error)
        return self._read_all()

    def recover(self, error: BaseException, last: list[float]) -> tuple[Callable[[], list[float]], list[float]]:
        """fast_read failed: drop its meter, holding `last` (the caller's last reading).
        Returns what to read from now on, and a reading to use now."""
        assert self._single is not None
        self._last[id(self._single)] = tuple(last[1:])
        self.drop(self._single, error)
        return self.read, self._read_all()

    def _read_all(self) -> list[float]:
        values = [self._now()]
        last = self._last
        dropped = self.dropped
        for meter in self.meters:
            if dropped and meter.name in dropped:
                values += last[id(meter)]
                continue
            try:
                reading = last[id(meter)] = meter.read()
            except Exception as error:
                self.drop(meter, error)
                reading = last[id(meter)]
            values += reading
        return values

    def drop(self, meter: Meter, error: BaseException) -> None:
        with self._lock:
            if meter.name in self.dropped:
                return
            why = f"{type(error).__name__}: {error}"
            self.dropped[meter.name] = why
            self.warnings.append(
                f"meter {meter.name} failed and was dropped for the rest of the session ({why}); "
                "its energy after that point is missing from the figures"
            )

    def settle(self) -> None:
        """Before the session's last read: let meters that extrapolate take exact values."""
        for meter in self.meters:
            if meter.name not in self.dropped:
                try:
                    meter.settle()
                except Exception as error:
                    self.drop(meter, error)

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        for meter in self.meters:
            try:
                meter.close()
            except Exception:
                pass

    @property
    def measured(self) -> bool:
        return any(m.measured for m in self.meters)

    @property
    def notes(self) -> list[str]:
        return [note for meter in self.meters for note in meter.notes]
