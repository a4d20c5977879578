"""What a run is charged, on recorded timelines: a fake clock, fake counters, fake CPU time."""

from __future__ import annotations

import math

import pytest

from pytest_carbon.meters.attribution import CARRY_S, Attributor
from pytest_carbon.meters.base import Channel, Meter

VCPUS = 2
IDLE_W = 2 * 0.5  # the machine's idle draw: two vCPUs at 0.5 W
DYNAMIC_W = 1.5  # per busy CPU-second
MAX_W = VCPUS * (0.5 + DYNAMIC_W)


class ModelMeter(Meter):
    """An estimate-like CPU channel: static power known, maximum power known."""

    name = "model"
    channels = (Channel("model", "cpu", "cpu"),)

    def static_power_w(self):
        return (IDLE_W,)

    def max_power_w(self):
        return (MAX_W,)


class CounterMeter(Meter):
    """A measured counter (RAPL-like): idle power inferred from the lowest power seen."""

    name = "counter"
    measured = True
    channels = (Channel("counter", "package-0", "cpu"),)


class Timeline:
    """A machine on a hand-moved clock: CPU seconds of the run and of its neighbours, and
    the energy a CPU-power model gives for them."""

    def __init__(self) -> None:
        self.in_use = 0.0
        self.t = 100.0
        self.run_cpu = 0.0
        self.neighbour_cpu = 0.0
        self.energy = 0.0

    def step(self, seconds: float, run_busy: float, neighbour_busy: float = 0.0) -> None:
        self.t += seconds
        self.run_cpu += run_busy
        self.neighbour_cpu += neighbour_busy
        self.energy += IDLE_W * seconds + DYNAMIC_W * (run_busy + neighbour_busy)

    def read(self) -> list[float]:
        return [self.t, self.energy]


class FakeTree:
    """The run's process tree: its CPU seconds (all of it this process's), re-read at
    every boundary."""

    rss_bytes = 0.0
    next_refresh = -math.inf

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.own_cpu = self  # this process's CPU seconds: at(now)
        self.last_t = math.nan  # never the instant asked about: read at every boundary

    def at(self, now: float) -> float:
        return self.timeline.run_cpu

    def rest(self, now: float) -> float:
        return 0.0

    def close(self) -> None:
        pass


class FakeMachine:
    """The rest of the machine: the neighbours' CPU seconds."""

    next_refresh = -math.inf

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def others_at(self, now: float) -> float:
        return self.timeline.neighbour_cpu


def attributor(timeline: Timeline, meter: Meter | None = None) -> Attributor:
    return Attributor(
        timeline.read,
        [meter or ModelMeter()],
        VCPUS,
        None,
        True,
        tree=FakeTree(timeline),  # type: ignore[arg-type]
        machine_cpu=FakeMachine(timeline),  # type: ignore[arg-type]
    )


def charge_of_fixed_work(neighbour: float) -> float:
    """0.3 CPU-s of work; a neighbour busy `neighbour` of a vCPU stretches the wall time."""
    timeline = Timeline()
    charged = attributor(timeline)
    start = charged.read()[1]
    # The run gets what the neighbour leaves of two vCPUs (one at most).
    speed = min(1.0, VCPUS - neighbour)
    for _ in range(30):
        timeline.step(0.01 / speed, run_busy=0.01, neighbour_busy=neighbour * 0.01 / speed)
        charged.read()
    return charged.read()[1] - start


@pytest.mark.parametrize("neighbour", [0.0, 0.5, 1.0, 1.5])
def test_a_neighbours_busy_time_does_not_change_the_runs_charge(neighbour):
    quiet = charge_of_fixed_work(0.0)
    # static per CPU-second used (0.5 W a vCPU) + dynamic for each CPU-second
    assert quiet == pytest.approx(0.3 * (IDLE_W / VCPUS + DYNAMIC_W))
    assert charge_of_fixed_work(neighbour) == pytest.approx(quiet)


def test_machine_scope_charges_everything_the_machine_used():
    timeline = Timeline()
    charged = Attributor(timeline.read, [ModelMeter()], VCPUS, None, True, process=False)
    timeline.step(1.0, run_busy=0.2, neighbour_busy=1.0)
    assert charged.read()[1] == pytest.approx(IDLE_W + DYNAMIC_W * 1.2)
    assert charged.machine_totals() == pytest.approx([IDLE_W + DYNAMIC_W * 1.2])


def test_waiting_costs_nothing_and_the_rest_stays_with_the_machine():
    timeline = Timeline()
    charged = attributor(timeline)
    timeline.step(2.0, run_busy=0.0, neighbour_busy=1.0)  # the run sleeps
    assert charged.read()[1] == pytest.approx(0.0)
    assert charged.machine_totals()[0] == pytest.approx(IDLE_W * 2 + DYNAMIC_W)


