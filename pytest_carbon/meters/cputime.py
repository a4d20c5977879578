"""Busy CPU-seconds of the machine, cheap enough to read at every test boundary.

This process's own CPU time is read precisely on every call (clock_gettime). The CPU time
of everything else on the machine comes from /proc/stat (or the container's cgroup),
which is costlier and only ticks every 10 ms, so it is refreshed at most every
`refresh_s` seconds and held in between.
"""

from __future__ import annotations

import os
from pathlib import Path

from pytest_carbon.meters.clocks import CLOCKS


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

    def others_at(self, now: float) -> float:
        """CPU-seconds the rest of the machine (all but this process) spent busy."""
        if now - self.refreshed_at >= self.refresh_s:
            self.refresh(now)
        return self.others

    def busy_seconds(self, now: float) -> float:
        """CPU-seconds spent busy on the machine since this object was made."""
        if now - self.refreshed_at >= self.refresh_s:
            self.refresh(now)
        return self._process_time() - self.own_start + self.others

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
