"""CPU-seconds of the run's process tree, live descendants included, and of named processes.

The run's tree is this process, its descendants that are still running (a process pool
kept by a fixture, data-loader workers, a server a test started) and those that have
exited and been reaped (times(2)). A live descendant's figure is utime + stime + cutime +
cstime from /proc/<pid>/stat: its own CPU time and that of the children it has reaped.

Which processes are descendants is found by a scan of /proc (each process's parent),
at most every `scan_s` seconds and never more often than a hundred times the scan's own
cost; their CPU time is re-read at the pace of the machine's (`refresh_s`). A process
first seen after the run started counts from its start (its whole CPU time); one already
running counts from when it was first seen.

Named processes (`--carbon-include`) are charged to the run as if they were part of its
tree: by command name, by PID file, or by a cgroup v2 directory (cpu.stat usage_usec).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.meters.cputime import OwnCpuTime, shared_own_cpu_time
from pytest_carbon.values.errors import CarbonConfigError

INCLUDE_ACCEPTED = (
    "a comma-separated list of name:COMMAND (a process's command name, e.g. name:ollama), "
    "pidfile:PATH (a file holding a PID) or cgroup:PATH (a cgroup v2 directory); a bare word is a command name"
)
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class IncludeSpec:
    kind: str  # "name", "pidfile" or "cgroup"
    target: str

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_includes(raw: object, origin: str) -> tuple[IncludeSpec, ...]:
    """`--carbon-include` / pyproject `include`: a comma-separated string or a list."""
    if isinstance(raw, str):
        items: list[object] = [part for part in raw.split(",")]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise CarbonConfigError(raw, origin, "is not a list of processes", INCLUDE_ACCEPTED)
    specs: list[IncludeSpec] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise CarbonConfigError(item, origin, "is not a process to include", INCLUDE_ACCEPTED)
        text = item.strip()
        kind, sep, target = text.partition(":")
        if not sep:
            kind, target = "name", text
        kind, target = kind.strip().lower(), target.strip()
        if kind not in ("name", "pidfile", "cgroup") or not target:
            raise CarbonConfigError(text, origin, "is not a process to include", INCLUDE_ACCEPTED)
        if kind == "name" and ("/" in target or len(target) > 64):
            raise CarbonConfigError(text, origin, "is not a command name", INCLUDE_ACCEPTED)
        specs.append(IncludeSpec(kind, target))
    return tuple(specs)


@dataclass
class Included:
    """What one include spec matched, for the summary."""

    spec: IncludeSpec
    pids: set[int] = field(default_factory=set)
    cpu_s: float = 0.0
    problem: str | None = None


def _stat_fields(text: bytes) -> list[bytes]:
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(b")") + 2 :].split()


def _read_stat(pid: int) -> tuple[int, float, str] | None:
    """(parent pid, CPU seconds incl. reaped children, command name) of a process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    try:
        fields = _stat_fields(text)
        name = text[text.index(b"(") + 1 : text.rindex(b")")].decode("utf-8", "replace")
        # after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based
        return int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK, name
    except (ValueError, IndexError):
        return None