def tick_then_quiet(timeline: Timeline, charged: Attributor) -> list[tuple[float, float]]:
    """A 10 ms CPU tick in a 0.5 ms interval, then quiet 2 ms intervals: each interval's
    (seconds, charged joules)."""
    last = charged.read()
    timeline.step(0.0005, run_busy=0.01)
    figures = []
    for _ in range(6):
        now = charged.read()
        figures.append((now[0] - last[0], now[1] - last[1]))
        last = now
        timeline.step(0.002, run_busy=0.0)
    return figures


def test_no_interval_is_charged_more_than_the_maximum_power_and_nothing_is_lost():
    timeline = Timeline()
    charged = attributor(timeline)
    # A 10 ms CPU tick of a child lands in a 0.5 ms interval, then quiet intervals follow.
    figures = tick_then_quiet(timeline, charged)
    for seconds, joules in figures:
        assert 0 <= joules <= MAX_W * seconds + 1e-12
    total = sum(joules for _, joules in figures)
    assert total == pytest.approx(0.01 * (IDLE_W / VCPUS + DYNAMIC_W))
    assert charged.warnings() == []


def test_what_cannot_be_placed_is_reported_not_charged():
    timeline = Timeline()
    charged = attributor(timeline)
    start = charged.read()[1]
    timeline.step(0.001, run_busy=5.0)  # impossible: 5 CPU-s in 1 ms
    charged.read()
    timeline.step(1.0, run_busy=0.0)
    end = charged.read()[1]
    assert end - start <= MAX_W * (0.001 + CARRY_S) + MAX_W * 0.001 + 1e-9
    assert any("could not be placed" in warning for warning in charged.warnings())


def test_machine_scope_holds_the_maximum_power_too_and_carries_the_excess():
    timeline = Timeline()
    charged = Attributor(timeline.read, [ModelMeter()], VCPUS, None, True, process=False)
    figures = tick_then_quiet(timeline, charged)  # a tick's worth of energy in a 0.5 ms interval
    for seconds, joules in figures:
        assert 0 <= joules <= MAX_W * seconds + 1e-12
    assert figures[0][1] == pytest.approx(MAX_W * 0.0005)
    assert figures[1][1] == pytest.approx(MAX_W * 0.002)  # what waited, up to the room
    assert sum(joules for _, joules in figures) == pytest.approx(timeline.energy - IDLE_W * 0.002)
    assert charged.warnings() == []
    charged.read()
    timeline.step(0.001, run_busy=5.0)  # impossible: 5 CPU-s in 1 ms
    before = charged.read()[1]
    timeline.step(1.0, run_busy=0.0)
    assert charged.read()[1] - before == pytest.approx(IDLE_W * 1.0 + MAX_W * CARRY_S)  # what waited
    assert sum(charged.dropped_j) == pytest.approx(DYNAMIC_W * 5.0 + IDLE_W * 0.001 - MAX_W * (0.001 + CARRY_S))
    assert any("could not be placed" in warning for warning in charged.warnings())


def wind_the_clock_back(timeline: Timeline) -> None:
    timeline.t -= 5.0


def wind_the_counter_back(timeline: Timeline) -> None:
    timeline.energy -= 50.0
    timeline.t += 0.1


@pytest.mark.parametrize("wind_back", [wind_the_clock_back, wind_the_counter_back])
def test_a_clock_or_counter_that_runs_backwards_is_reported_and_not_charged(wind_back):
    timeline = Timeline()
    charged = attributor(timeline)
    first = charged.read()
    wind_back(timeline)
    second = charged.read()
    assert second[0] >= first[0] and second[1] == first[1]
    assert any("ran backwards" in warning for warning in charged.warnings())


def test_a_measured_counters_idle_power_is_the_lowest_seen_and_is_shared_per_cpu_second():
    timeline = Timeline()
    charged = attributor(timeline, CounterMeter())
    assert math.isinf(charged.static_w[0])  # nothing seen yet: all of it is dynamic
    for _ in range(10):  # one quiet second: the machine idles at IDLE_W
        timeline.step(0.1, run_busy=0.0)
        charged.read()
    assert charged.static_w[0] == pytest.approx(IDLE_W)
    before = charged.read()[1]
    timeline.step(1.0, run_busy=0.5, neighbour_busy=1.0)
    after = charged.read()[1]
    # a vCPU's idle share per CPU-second, plus the run's third of the dynamic energy
    assert after - before == pytest.approx(0.5 * IDLE_W / VCPUS + DYNAMIC_W * 1.5 * 0.5 / 1.5)


class MemoryMeter(Meter):
    """An estimate-like memory term: 0.4 W per GB in use on the machine."""

    name = "memory"
    channels = (Channel("memory", "memory", "memory"),)

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def static_power_w(self):
        return (math.inf,)

    def held_bytes(self):
        return self.timeline.in_use


