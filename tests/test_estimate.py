"""The estimate meter: CPU model recognition, power table, and energy from CPU time."""

from __future__ import annotations

import json
import os

import pytest

from pytest_carbon.meters import estimate
from pytest_carbon.meters.clocks import CLOCKS, Clocks
from pytest_carbon.meters.cpuinfo import CpuInfo, cgroup_cpu_quota, microarchitecture, read_cpuinfo
from pytest_carbon.meters.cputime import MachineCpuTime, OwnCpuTime
from pytest_carbon.meters.estimate import EstimateMeter, cpu_power_model

BASE = CpuInfo("", "", None, None, None, 2, "test")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AMD EPYC 7763 64-Core Processor", "EPYC 3rd Gen"),
        ("AMD EPYC 7R32", "EPYC 2nd Gen"),
        ("AMD EPYC 7571", "EPYC 1st Gen"),
        ("AMD EPYC 9R14 96-Core Processor", "EPYC 4th Gen"),
        ("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "Skylake"),
        ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", "Cascade Lake"),
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Ice Lake"),
        ("Intel(R) Xeon(R) Platinum 8488C", "Sapphire Rapids"),
        ("Intel(R) Xeon(R) Gold 6548Y+", "Emerald Rapids"),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Broadwell"),
        ("Intel(R) Xeon(R) CPU E5-2666 v3 @ 2.90GHz", "Haswell"),
        ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", None),
    ],
)
def test_microarchitecture_from_model_name(name, expected):
    assert microarchitecture(BASE._replace(model_name=name))[0] == expected


@pytest.mark.parametrize(
    ("vendor", "family", "model", "stepping", "expected"),
    [
        ("AuthenticAMD", 25, 17, 1, "EPYC 4th Gen"),
        ("AuthenticAMD", 25, 1, 1, "EPYC 3rd Gen"),
        ("AuthenticAMD", 23, 49, 0, "EPYC 2nd Gen"),
        ("GenuineIntel", 6, 85, 4, "Skylake"),
        ("GenuineIntel", 6, 85, 7, "Cascade Lake"),
        ("GenuineIntel", 6, 106, 6, "Ice Lake"),
        ("GenuineIntel", 6, 143, 8, "Sapphire Rapids"),
        ("GenuineIntel", 6, 158, 10, None),
    ],
)
def test_microarchitecture_from_family_and_model_when_the_name_hides_it(vendor, family, model, stepping, expected):
    cpu = BASE._replace(
        model_name="Intel(R) Xeon(R) CPU @ 2.20GHz", vendor=vendor, family=family, model=model, stepping=stepping
    )
    assert microarchitecture(cpu)[0] == expected


def test_power_model_uses_the_table_row_and_labels_fallbacks():
    known = cpu_power_model(BASE._replace(model_name="AMD EPYC 7763"))
    assert (known.row, known.min_w, known.max_w, known.fallback) == ("EPYC 3rd Gen", 0.456, 1.957, False)
    epyc = cpu_power_model(BASE._replace(model_name="AMD EPYC"))
    assert epyc.fallback and "generation unknown" in epyc.row
    assert 0.45 < epyc.min_w < 0.85 and 1.69 < epyc.max_w < 2.61  # within the EPYC rows it averages
    unknown = cpu_power_model(BASE._replace(model_name="Some Laptop CPU"))
    assert unknown.fallback and (unknown.min_w, unknown.max_w) == (0.74, 3.5)
    assert "fallback" in unknown.describe()


def test_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) is None
    assert cgroup_cpu_quota(str(tmp_path / "absent")) is None


def test_estimate_follows_the_cpu_power_model(monkeypatch):
    clocks = FakeClocks()
    others = [0.0]  # busy CPU-seconds of the machine's other processes
    monkeypatch.setattr(MachineCpuTime, "_others_now", lambda self: others[0])
    monkeypatch.setattr(estimate, "shared_machine_cpu_time", MachineCpuTime)
    meter = EstimateMeter(
        frozenset({"cpu"}), cpu=BASE._replace(model_name="AMD EPYC 7763", vcpus=2), clocks=clocks.clocks()
    )
    meter.start()
    try:
        (before,) = meter.read()
        clocks.advance(0.2, busy=0.0)
        (idle,) = meter.read()
        clocks.advance(0.3, busy=0.3)
        (busy,) = meter.read()
        clocks.advance(0.1, busy=0.0)
        others[0] += 0.15
        (shared,) = meter.read()
    finally:
        meter.close()
    floor = 2 * 0.456  # watts the two vCPUs draw idle
    # Idle: the floor for the interval.
    assert idle - before == pytest.approx(floor * 0.2)
    # Busy: the floor plus (max - min) for every CPU-second this process spent.
    assert busy - idle == pytest.approx(floor * 0.3 + (1.957 - 0.456) * 0.3)
    # The machine's other processes count too.
    assert shared - busy == pytest.approx(floor * 0.1 + (1.957 - 0.456) * 0.15)