def _cpu_and_rss_of(fd: int) -> tuple[float, float] | None:
    """(CPU seconds incl. reaped children, resident bytes) from an open /proc/<pid>/stat."""
    try:
        fields = _stat_fields(os.pread(fd, 1024, 0))
        return sum(int(f) for f in fields[11:15]) / _TICK, int(fields[21]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class _Tracked:
    """A live process whose CPU time counts: kept open, re-read with pread."""

    __slots__ = ("fd", "base", "last")

    def __init__(self, fd: int, base: float, last: float) -> None:
        self.fd = fd
        self.base = base  # CPU seconds that do not count (used before it was first seen)
        self.last = last


class TreeCpuTime:
    """CPU-seconds of the run's process tree (and named processes) since it started.

    `seconds(now)` is cheap: this process's own CPU time is read precisely every call,
    the rest is refreshed at most every `refresh_s` and held in between. It never
    decreases.
    """

    refresh_s = 0.01
    scan_s = 1.0

    def __init__(self, includes: Sequence[IncludeSpec] = (), *, tree: bool = True) -> None:
        # This process's CPU-seconds (absolute), as the estimate meter reads them.
        self.own_cpu: OwnCpuTime = shared_own_cpu_time()
        self._times = CLOCKS.times
        self._now = CLOCKS.now
        self.pid = os.getpid()
        self.tree = tree
        self.includes = [Included(spec) for spec in includes]
        self._proc = Path("/proc/self/stat").exists()
        self._tracked: dict[int, _Tracked] = {}  # descendants and named processes, by pid
        # Named processes outside the tree: when one ends, its time goes to a parent that
        # is not counted, so what it used is kept here.
        self._roots: set[int] = set()
        self._ended: dict[int, float] = {}  # pid -> CPU-seconds counted, for ended processes
        self._gone = 0.0
        self._cgroup_fds: dict[int, int] = {}  # index in includes -> cpu.stat fd
        self._cgroup_base: dict[int, float] = {}
        self._own_start = self.own_cpu.at(CLOCKS.now())
        self._reaped_start = self._reaped_now()
        self._first_scan = True
        self._scan_cost = 0.0
        self._scan_due = 0.0
        self.scans = 0  # scans of /proc made
        self._named = any(included.spec.kind != "cgroup" for included in self.includes)
        self._rest = 0.0  # reaped + live descendants + named processes, since start
        self.ticked = False  # whether any of that was ever more than 0
        self.rss_bytes = 0.0  # memory the tree holds (resident), at the last refresh
        self._statm = os.open("/proc/self/statm", os.O_RDONLY) if self._proc else None
        now = self._now()
        self._open_cgroups()
        self._refresh(now)
        self._first_scan = False

    # -- reading -------------------------------------------------------------------------

    def _reaped_now(self) -> float:
        if not self.tree:
            return 0.0
        times = self._times()
        return times.children_user + times.children_system

    def seconds(self, now: float) -> float:
        return self.own(now) + self.rest(now)

    def own(self, now: float) -> float:
        """This process's CPU-seconds since the start (see OwnCpuTime)."""
        return self.own_cpu.at(now) - self._own_start

    @property
    def next_refresh(self) -> float:
        return self._refreshed_at + self.refresh_s

    def rest(self, now: float) -> float:
        """Descendants' and named processes' CPU-seconds, refreshed every `refresh_s`."""
        if now - self._refreshed_at >= self.refresh_s:
            self._refresh(now)
        return self._rest

    def _refresh(self, now: float) -> None:
        self._refreshed_at = now
        # Reaped first, then the live ones: a child reaped in between is missed for one
        # refresh rather than counted twice.
        rest = self._reaped_now() - self._reaped_start
        if self._proc and (self.tree or self.includes):
            if now >= self._scan_due:
                if self._named or (self.tree and _has_children()):
                    self._scan(now)
                else:  # nothing a scan could find
                    self._scan_due = now + self.scan_s
            rest += self._live()
        rest += self._cgroups()
        if rest > self._rest:
            self._rest = rest
            self.ticked = True

    def _live(self) -> float:
        total = self._gone
        ended = []
        rss = self._own_rss()
        for pid, tracked in self._tracked.items():
            found = _cpu_and_rss_of(tracked.fd)
            if found is None:
                ended.append(pid)
                continue
            cpu, resident = found
            rss += resident
            if cpu > tracked.last:
                tracked.last = cpu
            total += tracked.last - tracked.base
        for pid in ended:
            # A descendant's time moves to its parent once reaped (times(2) here, cutime of
            # a tracked parent below); only a named process outside the tree is kept.
            tracked = self._tracked.pop(pid)
            os.close(tracked.fd)
            self._ended[pid] = tracked.last - tracked.base
            if pid in self._roots:
                self._gone += tracked.last - tracked.base
        self.rss_bytes = rss
        return total

    def _own_rss(self) -> float:
        if self._statm is None:
            return 0.0
        try:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0.0

    def _scan(self, now: float) -> None:
        """Find descendants and named processes among all of /proc."""
        started = self._now()
        parents: dict[int, int] = {}
        names: dict[int, str] = {}
        cpu: dict[int, float] = {}
        try:
            entries = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
        except OSError:
            entries = []
        for pid in entries:
            if pid == self.pid:
                continue
            found = _read_stat(pid)
            if found is not None:
                parents[pid], cpu[pid], names[pid] = found
        wanted: set[int] = set()
        roots = {self.pid} if self.tree else set()
        for included in self.includes:
            if included.spec.kind != "cgroup":
                matched = self._matches(included, names)
                included.pids |= matched
                roots |= matched
        for pid in parents:
            chain: list[int] = []
            at = pid
            while at not in roots and at not in wanted and at in parents and len(chain) < 64:
                chain.append(at)
                at = parents[at]
            if at in roots or at in wanted:
                wanted.update(chain)
        # Named processes that are not in this run's tree: their time is theirs to keep.
        self._roots |= {pid for pid in roots - wanted if pid != self.pid}
        wanted |= roots - {self.pid}
        for pid in wanted:
            if pid in self._tracked or pid not in cpu:
                continue
            try:
                fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
            except OSError:
                continue
            # Running before the run started: count from now. Started since: all of it.
            base = cpu[pid] if self._first_scan else 0.0
            self._tracked[pid] = _Tracked(fd, base, cpu[pid])
        cost = self._now() - started
        self.scans += 1
        self._scan_cost = cost
        self._scan_due = now + max(self.scan_s, 100 * cost)

    def _matches(self, included: Included, names: dict[int, str]) -> set[int]:
        spec = included.spec
        if spec.kind == "name":
            return {pid for pid, name in names.items() if name == spec.target[:15]}
        try:
            pid = int(Path(spec.target).read_text().split()[0])
        except (OSError, ValueError, IndexError) as error:
            included.problem = f"cannot read a PID from {spec.target}: {error}"
            return set()
        included.problem = None
        return {pid} if pid in names else set()

    def _open_cgroups(self) -> None:
        for index, included in enumerate(self.includes):
            if included.spec.kind != "cgroup":
                continue
            path = Path(included.spec.target, "cpu.stat")
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError as error:
                included.problem = f"cannot read {path}: {error.strerror or error}"
                continue
            self._cgroup_fds[index] = fd
            self._cgroup_base[index] = _cgroup_usage(fd)

    def _cgroups(self) -> float:
        total = 0.0
        for index, fd in self._cgroup_fds.items():
            used = _cgroup_usage(fd) - self._cgroup_base[index]
            if used > self.includes[index].cpu_s:
                self.includes[index].cpu_s = used
            total += self.includes[index].cpu_s
        return total

    def finish(self) -> None:
        """A last scan, so descendants started in the last second are found."""
        if self._proc and (self.tree or self.includes):
            self._scan_due = 0.0
            self._refresh(self._now())

    def included_cpu(self) -> list[Included]:
        """What each include spec matched, and the CPU-seconds its processes added."""
        for included in self.includes:
            if included.spec.kind != "cgroup":
                included.cpu_s = sum(self.counted(pid) for pid in included.pids)
        return self.includes

    def counted(self, pid: int) -> float:
        """CPU-seconds a tracked process has added (0 for one never seen)."""
        tracked = self._tracked.get(pid)
        if tracked is not None:
            return tracked.last - tracked.base
        return self._ended.get(pid, 0.0)

    def close(self) -> None:
        if self._statm is not None:
            os.close(self._statm)
            self._statm = None
        for tracked in self._tracked.values():
            os.close(tracked.fd)
        self._tracked.clear()
        for fd in self._cgroup_fds.values():
            os.close(fd)
        self._cgroup_fds.clear()


def _has_children() -> bool:
    """Whether this process has a child, running or not yet reaped: one system call
    (waitid, which reaps nothing), where a scan reads every process in /proc. Without a
    child there is no descendant to find."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (OSError, AttributeError):  # waitid missing or refused: scan to be sure
        return True
    return True


def _cgroup_usage(fd: int) -> float:
    try:
        for line in os.pread(fd, 4096, 0).split(b"\n"):
            if line.startswith(b"usage_usec"):
                return int(line.split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return 0.0
