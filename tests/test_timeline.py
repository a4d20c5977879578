"""The ledger's timeline on its own, with a scripted clock: which account each interval
is charged to, and that the sums made on request match what was charged."""

from __future__ import annotations

import pytest

from pytest_carbon.ledger import (
    BETWEEN,
    COLLECTION,
    FINISH,
    OVERHEAD_PARTS,
    PENDING,
    SLOT_PARTS,
    TEARDOWN,
    FixtureKey,
    Ledger,
)


class Clock:
    """One channel that gains 1 J per step, so energy equals elapsed steps."""

    def __init__(self) -> None:
        self.t = 0.0

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def read(self) -> list[float]:
        return [self.t, self.t * 10.0]


def run_test(ledger: Ledger, clock: Clock, nodeid: str, setup: float, call: float, teardown: float) -> int:
    clock.advance(setup)
    index = ledger.setup_ended(nodeid, (nodeid.split("::")[0], 0, nodeid), passed=True)
    clock.advance(call)
    ledger.close(3 * index + TEARDOWN)
    clock.advance(teardown)
    ledger.close(PENDING)
    return index


def test_phases_overhead_and_fixtures_tile_the_session() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    clock.advance(1)
    ledger.enter_overhead(COLLECTION)
    clock.advance(2)
    ledger.close(PENDING)
    first = run_test(ledger, clock, "t.py::a", 0.5, 3, 0.25)
    # the second test's setup starts a session fixture before its setup report names it
    clock.advance(0.125)
    fixture = ledger.fixture(FixtureKey("model", "session", ""))
    ledger.push(fixture, 0)
    clock.advance(40)
    ledger.pop()
    clock.advance(0.375)
    second = ledger.setup_ended("t.py::b", ("t.py", 5, "b"), passed=False)  # setup failed: no call
    clock.advance(1)
    ledger.close(PENDING)
    clock.advance(4)
    ledger.enter_overhead(FINISH)
    ledger.finish()

    a, b = ledger.record(first), ledger.record(second)
    assert list(a.durations) == [0.5, 3, 0.25]  # from the end of collection to its setup report, then call, teardown
    assert list(b.durations) == [0.5, 0, 1]  # the time around the fixture, nothing in the call
    assert list(b.energy) == [5.0, 0.0, 10.0]
    assert fixture is ledger.fixtures[fixture.key]
    assert list(fixture.durations) == [40, 0]
    overhead = ledger.overhead
    assert list(overhead.durations[: COLLECTION + 1]) == [1, 2]  # start-up, collection
    assert overhead.durations[BETWEEN] == 4  # after the last test, nothing claimed it
    total = sum(r.total_duration for r in (a, b, fixture, overhead))
    assert total == pytest.approx(ledger.session_duration)
    assert sum(r.total_energy for r in (a, b, fixture, overhead)) == pytest.approx(sum(ledger.session_channels()))


def test_totals_without_records_match_the_records() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    ledger.close(PENDING)
    for i in range(5):
        run_test(ledger, clock, f"t.py::test_{i}", 0.1 * i, 1 + i, 0.5)
    energies, durations = ledger.test_totals()
    assert durations == pytest.approx([ledger.record(i).total_duration for i in range(5)])
    assert energies == pytest.approx([ledger.record(i).total_energy for i in range(5)])
    assert durations[3] == pytest.approx(0.3 + 4 + 0.5)


def test_a_rerun_adds_to_the_same_test() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    ledger.close(PENDING)
    index = run_test(ledger, clock, "t.py::flaky", 1, 2, 1)
    assert run_test(ledger, clock, "t.py::flaky", 1, 5, 1) == index
    assert ledger.running_record(index).total_duration == pytest.approx(11)
    assert ledger.record(index).total_duration == pytest.approx(11)
    assert list(ledger.tests) == ["t.py::flaky"]


def test_the_running_record_stops_at_the_test_before() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    ledger.close(PENDING)
    run_test(ledger, clock, "t.py::a", 1, 2, 1)
    fixture = ledger.fixture(FixtureKey("db", "module", "t.py"))
    clock.advance(1)
    ledger.push(fixture, 0)  # inside b's setup
    clock.advance(10)
    ledger.pop()
    index = run_test(ledger, clock, "t.py::b", 1, 2, 3)
    record = ledger.running_record(index)
    assert list(record.durations) == [2, 2, 3]  # the fixture's 10 s are not the test's
    assert list(record.energy) == [20, 20, 30]


def test_records_keep_verdicts_and_flags_when_the_sums_are_made_again() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    ledger.close(PENDING)
    index = run_test(ledger, clock, "t.py::a", 1, 1, 1)
    record = ledger.running_record(index)
    record.flags = ("gpu-interpolated",)
    record.verdict = "over"
    run_test(ledger, clock, "t.py::b", 1, 1, 1)
    again = ledger.tests["t.py::a"]
    assert again is record and again.flags == ("gpu-interpolated",)
    assert ledger.records_with_verdicts() == [index]
    ledger.outcomes[index] = "failed"
    assert ledger.record(index).outcome == "failed"


def test_sums_match_a_plain_interval_by_interval_sum_over_random_timelines() -> None:
    import random

    for seed in range(20):
        rng = random.Random(seed)
        clock = Clock()
        ledger = Ledger(clock.read, 1)
        fixtures = [ledger.fixture(FixtureKey(f"f{i}", "module", "")) for i in range(3)]
        depth = 0
        for _ in range(200):
            clock.advance(rng.choice([0.5, 1, 2, 3]))
            action = rng.random()
            if action < 0.3:
                ledger.setup_ended(f"t.py::test_{rng.randrange(12)}", ("t.py", 0, ""), passed=rng.random() < 0.8)
            elif action < 0.5 and ledger.test_ids:
                index = rng.randrange(len(ledger.test_ids))
                ledger.close(3 * index + rng.choice([1, 2]))
            elif action < 0.6:
                ledger.close(PENDING)
            elif action < 0.75:
                ledger.push(rng.choice(fixtures), rng.randrange(2))
                depth += 1
            elif action < 0.9 and depth:
                ledger.pop()
                depth -= 1
            else:
                ledger.enter_overhead(rng.randrange(4))
        ledger.finish()
        expected: dict[int, float] = {}
        for j, code in enumerate(ledger.owners):
            code = code if code != PENDING else -2 - BETWEEN
            expected[code] = expected.get(code, 0.0) + ledger.marks[2 * j + 2] - ledger.marks[2 * j]
        for index in range(len(ledger.test_ids)):
            got = list(ledger.record(index).durations)
            assert got == pytest.approx([expected.get(3 * index + p, 0.0) for p in range(3)]), seed
        for fixture in fixtures:
            want = [expected.get(-2 - SLOT_PARTS * fixture.slot - p, 0.0) for p in range(2)]
            assert list(ledger.fixtures[fixture.key].durations) == pytest.approx(want), seed
        assert list(ledger.overhead.durations) == pytest.approx(
            [expected.get(-2 - p, 0.0) for p in range(len(OVERHEAD_PARTS))]
        ), seed


def test_a_reading_at_the_test_start_keeps_the_wait_before_it_out_of_its_setup() -> None:
    clock = Clock()
    ledger = Ledger(clock.read, 1)
    ledger.close(PENDING)
    run_test(ledger, clock, "t.py::a", 1, 1, 1)
    clock.advance(30)  # an xdist worker waiting for its next test
    ledger.test_starts()
    index = run_test(ledger, clock, "t.py::b", 2, 1, 1)
    assert list(ledger.record(index).durations) == [2, 1, 1]
    assert ledger.overhead.durations[BETWEEN] == 30