class FakeClocks:
    """The wall clock and this process's CPU time as the estimate meter sees them."""

    def clocks(self) -> Clocks:
        return Clocks(lambda: self.t, self.process_time, os.times, CLOCKS.wall)

    def __init__(self) -> None:
        self.t = 1000.0
        self.cpu = 5.0
        self.cpu_reads = 0

    def process_time(self) -> float:
        self.cpu_reads += 1
        return self.cpu

    def advance(self, seconds: float, busy: float) -> None:
        self.t += seconds
        self.cpu += busy


def test_own_cpu_time_is_read_at_most_once_per_gap(monkeypatch):
    clocks = FakeClocks()
    monkeypatch.setattr(MachineCpuTime, "refresh_s", 1e9)  # hold the other processes' share
    monkeypatch.setattr(estimate, "shared_machine_cpu_time", MachineCpuTime)
    meter = EstimateMeter(
        frozenset({"cpu"}), cpu=BASE._replace(model_name="AMD EPYC 7763", vcpus=2), clocks=clocks.clocks()
    )
    assert meter.own_cpu.read_gap_s == 0.001
    meter.start()
    idle_w = meter.model.vcpus * meter.model.min_w
    dynamic_w = meter.model.max_w - meter.model.min_w
    (last_j,) = meter.read()
    last_t = clocks.t
    counted = clocks.cpu

    def step(seconds: float, busy: float) -> float:
        """Advance, read, and return the CPU seconds the meter counted in between."""
        nonlocal last_j, last_t, counted
        clocks.advance(seconds, busy)
        (joules,) = meter.read()
        assert joules >= last_j  # cumulative: never decreases
        own = (joules - last_j - idle_w * (clocks.t - last_t)) / dynamic_w
        last_j, last_t = joules, clocks.t
        counted += own
        # Never ahead of the real CPU time by more than the gap.
        assert counted <= clocks.cpu + meter.own_cpu.read_gap_s + 1e-9
        return own

    try:
        reads = clocks.cpu_reads
        assert step(0.0004, busy=0.0004) == pytest.approx(0.0004)  # counted busy, not read
        assert clocks.cpu_reads == reads
        assert step(0.0004, busy=0.0) == pytest.approx(0.0004)  # idle, but not read yet
        assert clocks.cpu_reads == reads
        assert step(0.0004, busy=0.0) == pytest.approx(0.0, abs=1e-12)  # read: held, not taken back
        assert clocks.cpu_reads == reads + 1
        # Counted busy from the real reading, not from the figure held above it.
        assert step(0.0005, busy=0.0) == pytest.approx(0.0001)
        assert clocks.cpu_reads == reads + 1
        # The next real read evens it out: the total matches the real CPU time again.
        step(0.002, busy=0.001)
        assert clocks.cpu_reads == reads + 2
        assert counted == pytest.approx(clocks.cpu)
        # Idle readings further apart than the gap are all read, and count nothing.
        for _ in range(3):
            assert step(0.0015, busy=0.0) == pytest.approx(0.0, abs=1e-12)
        assert clocks.cpu_reads == reads + 5
    finally:
        meter.close()


def test_own_cpu_time_asked_about_an_earlier_instant_is_read_again():
    """Counted busy only forward from a real read: a reader that once asked about a later
    instant (a refresh forced ahead) must not hold the figure still until then."""
    clocks = FakeClocks()
    own = OwnCpuTime(clocks.process_time)
    own.at(clocks.t + 1e6)
    clocks.advance(0.5, busy=0.5)
    assert own.at(clocks.t) == pytest.approx(clocks.cpu)
    clocks.advance(0.5, busy=0.25)
    assert own.at(clocks.t) == pytest.approx(clocks.cpu)


