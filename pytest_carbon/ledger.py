"""Where the energy went: a timeline of meter readings, each interval owned by one account.

A boundary appends one reading and the account that owned the interval it closes, so the
intervals tile the session: the sum over all accounts equals the session total exactly
(up to float rounding). The sums per account are made when something asks for them (a
report, a budget, a listener), not while the tests run: a boundary costs two list appends.
(Plain lists, not arrays: appending to an array converts each float through the
argument parser, several times slower, and the floats in a list are not tracked by the
garbage collector.)

Account codes: phase p of test i is 3*i + p (>= 0). The session overhead and the shared
fixtures are "slots" with negative codes: part q of slot s is -2 - (5*s + q), so the
overhead (slot 0) has -2..-6 and fixtures -7 and below. PENDING (-1) owns the time after
one test's teardown and before the next test's setup report names it; that time becomes
the next test's setup, or overhead between tests if no test follows.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import add, ne, sub
from typing import NamedTuple, Protocol

PHASES = ("setup", "call", "teardown")
SETUP, CALL, TEARDOWN = 0, 1, 2
OVERHEAD_PARTS = ("startup", "collection", "between", "finish", "gc")
STARTUP, COLLECTION, BETWEEN, FINISH, GC = 0, 1, 2, 3, 4
FIXTURE_PARTS = ("setup", "teardown")
PENDING = -1
SLOT_PARTS = 5
FIRST_FIXTURE_CODE = -2 - SLOT_PARTS

Reading = Sequence[float]  # [perf_counter seconds, joules of each channel since start]
ReadErrorHandler = Callable[[BaseException, list[float]], tuple[Callable[[], Reading], Reading]]


class Recorder(Protocol):
    """A reader whose boundary only records counters (the function boundary() returns);
    flush() converts what it recorded, in order, into the list given to attach(). See
    meters/attribution.py."""

    def attach(self, sink: list[float]) -> None: ...

    def boundary(self) -> Callable[[], None]: ...

    def flush(self) -> None: ...


class EnergyRecord:
    """Energy per (part, channel) and seconds per part, in compact arrays."""

    __slots__ = ("energy", "durations", "channels")

    def __init__(self, parts: int, channels: int) -> None:
        self.channels = channels
        self.energy = array("d", bytes(8 * parts * channels))
        self.durations = array("d", bytes(8 * parts))

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


class Attempt(NamedTuple):
    """One run of a test that was run again (pytest-rerunfailures): its outcome and figures."""

    outcome: str
    duration_s: float
    energy_j: float


class TestNotes:
    """What a test's reports said besides its outcome: subtests, attempts."""

    __slots__ = ("subtests", "attempts")

    def __init__(self) -> None:
        self.subtests: dict[str, int] = {}  # subtest outcome -> count
        self.attempts: list[Attempt] = []  # every attempt, when the test was run again


class TestRecord(EnergyRecord):
    """One test's figures by phase, with its outcome and budget verdict."""

    __slots__ = ("nodeid", "pytest_location", "outcome", "verdict", "flags", "worker", "notes")

    def __init__(
        self, nodeid: str, channels: int, pytest_location: tuple[str, int | None, str] = ("", None, "")
    ) -> None:
        super().__init__(len(PHASES), channels)
        self.nodeid = nodeid
        self.pytest_location = pytest_location  # as pytest gives it: (path, 0-based line, domain)
        self.outcome = "unknown"
        self.verdict: object | None = None
        self.flags: tuple[str, ...] = ()
        self.worker: str | None = None  # pytest-xdist: the worker that ran it (on the controller)
        self.notes: TestNotes | None = None

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
    __slots__ = ("key", "setups", "slot")

    def __init__(self, key: FixtureKey, channels: int, slot: int = 0) -> None:
        super().__init__(len(FIXTURE_PARTS), channels)
        self.key = key
        self.setups = 0
        self.slot = slot


def slot_code(slot: int, part: int) -> int:
    return -2 - (SLOT_PARTS * slot + part)


