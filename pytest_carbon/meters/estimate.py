"""Energy estimated from CPU time and memory in use, where no counter is readable.

CPU: every vCPU draws `min` watts idle and up to `max` watts busy (per-microarchitecture
figures from Cloud Carbon Footprint), so energy = vCPUs x min x elapsed + (max - min) x
busy CPU-seconds. Memory: a fixed number of watts per GB of memory in use.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from pytest_carbon.data.constants import constant
from pytest_carbon.data.tables import load_table
from pytest_carbon.meters.base import Channel, Meter, Probe, Snapshot
from pytest_carbon.meters.clocks import CLOCKS, Clocks
from pytest_carbon.meters.cpuinfo import CpuInfo, microarchitecture, read_cpuinfo
from pytest_carbon.meters.cputime import MachineCpuTime, OwnCpuTime, shared_machine_cpu_time, shared_own_cpu_time

POWER_TABLE = "ccf-coefficients:aws-2026"
AVERAGE_ROW = "ccf-app:aws-average"
# EPYC of an unrecognised generation: the mean of these rows (5th Gen is left out: its
# figures are far out of line with the others in the source table).
FAMILY_MEAN_ROWS = ("EPYC 1st Gen", "EPYC 2nd Gen", "EPYC 3rd Gen", "EPYC 4th Gen")


class CpuPowerModel(NamedTuple):
    row: str  # the power-table row used
    min_w: float
    max_w: float
    recognised_by: str
    fallback: bool  # True when the CPU was not recognised and an average is used
    vcpus: int

    def describe(self) -> str:
        label = self.row if not self.fallback else f"{self.row} (fallback)"
        return f"{label}: {self.min_w:g}-{self.max_w:g} W per vCPU x {self.vcpus} vCPUs"


def cpu_power_model(cpu: CpuInfo) -> CpuPowerModel:
    rows = load_table("cpu_power.csv").rows
    table = {
        row["microarchitecture"]: (float(row["min_w_per_vcpu"]), float(row["max_w_per_vcpu"]))
        for row in rows
        if row["provider_table"] == POWER_TABLE
    }
    arch, how = microarchitecture(cpu)
    if arch is not None and arch in table:
        low, high = table[arch]
        return CpuPowerModel(arch, round(low, 3), round(high, 3), how, False, cpu.vcpus)
    epyc_rows = [table[name] for name in FAMILY_MEAN_ROWS if name in table]
    if "EPYC" in cpu.model_name.upper() and epyc_rows:
        return CpuPowerModel(
            "EPYC, generation unknown (mean of EPYC 1st-4th Gen)",
            round(sum(r[0] for r in epyc_rows) / len(epyc_rows), 3),
            round(sum(r[1] for r in epyc_rows) / len(epyc_rows), 3),
            how,
            True,
            cpu.vcpus,
        )
    average = next(r for r in rows if r["provider_table"] == AVERAGE_ROW)
    low, high = float(average["min_w_per_vcpu"]), float(average["max_w_per_vcpu"])
    return CpuPowerModel("unknown CPU (Cloud Carbon Footprint average)", low, high, how, True, cpu.vcpus)


def memory_in_use_bytes(meminfo: str = "/proc/meminfo") -> float:
    """Memory in use (total - available), from /proc/meminfo where it exists, else psutil."""
    try:
        with open(meminfo, "rb") as handle:
            fields = dict(line.split(b":", 1) for line in handle.read().splitlines() if b":" in line)
        return (int(fields[b"MemTotal"].split()[0]) - int(fields[b"MemAvailable"].split()[0])) * 1024.0
    except (OSError, KeyError, ValueError):
        import psutil

        memory = psutil.virtual_memory()
        return float(memory.total - memory.available)


class EstimateMeter(Meter):
    name = "estimate"
    measured = False
    memory_refresh_s = 1.0

    def __init__(self, covers: frozenset[str], cpu: CpuInfo | None = None, clocks: Clocks = CLOCKS) -> None:
        self.cpu = cpu or read_cpuinfo()
        self.model = cpu_power_model(self.cpu)
        self.memory_w_per_gb = constant("memory_w_per_gb").value
        self.covers = covers
        self.now = clocks.now
        # This process's CPU time, read for real at most once a millisecond (see
        # docs/methodology.md); shared with the attribution where the clocks are real.
        self.own_cpu = shared_own_cpu_time() if clocks is CLOCKS else OwnCpuTime(clocks.process_time)
        channels = []
        if "cpu" in covers:
            channels.append(Channel("estimate", "cpu", "cpu", (("model", self.model.describe()),)))
        if "memory" in covers:
            channels.append(
                Channel("estimate", "memory", "memory", (("model", f"{self.memory_w_per_gb} W per GB in use"),))
            )
        self.channels = tuple(channels)
        # The sampler thread refreshes the memory wattage from the start, so a long test
        # is integrated through even when it is the first.
        self.poll_interval_s: float | None = self.memory_refresh_s if "memory" in covers else None
        # The machine's CPU time (the others' share of the dynamic power), where CPU is covered.
        self.machine_cpu: MachineCpuTime | None = None

    def start(self) -> None:
        now = self.now()
        if "cpu" in self.covers:
            self.machine_cpu = shared_machine_cpu_time()
        # (joules at t, t, watts from t on): replaced whole by poll(), so the thread
        # running the tests reads a consistent triple without a lock.
        self._memory = (0.0, now, self._memory_watts() if "memory" in self.covers else 0.0)
        self._memory_reported = 0.0
        self.idle_w = self.model.vcpus * self.model.min_w
        self.dynamic_w = self.model.max_w - self.model.min_w
        # cpu joules = idle_w x now + dynamic_w x (own CPU time + the others' CPU time) + cpu_base
        self.cpu_base = -self.idle_w * now
        if self.machine_cpu is not None:
            self.cpu_base -= self.dynamic_w * self.machine_cpu.own_start
        self._refresh(now)
        self.own_cpu.at(now)
        self._snapshot: Snapshot = self.snapshot
        if self.machine_cpu is None:
            self._snapshot = self._snapshot_memory
        elif "memory" not in self.covers:
            self._snapshot = self._snapshot_cpu

    def snapshot_reader(self) -> Snapshot:
        return self._snapshot

    def static_power_w(self) -> tuple[float | None, ...]:
        # CPU: every vCPU's idle draw; memory: all of it is held, whoever runs.
        return tuple(self.idle_w if c.component == "cpu" else math.inf for c in self.channels)

    def max_power_w(self) -> tuple[float | None, ...]:
        return tuple(self.model.vcpus * self.model.max_w if c.component == "cpu" else None for c in self.channels)

    def held_bytes(self) -> float | None:
        if "memory" not in self.covers:
            return None
        return self._memory[2] / self.memory_w_per_gb * 1e9

    def _memory_watts(self) -> float:
        return memory_in_use_bytes() / 1e9 * self.memory_w_per_gb

    def _refresh(self, now: float) -> None:
        """Take in the other processes' CPU time, every clock.refresh_s."""
        clock = self.machine_cpu
        if clock is None:
            self._refresh_due = float("inf")
            return
        clock.refresh(now)
        self._refresh_due = now + clock.refresh_s

    def read(self) -> tuple[float, ...]:
        return tuple(self._snapshot()[1:])

    def snapshot(self) -> list[float]:
        """`[t, *read()]` in one call, CPU and memory: the meter set's path when this is its
        only meter (snapshot_reader() gives the variant for the channels covered).

        The hot path: one clock read, this process's CPU time (a system call at most once
        a millisecond), a few multiplications. Only the thread running the tests reads;
        poll() only swaps in a new memory triple (one attribute store), so no lock is
        needed.
        """
        now = self.now()
        if now >= self._refresh_due:
            self._refresh(now)
        own = self.own_cpu.at(now)
        clock = self.machine_cpu
        others = clock.others if clock is not None else 0.0
        return [now, self.idle_w * now + self.dynamic_w * (own + others) + self.cpu_base, self.memory_j(now)]

    def _snapshot_cpu(self) -> list[float]:
        reading = EstimateMeter.snapshot(self)  # its memory wattage is 0: not covered
        del reading[2]
        return reading

    def _snapshot_memory(self) -> list[float]:
        now = self.now()
        return [now, self.memory_j(now)]

    def memory_j(self, now: float) -> float:
        """Memory joules so far: the sampler's integral up to its last poll, then the
        wattage it read there; never less than a figure already reported."""
        joules, t, watts = self._memory
        memory = joules + watts * (now - t)
        if memory < self._memory_reported:
            return self._memory_reported
        self._memory_reported = memory
        return memory

    def poll(self) -> None:
        """The sampler thread: read the wattage and integrate since the last poll with the
        mean of its two ends (readings in between hold the older wattage and never go
        back, so a figure already reported is never taken back)."""
        now = self.now()
        joules, t, watts = self._memory
        new = self._memory_watts()
        self._memory = (joules + (watts + new) / 2 * max(0.0, now - t), now, new)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        parts = []
        if "cpu" in self.covers:
            parts.append(f"CPU time x {self.model.describe()}")
        if "memory" in self.covers:
            parts.append(f"memory {self.memory_w_per_gb} W/GB in use")
        return "estimate (" + "; ".join(parts) + ") [estimated]"


def probe_estimate(covers: frozenset[str]) -> Probe:
    meter = EstimateMeter(covers)
    notes = [
        f"CPU {meter.cpu.model_name!r}: {meter.model.recognised_by}; {meter.cpu.vcpus} vCPUs from {meter.cpu.vcpus_source}"
    ]
    if meter.model.fallback:
        notes.append("this CPU is not in the power table, so an average is used: figures are rougher than usual")
    return Probe("estimate", True, meter.describe(), meter=meter, covers=covers, notes=notes)
