"""Per-process attribution: the share of the machine's energy that belongs to this process.

Every meter sees the whole machine. With several pytest-xdist workers on one machine each
worker would otherwise claim every joule. For each interval between two boundaries:

    u = min(1, busy CPU-seconds of the machine / (vCPUs x seconds))      machine active ratio
    s = min(1, CPU-seconds of this process tree / busy CPU-seconds of the machine)
    n = workers active at the time
    attributed = E x (u x s + (1 - u) / n)       for CPU, memory and platform channels
    attributed = E x g                          for GPU channels: g = 1 when the GPU is
                                                this worker's alone; when workers share it,
                                                this process tree's share of the GPU's
                                                utilisation where the driver reports it per
                                                process (NVML), else 1 / n

so the dynamic energy follows CPU time (as Kepler does) and idle energy is shared by the
workers that keep the machine on. See docs/methodology.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from pytest_carbon.meters.base import Meter
from pytest_carbon.meters.cputime import MachineCpuTime

_perf_counter = time.perf_counter
_process_time = time.process_time


class ProcessTreeCpuTime:
    """CPU-seconds of this process (precise, every call) and of its children that have
    exited (from times(2), tick-granular, refreshed at most every `refresh_s`)."""

    refresh_s = 0.01

    def __init__(self) -> None:
        self._own_start = _process_time()
        self._children_start = self._children_now()
        self._children = 0.0
        self._refreshed_at = _perf_counter()

    @staticmethod
    def _children_now() -> float:
        times = os.times()
        return times.children_user + times.children_system

    def seconds(self, now: float) -> float:
        if now - self._refreshed_at >= self.refresh_s:
            self._children = self._children_now() - self._children_start
            self._refreshed_at = now
        return _process_time() - self._own_start + self._children

    def close(self) -> None:
        pass


class ActiveWorkers:
    """How many workers are running now.

    Local xdist workers are child processes of the controller, so the live children of
    our parent are counted (at most once a second), at most `total`: the workers sent to
    this machine. Where that cannot be seen (workers on another machine, no permission)
    `total` is used.
    """

    refresh_s = 1.0

    def __init__(self, total: int, parent_pid: int | None) -> None:
        self.total = max(1, total)
        self._parent = parent_pid
        self._count = self.total
        self._refreshed_at = -1e9

    def count(self, now: float) -> int:
        if self._parent is None or self.total == 1:
            return self.total
        if now - self._refreshed_at >= self.refresh_s:
            self._refreshed_at = now
            try:
                import psutil

                alive = len(psutil.Process(self._parent).children())
                self._count = min(self.total, max(1, alive))
            except Exception:
                self._count = self.total
        return self._count


class Attributor:
    """Wraps a meter-set read: returns `[t, attributed joules per channel]`, cumulative."""

    gpu_refresh_s = 1.0

    def __init__(
        self,
        read: Callable[[], list[float]],
        meters: Sequence[Meter],
        vcpus: int,
        workers: ActiveWorkers | None,
        gpu_exclusive: bool,
    ) -> None:
        self._read = read
        self.vcpus = max(1, vcpus)
        self.workers = workers  # None: no share of idle energy (the xdist controller)
        self.gpu_exclusive = gpu_exclusive
        channels = [channel for meter in meters for channel in meter.channels]
        self._gpu = [channel.component == "gpu" for channel in channels]
        # (first channel index, meter) for GPU meters that can say who uses the GPU
        self._gpu_meters: list[tuple[int, Meter]] = []
        offset = 0
        for meter in meters:
            if meter.reports_process_use:
                self._gpu_meters.append((offset, meter))
            offset += len(meter.channels)
        self._gpu_shares: dict[int, float] = {}
        self._gpu_refreshed_at = -1e9
        self.gpu_split: set[str] = set()  # how shared GPUs were split: "utilisation", "even"
        self._machine_cpu = MachineCpuTime()
        self._process_cpu = ProcessTreeCpuTime()
        first = read()
        self.machine_start = first
        self._last = first
        self._last_machine = self._machine_cpu.busy_seconds(first[0])
        self._last_process = self._process_cpu.seconds(first[0])
        self._attributed = [0.0] * (len(first) - 1)

    def read(self) -> list[float]:
        now = self._read()
        t = now[0]
        machine = self._machine_cpu.busy_seconds(t)
        process = self._process_cpu.seconds(t)
        last = self._last
        elapsed = t - last[0]
        busy = machine - self._last_machine
        own = process - self._last_process
        active = min(1.0, busy / (self.vcpus * elapsed)) if elapsed > 0 else 0.0
        share = min(1.0, own / busy) if busy > 0 else 0.0
        if self.workers is None:
            cpu_weight = active * share
            gpu_weight = 0.0
        else:
            n = self.workers.count(t)
            cpu_weight = active * share + (1.0 - active) / n
            gpu_weight = 1.0 if self.gpu_exclusive else 1.0 / n
            if self._gpu_meters and not self.gpu_exclusive and t - self._gpu_refreshed_at >= self.gpu_refresh_s:
                self._refresh_gpu_shares(t)
        gpu_shares = self._gpu_shares
        attributed = self._attributed
        gpu = self._gpu
        for i in range(len(attributed)):
            delta = now[i + 1] - last[i + 1]
            if gpu[i]:
                attributed[i] += delta * gpu_shares.get(i, gpu_weight)
            else:
                attributed[i] += delta * cpu_weight
        self._last = now
        self._last_machine = machine
        self._last_process = process
        return [t, *attributed]

    def _refresh_gpu_shares(self, t: float) -> None:
        self._gpu_refreshed_at = t
        pids = {os.getpid()}
        try:
            import psutil

            pids |= {child.pid for child in psutil.Process().children(recursive=True)}
        except Exception:
            pass
        shares: dict[int, float] = {}
        for offset, meter in self._gpu_meters:
            try:
                found = meter.process_shares(pids)
            except Exception:
                found = [None] * len(meter.channels)
            for position, value in enumerate(found):
                if value is not None:
                    shares[offset + position] = value
        self._gpu_shares = shares
        self.gpu_split.add("utilisation" if shares else "even")

    def machine_totals(self) -> list[float]:
        """Joules per channel the whole machine used between the first and the last read."""
        return [after - before for before, after in zip(self.machine_start[1:], self._last[1:])]

    def close(self) -> None:
        self._machine_cpu.close()
        self._process_cpu.close()


def gpu_split_note(attributor: Attributor) -> str:
    if not attributor._gpu_meters and not any(attributor._gpu):
        return ""
    if attributor.gpu_exclusive:
        return "each worker has its own GPUs (CUDA_VISIBLE_DEVICES set per worker): a worker is charged its GPUs whole"
    if attributor.gpu_split == {"utilisation"}:
        return "workers share the GPUs: GPU energy is split by each worker's share of NVML per-process utilisation"
    if "utilisation" in attributor.gpu_split:
        return (
            "workers share the GPUs: split by NVML per-process utilisation where the driver reported it, "
            "evenly among the active workers otherwise"
        )
    return "workers share the GPUs: no per-process utilisation from the driver, so GPU energy is split evenly among the active workers"
