"""CPU-seconds cheap enough to read at every test boundary: this process's, and the
machine's busy time.

This process's own CPU time is a system call (clock_gettime); it is read for real at
most once every `OwnCpuTime.read_gap_s`. The CPU time of everything else on the machine
comes from /proc/stat (or the container's cgroup), which is costlier and only ticks
every 10 ms, so it is refreshed at most every `refresh_s` seconds and held in between.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from pytest_carbon.meters.clocks import CLOCKS


class OwnCpuTime:
    """This process's CPU-seconds (process_time) at a boundary.

    pytest's own work between two test phases takes far less than `read_gap_s`: readings
    closer together than that count the process busy since the last real read (never
    more than `read_gap_s` ahead of the real figure; the next real read evens it out).
    Never decreasing, and the same figure for every reader that asks about the same
    instant: the estimate meter and the attribution share one per process.
    """

    read_gap_s = 0.001

    def __init__(self, process_time: Callable[[], float] = CLOCKS.process_time) -> None:
        self._process_time = process_time
        self._real = self.last = process_time()
        self._real_t = self.last_t = -math.inf

    def at(self, now: float) -> float:
        """The figure at `now`; `last` and `last_t` keep it, so a second reader asking
        about the same instant need not call again."""
        self.last_t = now
        if 0.0 <= now - self._real_t < self.read_gap_s:  # never interpolated backwards
            own = self._real + (now - self._real_t)
        else:
            own = self._real = self._process_time()
            self._real_t = now
        if own > self.last:
            self.last = own
            return own
        return self.last


_OWN: dict[int, OwnCpuTime] = {}


def shared_own_cpu_time() -> OwnCpuTime:
    """One per process (a forked child starts its own)."""
    found = _OWN.get(os.getpid())
    if found is None:
        found = _OWN[os.getpid()] = OwnCpuTime()
    return found


class MachineCpuTime:
    refresh_s = 0.01

    def __init__(self) -> None:
        self._process_time = CLOCKS.process_time
        self._times = CLOCKS.times
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._machine_fd: int | None = None
        self._cgroup = _container_cpu_stat()
        self.source = "psutil"
        if Path("/proc/stat").exists():
            if self._cgroup is not None:
                self._machine_fd = os.open(self._cgroup, os.O_RDONLY)
                self.source = f"cgroup {self._cgroup}"
            else:
                self._machine_fd = os.open("/proc/stat", os.O_RDONLY)
                self.source = "/proc/stat"
        self.own_start = self._process_time()
        self._others_start = self._others_now()
        self.others = 0.0
        self.refreshed_at = CLOCKS.now()

    def _machine_busy(self) -> float:
        if self._machine_fd is None:
            import psutil

            times = psutil.cpu_times()
            return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(times, "steal", 0.0)
        text = os.pread(self._machine_fd, 8192, 0)
        if self._cgroup is not None:
            for line in text.split(b"\n"):
                if line.startswith(b"usage_usec"):
                    return int(line.split()[1]) / 1e6
            return 0.0
        fields = text[: text.index(b"\n")].split()
        # cpu user nice system idle iowait irq softirq steal ...
        return (int(fields[1]) + int(fields[2]) + int(fields[3]) + int(fields[6]) + int(fields[7])) / self._tick

    def _own_ticks(self) -> float:
        # times(2): the same tick-granular figure as utime + stime in /proc/self/stat,
        # without reading and parsing the file.
        times = self._times()
        return times.user + times.system

    def _others_now(self) -> float:
        return self._machine_busy() - self._own_ticks()

    def refresh(self, now: float) -> None:
        others = self._others_now() - self._others_start
        if others > self.others:  # hold it monotonic: the two tick counts are sampled apart
            self.others = others
        self.refreshed_at = now

    @property
    def next_refresh(self) -> float:
        return self.refreshed_at + self.refresh_s

    def others_at(self, now: float) -> float:
        """CPU-seconds the rest of the machine (all but this process) spent busy."""
        if now - self.refreshed_at >= self.refresh_s:
            self.refresh(now)
        return self.others

    def close(self) -> None:
        if self._machine_fd is not None:
            os.close(self._machine_fd)
        self._machine_fd = None


_SHARED: dict[int, MachineCpuTime] = {}


def shared_machine_cpu_time() -> MachineCpuTime:
    """One reader per process, shared by the estimate and the attribution, so both see
    the same refreshed figure within an interval (and /proc/stat is read once)."""
    found = _SHARED.get(os.getpid())
    if found is None or found._machine_fd is None and found.source != "psutil":
        found = _SHARED[os.getpid()] = MachineCpuTime()
    return found


def _container_cpu_stat(root: str = "/sys/fs/cgroup") -> str | None:
    """The cgroup v2 cpu.stat of a container with a CPU quota, else None (whole machine)."""
    from pytest_carbon.meters.cpuinfo import cgroup_cpu_quota

    path = Path(root, "cpu.stat")
    if cgroup_cpu_quota(root) is not None and path.exists():
        return str(path)
    return None