def memory_meter(monkeypatch, clocks, in_use):
    monkeypatch.setattr(estimate, "memory_in_use_bytes", lambda: in_use[0] * 1e9)
    meter = EstimateMeter(frozenset({"memory"}), cpu=BASE, clocks=clocks.clocks())
    meter.start()
    return meter


def test_memory_is_integrated_through_a_long_interval(monkeypatch):
    """8 GB held for 5 s and freed at its end: charged 8 GB for 5 s, not the wattage at
    either end for the whole interval; the thread polls every second from the start."""
    clocks = FakeClocks()
    in_use = [8.0]
    meter = memory_meter(monkeypatch, clocks, in_use)
    watts_per_gb = meter.memory_w_per_gb
    assert meter.poll_interval_s == 1.0
    try:
        (before,) = meter.read()
        for _ in range(5):  # the first, long test: the sampler polls through it
            clocks.advance(1.0, busy=0.0)
            meter.poll()
        in_use[0] = 2.0  # freed just before the test ends
        (after,) = meter.read()
        assert after - before == pytest.approx(8 * watts_per_gb * 5.0)
        # Held for the last 1.5 s only: charged for those 1.5 s (to within one poll).
        clocks.advance(0.5, busy=0.0)
        meter.poll()  # sees 2 GB
        in_use[0] = 8.0
        (start,) = meter.read()
        for _ in range(2):
            clocks.advance(1.0, busy=0.0)
            meter.poll()
        (end,) = meter.read()
        assert end - start == pytest.approx((2 * 0.5 + 8 * 1.5) * watts_per_gb)
    finally:
        meter.close()


def test_memory_readings_between_polls_never_decrease(monkeypatch):
    clocks = FakeClocks()
    in_use = [8.0]
    meter = memory_meter(monkeypatch, clocks, in_use)
    try:
        readings = []
        for step in range(20):
            clocks.advance(0.3, busy=0.0)
            in_use[0] = 8.0 if step % 3 else 0.5
            if step % 4 == 0:
                meter.poll()
            readings.append(meter.read()[0])
        assert readings == sorted(readings)
    finally:
        meter.close()


THREADS_SUITE = """
import threading


def test_threads():
    names = [thread.name for thread in threading.enumerate()]
    print("THREADS", "sampler" if "pytest-carbon-sampler" in names else "none")
"""


def test_the_sampler_thread_polls_memory_from_the_start(pytester):
    pytester.makepyfile(test_threads=THREADS_SUITE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:randomly", "--carbon-meters=estimate")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*THREADS sampler*"])


def test_memory_term_uses_memory_in_use(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\n")
    read_meminfo = estimate.memory_in_use_bytes
    assert read_meminfo(str(meminfo)) == 4_000_000 * 1024  # total - available
    clocks = FakeClocks()
    monkeypatch.setattr(estimate, "memory_in_use_bytes", lambda: read_meminfo(str(meminfo)))
    meter = EstimateMeter(frozenset({"memory"}), clocks=clocks.clocks())
    meter.start()
    try:
        clocks.advance(0.1, busy=0.0)
        (energy,) = meter.read()
    finally:
        meter.close()
    assert energy == pytest.approx(4_000_000 * 1024 / 1e9 * 0.392 * 0.1)


def test_busy_test_is_charged_for_its_cpu_time(pytester):
    pytester.makepyfile(
        """
        import time

        def test_sleep():
            time.sleep(0.25)

        def test_busy():
            deadline = time.process_time() + 0.25  # CPU time, however busy the machine
            while time.process_time() < deadline:
                pass
        """
    )
    pytester.runpytest("--carbon-meters=estimate", "--carbon-scope=machine", "--carbon-json=r.json").assert_outcomes(
        passed=2
    )
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads((pytester.path / "r.json").read_text())["tests"]}
    model = cpu_power_model(read_cpuinfo())
    floor = model.vcpus * model.min_w
    # Lower bounds only: other processes on the machine can add energy, never remove it.
    sleep_cpu = tests["test_sleep"]["by_channel"]["estimate/cpu"]
    busy_cpu = tests["test_busy"]["by_channel"]["estimate/cpu"]
    assert sleep_cpu >= floor * 0.25
    assert busy_cpu >= floor * 0.25 + (model.max_w - model.min_w) * 0.2
    assert tests["test_busy"]["by_channel"].keys() == {"estimate/cpu", "estimate/memory"}