def test_memory_is_charged_for_what_the_run_holds_not_what_neighbours_hold():
    timeline = Timeline()
    timeline.in_use = 4e9
    tree = FakeTree(timeline)
    tree.rss_bytes = 1e9
    meter = MemoryMeter(timeline)
    charged = Attributor(
        lambda: [timeline.t, timeline.energy], [meter], VCPUS, None, True, tree=tree, machine_cpu=FakeMachine(timeline)
    )
    start = charged.read()[1]
    for in_use in (4e9, 16e9):  # a neighbour takes 12 GB more
        timeline.in_use = in_use
        before = charged.read()[1]
        timeline.t += 1.0
        timeline.energy += 0.4 * in_use / 1e9
        assert charged.read()[1] - before == pytest.approx(0.4 * 1.0)  # 1 GB for 1 s
    assert charged.read()[1] - start == pytest.approx(0.8)


class Script:
    """A fixed, irregular run replayed on demand: readings of three channels (a measured
    counter, a CPU model with a maximum power, memory held), the run's and the
    neighbours' CPU time and memory, with a clock and a counter that go backwards once
    and bursts above the maximum power."""

    def __init__(self) -> None:
        import random

        rng = random.Random(7)
        self.steps = []
        t, counter, model, memory, run, rest, others = 100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        for k in range(400):
            dt = rng.choice([1e-5, 2e-4, 0.003, 0.02, 0.3])
            t += -0.01 if k == 50 else dt
            busy = dt * rng.random()
            run += busy
            rest += rng.choice([0.0, 0.0, 0.01])  # tick-granular descendants
            others += dt * rng.random()
            counter += -1.0 if k == 120 else rng.random() * 5 * dt
            model += IDLE_W * dt + DYNAMIC_W * busy + (5.0 if k % 97 == 3 else 0.0)
            memory += 0.4 * dt * rng.choice([1, 4])
            self.steps.append(([t, counter, model, memory], run, rest, others, rng.choice([1e9, 2e9]), 4e9))
        self.at = 0

    @property
    def step(self):
        return self.steps[min(self.at, len(self.steps) - 1)]

    def read(self) -> list[float]:
        self.at += 1
        return list(self.step[0])


class ScriptTree:
    next_refresh = -math.inf

    def __init__(self, script: Script) -> None:
        self.script = script
        self.own_cpu = self  # this process's CPU seconds: at(now)
        self.last_t = math.nan  # never the instant asked about: read at every boundary

    @property
    def rss_bytes(self) -> float:
        return self.script.step[4]

    def at(self, now: float) -> float:
        return self.script.step[1]

    def rest(self, now: float) -> float:
        return self.script.step[2]

    def close(self) -> None:
        pass


class ScriptMachine:
    next_refresh = -math.inf

    def __init__(self, script: Script) -> None:
        self.script = script

    def others_at(self, now: float) -> float:
        return self.script.step[3]


class ScriptMemory(MemoryMeter):
    def __init__(self, script: Script) -> None:
        self.script = script

    def held_bytes(self):
        return self.script.step[5]


def scripted(process: bool) -> tuple[Script, Attributor]:
    script = Script()
    meters = [CounterMeter(), ModelMeter(), ScriptMemory(script)]
    attributor = Attributor(
        script.read,
        meters,
        VCPUS,
        None,
        True,
        process=process,
        tree=ScriptTree(script) if process else None,  # type: ignore[arg-type]
        machine_cpu=ScriptMachine(script),  # type: ignore[arg-type]
    )
    return script, attributor


@pytest.mark.parametrize("process", [True, False], ids=["process", "machine"])
def test_a_timeline_that_records_at_boundaries_gets_the_figures_of_reading_at_each(process):
    from pytest_carbon.ledger import PENDING, Ledger

    _, eager = scripted(process)
    expected = eager.read()
    for _ in range(350):
        expected += eager.read()

    _, deferred = scripted(process)
    assert deferred.defers
    ledger = Ledger(deferred.read, 3, recorder=deferred)  # reading 0
    inside = []
    timeline = expected[:4]
    for k in range(1, 351):
        reading = expected[4 * k : 4 * k + 4]
        if k % 50 == 10:  # a measurement inside a test reads between boundaries
            assert deferred.read() == reading
            inside.append(k)
            continue
        ledger.close(PENDING)
        timeline += reading
        if k == 200:  # a budget or listener asks for figures halfway
            assert ledger.marks == timeline
    assert ledger.marks == timeline
    assert len(inside) == 7
    assert deferred.warnings() == eager.warnings() != []
    assert deferred.machine_totals() == eager.machine_totals()
    assert deferred.dropped_j == eager.dropped_j
    assert deferred.static_w == eager.static_w
    assert deferred.mean_power_by_meter(
        [CounterMeter(), ModelMeter(), MemoryMeter(Timeline())]
    ) == eager.mean_power_by_meter([CounterMeter(), ModelMeter(), MemoryMeter(Timeline())])
    if process:
        assert deferred.joules_per_cpu_second() == eager.joules_per_cpu_second()
        assert deferred.run_cpu_s == eager.run_cpu_s > 0
