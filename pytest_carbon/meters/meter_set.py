"""Discover the meters this machine offers and read them together as one snapshot."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.meters.base import Channel, Meter, Probe
from pytest_carbon.meters.amd import probe_amdsmi
from pytest_carbon.meters.estimate import probe_estimate
from pytest_carbon.meters.nvml import probe_nvml
from pytest_carbon.meters.rapl import probe_rapl

_perf_counter = time.perf_counter

# Components the estimate can stand in for when nothing measures them.
ESTIMABLE = frozenset({"cpu", "memory"})


@dataclass(frozen=True)
class MeterOptions:
    gpus: str = "visible"  # normalised --carbon-gpus value: all, visible or "0,2"
    gpus_origin: str = "default"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


ProbeFunction = Callable[[MeterOptions], Probe]

# Measured sources, in the order they are tried. GPU meters register here too.
MEASURED_PROBES: dict[str, ProbeFunction] = {
    "rapl": lambda options: probe_rapl(options.environ.get("PYTEST_CARBON_POWERCAP_ROOT")),
    "nvml": lambda options: probe_nvml(options.gpus, options.environ, options.gpus_origin),
    "amdsmi": lambda options: probe_amdsmi(options.gpus, options.environ, options.gpus_origin),
}


def known_meters() -> list[str]:
    return [*MEASURED_PROBES, "estimate"]


def parse_meter_list(raw: object, origin: str) -> tuple[str, ...]:
    """`auto` or a comma-separated list of known meter names."""
    accepted = "auto, or a comma-separated list of " + ", ".join(known_meters())
    if isinstance(raw, list):
        names = [str(item).strip() for item in raw]
    elif isinstance(raw, str):
        names = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        raise CarbonConfigError(raw, origin, "is not a list of meters", accepted)
    if names == ["auto"]:
        return ("auto",)
    if not names:
        raise CarbonConfigError(raw, origin, "names no meter", accepted)
    for name in names:
        if name not in known_meters():
            raise CarbonConfigError(raw, origin, f"names an unknown meter {name!r}", accepted)
    return tuple(dict.fromkeys(names))


def probe_all(options: MeterOptions) -> dict[str, Probe]:
    """Probe every measured source, for diagnosis. Never raises."""
    probes: dict[str, Probe] = {}
    for kind, probe in MEASURED_PROBES.items():
        try:
            probes[kind] = probe(options)
        except CarbonConfigError:  # e.g. --carbon-gpus names a GPU that does not exist
            raise
        except Exception as error:  # a broken driver must not stop the run
            probes[kind] = Probe(kind, False, f"probe failed: {type(error).__name__}: {error}")
    return probes


@dataclass
class Selection:
    meters: list[Meter]
    probes: dict[str, Probe]
    estimated: frozenset[str]  # components covered by the estimate


def select_meters(requested: tuple[str, ...], options: MeterOptions, origin: str) -> Selection:
    probes = probe_all(options)
    auto = requested == ("auto",)
    wanted = list(MEASURED_PROBES) if auto else [name for name in requested if name != "estimate"]
    meters: list[Meter] = []
    covered: set[str] = set()
    for name in wanted:
        probe = probes[name]
        if not probe.available:
            if auto:
                continue
            fix = f"; fix: {probe.fix}" if probe.fix else ""
            raise CarbonConfigError(
                ",".join(requested), origin, f"asks for {name}, which is unavailable here: {probe.summary}{fix}",
                "auto, or meters that `python -m pytest_carbon meters` lists as available",
            )
        assert probe.meter is not None
        meters.append(probe.meter)
        covered |= probe.covers
    release_unused(probes, meters)
    estimated = frozenset()
    if auto or "estimate" in requested:
        estimated = frozenset(ESTIMABLE - covered)
        if estimated:
            probe = probe_estimate(estimated)
            probes["estimate"] = probe
            assert probe.meter is not None
            meters.append(probe.meter)
    return Selection(meters, probes, estimated)


def release_unused(probes: dict[str, Probe], used: list[Meter]) -> None:
    """Probes open libraries (NVML is initialised by its probe): close what is not used."""
    for probe in probes.values():
        if probe.meter is not None and probe.meter not in used:
            try:
                probe.meter.close()
            except Exception:
                pass


class MeterSet:
    """The active meters, read together. A meter that fails is dropped, never fatal.

    `read()` returns `[t, e1, e2, ...]`: a perf_counter timestamp, then cumulative joules
    for every channel of every meter in order. A dropped meter keeps reporting its last
    values, so later intervals see zero from it and the timeline still adds up.
    """

    def __init__(self, meters: list[Meter]) -> None:
        self.meters = meters
        self.channels: tuple[Channel, ...] = tuple(c for m in meters for c in m.channels)
        self._last: dict[int, tuple[float, ...]] = {}
        self.dropped: dict[str, str] = {}  # meter name -> why
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._sampler: Sampler | None = None
        self._single: Meter | None = None  # the common case gets a shorter read path
        self.fast_read: Callable[[], list[float]] = self.read

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
        self.fast_read = self.read
        snapshot = getattr(self._single, "snapshot", None)
        if snapshot is not None:
            self._snapshot = snapshot
            self._last_values = [_perf_counter(), *self._last[id(self._single)]]
            self.read = self._read_snapshot  # type: ignore[method-assign]
            # The ledger reads the meter itself, one call less per boundary; it hands
            # failures to recover() with its last reading.
            self.fast_read = snapshot
        polled = [m for m in started if m.poll_interval_s]
        if polled:
            self._sampler = Sampler(self, polled)
            if all(hasattr(m, "poll_inline") for m in polled):
                # A second thread slows the whole process slightly (0.3-1.2 % of a run of
                # trivial tests), so meters that can poll at boundaries do so until an
                # interval runs longer than their poll period; the thread starts then.
                for meter in polled:
                    meter.poll_inline(self._sampler.start)
            else:
                self._sampler.start()

    def read(self) -> list[float]:
        if self._single is not None and not self.dropped:
            meter = self._single
            try:
                reading = self._last[id(meter)] = meter.read()
                return [_perf_counter(), *reading]
            except Exception as error:
                self.drop(meter, error)
        return self._read_all()

    def _read_snapshot(self) -> list[float]:
        # One meter that can take its own snapshot (the estimate): the shortest path.
        if not self.dropped:
            try:
                values = self._last_values = self._snapshot()
                return values
            except Exception as error:
                assert self._single is not None
                self.drop(self._single, error)
                self._last[id(self._single)] = tuple(self._last_values[1:])
        return self._read_all()

    def recover(self, error: BaseException, last: list[float]) -> tuple[Callable[[], list[float]], list[float]]:
        """fast_read failed: drop its meter, holding `last` (the caller's last reading).
        Returns what to read from now on, and a reading to use now."""
        assert self._single is not None
        self._last[id(self._single)] = tuple(last[1:])
        self.drop(self._single, error)
        return self.read, self._read_all()

    def _read_all(self) -> list[float]:
        values = [_perf_counter()]
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
            settle = getattr(meter, "settle", None)
            if settle is not None and meter.name not in self.dropped:
                try:
                    settle()
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


class Sampler:
    """One daemon thread that polls the meters that need it (wrapping counters, power)."""

    def __init__(self, meters_set: MeterSet, meters: list[Meter]) -> None:
        self._set = meters_set
        self._meters = meters
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pytest-carbon-sampler", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def _run(self) -> None:
        due = {id(m): time.perf_counter() + (m.poll_interval_s or 1.0) for m in self._meters}
        while not self._stop.is_set():
            now = time.perf_counter()
            for meter in self._meters:
                if meter.name in self._set.dropped or now < due[id(meter)]:
                    continue
                try:
                    meter.poll()
                except Exception as error:
                    self._set.drop(meter, error)
                due[id(meter)] = now + (meter.poll_interval_s or 1.0)
            wait = min(due.values()) - time.perf_counter()
            self._stop.wait(max(0.001, wait))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
