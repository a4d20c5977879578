"""Where the energy went: every interval between two boundaries is charged to one account.

Boundaries tile the timeline: the snapshot that closes one interval opens the next, so
the sum over all accounts equals the session total exactly (up to float rounding).
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

PHASES = ("setup", "call", "teardown")
SETUP, CALL, TEARDOWN = 0, 1, 2
OVERHEAD_PARTS = ("startup", "collection", "between", "finish")
STARTUP, COLLECTION, BETWEEN, FINISH = 0, 1, 2, 3
FIXTURE_PARTS = ("setup", "teardown")


_ZEROS: dict[int, array] = {}


def zeros(size: int) -> array:
    """A new array of `size` zero doubles (copied from a cached one: cheaper than building it)."""
    template = _ZEROS.get(size)
    if template is None:
        template = _ZEROS[size] = array("d", bytes(8 * size))
    return template[:]


class EnergyRecord:
    """Energy per (part, channel) and seconds per part, in compact arrays."""

    __slots__ = ("energy", "durations", "channels")

    def __init__(self, parts: int, channels: int) -> None:
        self.channels = channels
        self.energy = zeros(parts * channels)
        self.durations = zeros(parts)

    def part_energy(self, part: int) -> float:
        start = part * self.channels
        return sum(self.energy[start : start + self.channels])

    def part_channels(self, part: int) -> list[float]:
        start = part * self.channels
        return list(self.energy[start : start + self.channels])

    def channel_totals(self) -> list[float]:
        parts = len(self.durations)
        return [sum(self.energy[p * self.channels + c] for p in range(parts)) for c in range(self.channels)]

    @property
    def total_energy(self) -> float:
        return sum(self.energy)

    @property
    def total_duration(self) -> float:
        return sum(self.durations)


class TestRecord(EnergyRecord):
    __slots__ = ("nodeid", "pytest_location", "outcome", "verdict", "flags", "extra")

    def __init__(self, nodeid: str, channels: int, pytest_location: tuple[str, int | None, str] = ("", None, "")) -> None:
        # Written out rather than through EnergyRecord.__init__: one of these is made per test.
        self.channels = channels
        self.energy = zeros(3 * channels)
        self.durations = zeros(3)
        self.nodeid = nodeid
        self.pytest_location = pytest_location  # as pytest gives it: (path, 0-based line, domain)
        self.outcome = "unknown"
        self.verdict: object | None = None
        self.flags: tuple[str, ...] = ()
        self.extra: dict[str, object] | None = None

    @property
    def location(self) -> tuple[str, int | None]:
        """(path, 1-based line) of the test function."""
        path, line = self.pytest_location[0], self.pytest_location[1]
        return path, (line + 1 if line is not None else None)


class FixtureKey(NamedTuple):
    name: str
    scope: str
    baseid: str  # where the fixture is defined ("" for plugins and the root conftest)

    @property
    def label(self) -> str:
        where = f" in {self.baseid}" if self.baseid else ""
        return f"{self.name} ({self.scope}{where})"


class FixtureRecord(EnergyRecord):
    __slots__ = ("key", "setups")

    def __init__(self, key: FixtureKey, channels: int) -> None:
        super().__init__(len(FIXTURE_PARTS), channels)
        self.key = key
        self.setups = 0


class Ledger:
    """Charges each interval to the account that was current while it ran."""

    def __init__(self, read: "callable[[], list[float]]", channels: int) -> None:
        self._read = read
        self.read = read  # what a boundary reads: the meters, or their attributed share
        self.channels = channels
        self.start = read()
        self._last = self.start
        self.end: list[float] | None = None
        self.overhead = EnergyRecord(len(OVERHEAD_PARTS), channels)
        self.tests: dict[str, TestRecord] = {}
        self.fixtures: dict[FixtureKey, FixtureRecord] = {}
        self._record: EnergyRecord = self.overhead
        self._part = STARTUP
        self._stack: list[tuple[EnergyRecord, int]] = []

    def boundary(self, record: EnergyRecord, part: int) -> list[float]:
        """Close the running interval, charging it to the current account; `record` is next."""
        now = self._read()
        # Add the interval to the current account. Kept inline and unrolled for the usual
        # channel counts: this runs three times per test.
        current = self._record
        last = self._last
        energy = current.energy
        channels = self.channels
        base = self._part * channels
        if channels == 2:
            energy[base] += now[1] - last[1]
            energy[base + 1] += now[2] - last[2]
        elif channels == 1:
            energy[base] += now[1] - last[1]
        elif channels == 3:
            energy[base] += now[1] - last[1]
            energy[base + 1] += now[2] - last[2]
            energy[base + 2] += now[3] - last[3]
        else:
            for i in range(channels):
                energy[base + i] += now[i + 1] - last[i + 1]
        current.durations[self._part] += now[0] - last[0]
        self._last = now
        self._record = record
        self._part = part
        return now

    def push(self, record: EnergyRecord, part: int) -> None:
        self._stack.append((self._record, self._part))
        self.boundary(record, part)

    def pop(self) -> None:
        record, part = self._stack.pop() if self._stack else (self.overhead, BETWEEN)
        self.boundary(record, part)

    def test(self, nodeid: str, pytest_location: tuple[str, int | None, str] = ("", None, "")) -> TestRecord:
        record = self.tests.get(nodeid)
        if record is None:
            record = self.tests[nodeid] = TestRecord(nodeid, self.channels, pytest_location)
        return record

    def fixture(self, key: FixtureKey) -> FixtureRecord:
        record = self.fixtures.get(key)
        if record is None:
            record = self.fixtures[key] = FixtureRecord(key, self.channels)
        return record

    def finish(self) -> list[float]:
        self._stack.clear()
        self.end = self.boundary(self.overhead, FINISH)
        return self.end

    def session_channels(self) -> list[float]:
        end = self.end if self.end is not None else self._last
        return [after - before for before, after in zip(self.start[1:], end[1:])]

    @property
    def session_duration(self) -> float:
        end = self.end if self.end is not None else self._last
        return end[0] - self.start[0]