class ScriptedMachine:
    """What the attribution's one-function boundary for the estimate reads besides the
    meter, scripted: the run's other processes (refreshed every 10 ms, as the process
    tree is), its resident memory, and the rest of the machine's CPU time (the
    neighbours' and the run's other processes', as /proc/stat counts them)."""

    def __init__(self, clocks: FakeClocks) -> None:
        self.clocks = clocks
        self.children = 0.0  # CPU-seconds of the run's other processes so far
        self.neighbours = 0.0
        self.refreshes = 0  # reads of the rest of the machine

    def others(self) -> float:
        self.refreshes += 1
        return self.neighbours + self.children

    def tree(self, own_cpu: OwnCpuTime) -> object:
        machine = self

        class Tree:
            refresh_s = 0.01
            rss_bytes = 1e9

            def __init__(self) -> None:
                self.own_cpu = own_cpu
                self._rest = 0.0
                self._at = -1e9

            @property
            def next_refresh(self) -> float:
                return self._at + self.refresh_s

            def rest(self, now: float) -> float:
                if now - self._at >= self.refresh_s:
                    self._at = now
                    self._rest = machine.children
                return self._rest

        return Tree()


def run_estimate_alone(monkeypatch, one_function: bool) -> tuple[list[float], list[float], ScriptedMachine, bool]:
    """A scripted run charged through the estimate meter alone: by the one-function
    boundary, or by the general one (a reader that is not the meter's snapshot)."""
    import random

    from pytest_carbon.ledger import PENDING, Ledger
    from pytest_carbon.meters.attribution import Attributor

    clocks = FakeClocks()
    machine = ScriptedMachine(clocks)
    watts = [3.0]
    monkeypatch.setattr(MachineCpuTime, "_others_now", lambda self: machine.others())
    monkeypatch.setattr(EstimateMeter, "_memory_watts", lambda self: watts[0])
    meter = EstimateMeter(frozenset({"cpu", "memory"}), cpu=BASE, clocks=clocks.clocks())
    monkeypatch.setattr(estimate, "shared_machine_cpu_time", lambda: shared)
    shared = MachineCpuTime()
    meter.start()
    read = meter.snapshot_reader() if one_function else (lambda: meter.snapshot())
    charged = Attributor(read, [meter], 2, None, True, tree=machine.tree(meter.own_cpu), machine_cpu=shared)  # type: ignore[arg-type]
    ledger = Ledger(charged.read, 2, recorder=charged)
    rng = random.Random(11)
    polled = clocks.t
    for k in range(600):
        dt = rng.choice([1e-4, 5e-4, 0.003, 0.02, 0.3])
        busy = dt * rng.random()
        clocks.advance(dt, busy)
        machine.neighbours += dt * rng.random() * 1.5
        if 200 <= k < 400 and rng.random() < 0.3:  # a subprocess, in ticks
            machine.children += 0.01
        if clocks.t - polled >= 1.0:  # the sampler thread's poll
            watts[0] = rng.choice([2.0, 3.0, 5.0])
            meter.poll()
            polled = clocks.t
        ledger.close(PENDING)
    clocks.advance(0.02, 0.0)  # past the general boundary's 10 ms: both read the machine at the end
    charged.settle()
    ledger.finish()
    return ledger.marks, charged.machine_totals(), machine, charged.boundary() == charged.record


def test_the_estimate_alone_is_charged_the_same_by_the_one_function_boundary(monkeypatch):
    # The common case's boundary reads the rest of the machine once a second, or when
    # the run's other processes moved, instead of every 10 ms: the run's charge at every
    # boundary and the machine's totals at the end are the same.
    general, general_machine, general_reads, general_path = run_estimate_alone(monkeypatch, one_function=False)
    fused, fused_machine, fused_reads, fused_path = run_estimate_alone(monkeypatch, one_function=True)
    assert general_path and not fused_path
    assert len(fused) == len(general) == 3 * 602
    assert fused == pytest.approx(general, rel=1e-9, abs=1e-9)
    assert fused_machine == pytest.approx(general_machine, rel=1e-12)
    assert fused[-2] > 1.0  # the CPU channel charged something
    assert fused_reads.refreshes < general_reads.refreshes / 2