class Ledger:
    """The session's timeline, and the accounts it is charged to."""

    def __init__(
        self,
        read: Callable[[], Reading],
        channels: int,
        on_read_error: ReadErrorHandler | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.read = read  # what a boundary reads: the meters, or their attributed share
        # Called when read() raises, with the error and the last reading; returns what to
        # read from then on and a reading for now. Without it the error propagates.
        self.on_read_error = on_read_error
        self.channels = channels
        self.width = channels + 1  # a reading: the time, then each channel
        self.start: list[float] = list(read())
        self._marks: list[float] = list(self.start)  # every reading, flattened (see marks)
        # With a recorder a boundary only records its counters; its readings reach _marks
        # when something asks for them (marks), converted in order.
        self._record: Callable[[], None] | None = None
        self._flush: Callable[[], None] | None = None
        if recorder is not None:
            recorder.attach(self._marks)
            self._record, self._flush = recorder.boundary(), recorder.flush
        self.owners: list[int] = []  # owners[j]: the account of the interval between readings j and j + 1
        self.code = slot_code(0, STARTUP)  # the account of the interval running now
        self.end: list[float] | None = None
        self._overhead = EnergyRecord(len(OVERHEAD_PARTS), channels)
        self._fixtures: dict[FixtureKey, FixtureRecord] = {}
        self.test_ids: list[str] = []
        self.test_locations: list[tuple[str, int | None, str]] = []
        self.outcomes: list[str] = []
        self.notes: dict[int, TestNotes] = {}  # only tests with subtests or attempts
        self._test_index: dict[str, int] = {}
        self._records: dict[int, TestRecord] = {}  # made on request; they keep verdicts and flags
        self._stack: list[int] = []
        self._pending_from: int | None = None  # first interval owned by PENDING, while one is open
        self._summed_at = -1  # len(owners) when the accounts were last summed
        self._columns: list[list[float]] = []

    # -- boundaries (while the session runs) -------------------------------------------

    def close(self, next_code: int) -> Reading | None:
        """Close the running interval (charged to its account); `next_code` owns the next one.
        Returns the reading taken, or None where a recorder took it (it reaches `marks`
        when they are asked for)."""
        now: Reading | None = None
        if self._record is not None:
            self._record()
        else:
            try:
                now = self.read()
            except Exception as error:
                if self.on_read_error is None:
                    raise
                self.read, now = self.on_read_error(error, self._marks[-self.width :])
            self._marks.extend(now)
        self.owners.append(self.code)
        self.code = next_code
        return now

    def enter_overhead(self, part: int) -> Reading | None:
        """Close the running interval; part `part` of the session overhead is next."""
        return self.close(slot_code(0, part))

    def push(self, record: FixtureRecord, part: int) -> None:
        """A shared fixture starts work inside whatever runs now; pop() returns to it."""
        self._interrupt(slot_code(record.slot, part))

    def push_overhead(self, part: int) -> None:
        """Part `part` of the session overhead interrupts whatever runs now (a full garbage
        collection); pop() returns to it."""
        self._interrupt(slot_code(0, part))

    def _interrupt(self, code: int) -> None:
        if self.code == PENDING and self._pending_from is None:
            self._pending_from = len(self.owners)
        self._stack.append(self.code)
        self.close(code)

    def pop(self) -> None:
        self.close(self._stack.pop() if self._stack else slot_code(0, BETWEEN))

    def test_starts(self) -> None:
        """Close the time since the last test as overhead between tests: where that time
        can be long (an xdist worker waiting for its next test), so the next test's setup
        does not take it in."""
        if self.code == PENDING:
            self.code = slot_code(0, BETWEEN)
            self.close(PENDING)

    def setup_ended(self, nodeid: str, location: tuple[str, int | None, str], passed: bool) -> int:
        """A test's setup report: its setup ends now. Returns the test's index."""
        index = self._test_index.get(nodeid)
        if index is None:
            index = self._test_index[nodeid] = len(self.test_ids)
            self.test_ids.append(nodeid)
            self.test_locations.append(location)
            self.outcomes.append("unknown")
        setup = 3 * index
        if self._pending_from is not None:
            self._claim_pending(setup)
        if self.code == PENDING:
            self.code = setup
        self.close(setup + CALL if passed else setup + TEARDOWN)
        return index

    def _claim_pending(self, code: int) -> None:
        owners = self.owners
        for j in range(self._pending_from or 0, len(owners)):
            if owners[j] == PENDING:
                owners[j] = code
        self._pending_from = None

    def finish(self) -> Reading:
        self._stack.clear()
        self.enter_overhead(FINISH)
        self.end = self.last
        return self.end

    # -- figures -----------------------------------------------------------------------

    @property
    def marks(self) -> list[float]:
        """Every reading, flattened: the time, then each channel's joules."""
        if self._flush is not None:
            self._flush()
        return self._marks

    @property
    def last(self) -> list[float]:
        return list(self.marks[-self.width :])

    def session_channels(self) -> list[float]:
        end = self.end if self.end is not None else self.last
        return [after - before for before, after in zip(self.start[1:], end[1:])]

    @property
    def session_duration(self) -> float:
        end = self.end if self.end is not None else self.last
        return end[0] - self.start[0]

    def _column_sums(self) -> list[list[float]]:
        """Per column (time, then each channel): the sum over each account's intervals,
        indexed by account code. Negative codes index from the end, as Python does.

        Tests that run one after another own consecutive codes (3i, 3i+1, 3i+2, 3i+3...),
        so the timeline splits into a few runs of consecutive codes, each added as one
        slice; only the intervals outside such runs are added one by one."""
        width = self.width
        marks = self.marks
        owners = self.owners
        count = len(owners)
        size = 3 * len(self.test_ids) + SLOT_PARTS * (1 + len(self._fixtures)) + 1
        steps = map(sub, owners[1:], owners[:-1])
        breaks = list(compress(range(1, count), map(ne, steps, repeat(1))))
        runs = list(zip([0, *breaks], [*breaks, count])) if count else []
        columns = []
        for k in range(width):
            readings = marks[k::width]
            deltas = list(map(sub, readings[1:], readings[:-1]))
            sums = [0.0] * size
            for start, stop in runs:
                first = owners[start]
                if first >= 0:  # test phases: codes first .. first + length - 1
                    end = first + stop - start
                    sums[first:end] = map(add, sums[first:end], deltas[start:stop])
                else:
                    for j in range(start, stop):
                        sums[owners[j]] += deltas[j]
            sums[slot_code(0, BETWEEN)] += sums[PENDING]  # time no test claimed
            columns.append(sums)
        return columns

    def _sum_accounts(self) -> list[list[float]] | None:
        """Bring the overhead and fixture records up to date; the column sums for tests."""
        if self._summed_at == len(self.owners):
            return None
        columns = self._column_sums()
        self._summed_at = len(self.owners)
        self._fill(self._overhead, columns, [slot_code(0, p) for p in range(len(OVERHEAD_PARTS))])
        for fixture in self._fixtures.values():
            self._fill(fixture, columns, [slot_code(fixture.slot, p) for p in range(len(FIXTURE_PARTS))])
        for index, record in self._records.items():
            self._fill(record, columns, [3 * index + p for p in range(len(PHASES))])
            record.outcome = self.outcomes[index]
            record.notes = self.notes.get(index)
        self._columns = columns
        return columns

    def _fill(self, record: EnergyRecord, columns: list[list[float]], codes: list[int]) -> None:
        channels = self.channels
        for part, code in enumerate(codes):
            record.durations[part] = columns[0][code]
            for c in range(channels):
                record.energy[part * channels + c] = columns[c + 1][code]

    def record(self, index: int) -> TestRecord:
        """Test `index` as a record, summed over the whole timeline so far."""
        self._sum_accounts()
        record = self._records.get(index)
        if record is None:
            record = self._records[index] = TestRecord(self.test_ids[index], self.channels, self.test_locations[index])
            self._fill(record, self._columns, [3 * index + p for p in range(len(PHASES))])
        record.outcome = self.outcomes[index]
        record.notes = self.notes.get(index)
        return record

    def running_record(self, index: int) -> TestRecord:
        """Test `index` as a record, summed over its latest stretch of the timeline (back
        to the test or overhead before it): what a listener or budget needs while tests
        run, without summing the whole timeline. A rerun straight after adds to it."""
        record = self._records.get(index)
        if record is None:
            record = self._records[index] = TestRecord(self.test_ids[index], self.channels, self.test_locations[index])
        else:
            record.energy = array("d", bytes(8 * len(record.energy)))
            record.durations = array("d", bytes(8 * len(record.durations)))
        self._sum_stretch(record, index, 0)
        record.outcome = self.outcomes[index]
        record.notes = self.notes.get(index)
        self._summed_at = -1  # the whole-timeline sums must be made again
        return record

    def attempt_record(self, index: int, since: int) -> TestRecord:
        """Test `index` summed over the intervals from `since` (a length of `owners`) on:
        one attempt of a test that is run again. Not kept."""
        record = TestRecord(self.test_ids[index], self.channels, self.test_locations[index])
        self._sum_stretch(record, index, since)
        return record

    def _sum_stretch(self, record: TestRecord, index: int, since: int) -> None:
        width = self.width
        marks = self.marks
        owners = self.owners
        first = 3 * index
        channels = self.channels
        j = len(owners) - 1
        while j >= since:
            code = owners[j]
            if first <= code < first + 3:
                phase = code - first
                at = j * width
                record.durations[phase] += marks[at + width] - marks[at]
                for c in range(channels):
                    record.energy[phase * channels + c] += marks[at + width + 1 + c] - marks[at + 1 + c]
            elif code > FIRST_FIXTURE_CODE:  # another test, or overhead: the run began after it
                break
            j -= 1

    def notes_of(self, index: int) -> TestNotes:
        found = self.notes.get(index)
        if found is None:
            found = self.notes[index] = TestNotes()
        return found

    @property
    def tests(self) -> dict[str, TestRecord]:
        """Every test as a record (made on request: the run itself keeps only the timeline)."""
        self._sum_accounts()
        return {self.test_ids[i]: self.record(i) for i in range(len(self.test_ids))}

    def test_totals(self) -> tuple[list[float], list[float]]:
        """Per test index: energy (all phases and channels) and duration, without making records."""
        columns = self._sum_accounts() or self._columns
        count = 3 * len(self.test_ids)

        def per_test(column: list[float]) -> list[float]:
            return list(map(add, map(add, column[0:count:3], column[1:count:3]), column[2:count:3]))

        durations = per_test(columns[0])
        energies = [0.0] * len(self.test_ids)
        for column in columns[1:]:
            energies = list(map(add, energies, per_test(column)))
        return energies, durations

    def index_of(self, nodeid: str) -> int | None:
        """The index of a test that has reached its setup report."""
        return self._test_index.get(nodeid)

    def records_with_verdicts(self) -> list[int]:
        return [index for index, record in self._records.items() if record.verdict is not None]

    @property
    def overhead(self) -> EnergyRecord:
        """Start-up, collection, between tests and finish, summed over the timeline so far."""
        self._sum_accounts()
        return self._overhead

    @property
    def fixtures(self) -> dict[FixtureKey, FixtureRecord]:
        """The shared fixtures, summed over the timeline so far."""
        self._sum_accounts()
        return self._fixtures

    def fixture(self, key: FixtureKey) -> FixtureRecord:
        """The account of a shared fixture (its figures are summed on request)."""
        record = self._fixtures.get(key)
        if record is None:
            record = self._fixtures[key] = FixtureRecord(key, self.channels, slot=len(self._fixtures) + 1)
        return record

    def clear(self) -> None:
        """Let go of the per-test data."""
        self._records.clear()
        self._fixtures.clear()
        self.test_ids.clear()
        self.test_locations.clear()
        self.outcomes.clear()
        self.notes.clear()
        self._test_index.clear()
