"""What a run is charged: its own share of what the meters see, and guards on every figure.

Every meter sees the whole machine. For each interval between two readings, with E the
machine's energy on a channel over dt seconds, S = min(E, static power x dt) its static
part (idle power, memory held) and D = E - S its dynamic part:

    c = CPU-seconds of the run's process tree (live descendants and named processes too)
    B = busy CPU-seconds of the whole machine
    process scope:  charged = S x c / (vCPUs x dt)  +  D x min(1, c / B)
    memory held:    charged = E x min(1, resident bytes of the run's tree / bytes in use)
                    (the estimate's memory term: the run pays for what it holds)
    machine scope:  charged = E
    GPU channels:   charged = E x g (g = 1 for a GPU of the run's own; where workers
                    share it, the run's share of NVML per-process utilisation, else 1/n)

So static power is paid per CPU-second the run used (a vCPU's share of the machine's
idle power for each second it kept one busy), and dynamic power follows CPU time as in
Kepler. Neither depends on how long the run waited for a CPU: a busy neighbour that
stretches the wall time changes neither c nor the run's share of D. See
docs/methodology.md.

Guards, in both scopes: a channel that runs backwards or a clock that does is not
charged (and is reported); no interval is charged more than the channel's maximum power
(an estimate's model) times its duration: what tick-granular CPU counters put into a
short interval beyond that is carried to the next intervals that have room, up to a
cap, and what is left is reported, not charged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from itertools import accumulate, chain
from operator import sub

from pytest_carbon.meters.base import Meter
from pytest_carbon.meters.cputime import MachineCpuTime, shared_machine_cpu_time
from pytest_carbon.meters.estimate import EstimateMeter
from pytest_carbon.meters.proctree import TreeCpuTime

# Intervals at least this long (summed) give an estimate of a measured channel's idle power.
IDLE_WINDOW_S = 0.5
# Where the estimate meter is the only meter, the rest of the machine's CPU time is read
# this often (and whenever the run's other processes moved): its charge does not depend
# on it (see Attributor._record_estimate).
ESTIMATE_MACHINE_REFRESH_S = 1.0
# At most this many seconds of a channel's maximum power wait to be charged later.
CARRY_S = 0.05

Recover = Callable[[BaseException, list[float]], tuple[Callable[[], list[float]], list[float]]]


class ActiveWorkers:
    """How many workers are running now (to split a shared GPU evenly where the driver
    does not say who uses it).

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
    """Wraps a meter-set read: returns `[t, charged joules per channel]`, cumulative,
    never decreasing."""

    gpu_refresh_s = 1.0

    def __init__(
        self,
        read: Callable[[], list[float]],
        meters: Sequence[Meter],
        vcpus: int,
        workers: ActiveWorkers | None,
        gpu_exclusive: bool,
        *,
        process: bool = True,
        tree: TreeCpuTime | None = None,
        recover: Recover | None = None,
        machine_cpu: MachineCpuTime | None = None,
    ) -> None:
        self._read = read
        self._recover = recover
        self.vcpus = max(1, vcpus)
        self.process = process  # False: machine scope (guards only)
        self.workers = workers
        self.gpu_exclusive = gpu_exclusive
        self.tree = tree if tree is not None or not process else TreeCpuTime()
        channels = [channel for meter in meters for channel in meter.channels]
        count = len(channels)
        self._gpu = [channel.component == "gpu" for channel in channels]
        self._any_gpu = any(self._gpu)
        static: list[float | None] = []
        bound: list[float | None] = []
        for meter in meters:
            static.extend(_per_channel(meter.static_power_w(), len(meter.channels)))
            bound.extend(_per_channel(meter.max_power_w(), len(meter.channels)))
        self._static_known = [value is not None for value in static]
        # Idle power of channels that must infer it: the lowest seen over IDLE_WINDOW_S.
        self._static_w = [value if value is not None else math.inf for value in static]
        self._inferred = [
            i for i, known in enumerate(self._static_known) if not known and channels[i].component != "gpu"
        ]
        self._window_s = 0.0  # seconds and joules gathered towards one estimate
        self._window_j = [0.0] * count
        self.max_w = bound
        self._carry = [0.0] * count
        self._dropped_j = [0.0] * count  # beyond the cap: reported, never charged
        self._backwards: list[str] = []  # what ran backwards, for the warnings
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
        self._machine_cpu: MachineCpuTime | None = None
        if process:
            self._machine_cpu = machine_cpu if machine_cpu is not None else shared_machine_cpu_time()
        first = read()
        self.machine_start = list(first)
        self._last = list(first)  # the last reading recorded (held by recover() on a failure)
        self._t = first[0]
        # In process scope a boundary reads this process's CPU time (absolute seconds, the
        # same figure the estimate meter reads) and appends the slower-moving values as
        # held since their last refresh: the tree's other CPU time, the machine's, the
        # memory held. They are read again once one of them may have moved.
        self._own_cpu = self.tree.own_cpu if self.tree is not None else None
        self._slow: list[float] = []
        self._slow_due = -math.inf
        # per channel: (index, GPU?, static power known?, maximum power or None, the index
        # in _holders of the meter whose memory-held channel this is, or -1)
        self._holders: list[Meter] = []  # meters whose memory held is read at each boundary
        holder_of: list[int] = []
        for meter in meters:
            holds = meter.held_bytes() is not None and process
            if holds and any(channel.component == "memory" for channel in meter.channels):
                self._holders.append(meter)
            position = len(self._holders) - 1
            holder_of.extend(position if holds and c.component == "memory" else -1 for c in meter.channels)
        self._plan = [(i, self._gpu[i], self._static_known[i], limit, holder_of[i]) for i, limit in enumerate(bound)]
        self._last_own = self._own_cpu.at(first[0]) if self._own_cpu is not None else 0.0
        self._last_rest = self._last_others = 0.0
        if self.tree is not None:
            self._refresh_slow(first[0])
            self._last_rest, self._last_others = self._slow[0], self._slow[1]
        self._machine_busy_s = 0.0  # machine CPU-seconds and this run's, over the session
        self._run_cpu_s = 0.0
        self._machine_j = [0.0] * count  # the machine's energy per channel, as measured
        self._dynamic_j = [0.0] * count  # its dynamic part
        self._charged = [0.0] * count
        # Readings record() took and flush() has not converted yet, flat, each `stride`
        # floats: the meters' reading (time, joules per channel); in process scope then this
        # process's CPU-seconds, its descendants' and named processes', the rest of the
        # machine's, and where memory-held channels are: the tree's resident bytes and the
        # memory in use each memory meter holds (all as read at the boundary).
        self._stride = 1 + count + (3 + (1 + len(self._holders) if self._holders else 0) if process else 0)
        self._pending: list[float] = []
        self._sink: list[float] = []  # where flush() puts the converted readings
        self._prev = self._last + [0.0] * (self._stride - 1 - count)  # the last reading converted
        self._estimate = self._lone_estimate(meters, read)
        self._machine_due = -math.inf
        self._record: Callable[[], None] = self.record if self._estimate is None else self._record_estimate

    # -- at a boundary: read the counters ------------------------------------------------

    @property
    def defers(self) -> bool:
        """Whether a boundary may only record its counters, converted later: not where a
        shared GPU's split is read when the interval ends (the driver's figure, the
        workers alive)."""
        return not (self._any_gpu and not self.gpu_exclusive)

    def attach(self, sink: list[float]) -> None:
        """Where readings taken with record() go once converted: a timeline's flat list."""
        self._sink = sink

    def settle(self) -> None:
        """Before the session's last reading: what is held between refreshes (the rest
        of the machine's CPU time for up to a second) is read again at it."""
        self._slow_due = self._machine_due = -math.inf

    def boundary(self) -> Callable[[], None]:
        """What a boundary calls: record(), or its one-function form for the common case."""
        return self._record

    def _lone_estimate(self, meters: Sequence[Meter], read: Callable[[], list[float]]) -> EstimateMeter | None:
        """The estimate meter where it is the only meter, covers CPU and memory and a
        boundary reads its snapshot(), in process scope, sharing this process's CPU time
        and the machine's with the attribution: the case _record_estimate() handles."""
        if not self.process or self.tree is None or len(meters) != 1:
            return None
        meter = meters[0]
        if not isinstance(meter, EstimateMeter) or meter.covers != frozenset({"cpu", "memory"}):
            return None
        if (
            read != meter.snapshot_reader()
            or meter.machine_cpu is not self._machine_cpu
            or meter.own_cpu is not self._own_cpu
            or self._holders != [meter]
        ):
            return None
        return meter

    def record(self) -> None:
        """A boundary: read the meters and the CPU counters and append them, raw, to a
        flat list of floats (nothing for the garbage collector to track). The arithmetic
        happens in flush(), in order, when a figure is asked for."""
        try:
            now = self._read()
        except Exception as error:
            if self._recover is None:
                raise
            self._read, now = self._recover(error, self._last)
        self._last = now
        pending = self._pending
        pending += now
        own_cpu = self._own_cpu
        if own_cpu is None:
            return
        t = now[0]
        if t >= self._slow_due:
            self._refresh_slow(t)
        # The estimate meter has just read it for the same instant where it shares it.
        pending.append(own_cpu.last if own_cpu.last_t == t else own_cpu.at(t))
        pending += self._slow

    def _record_estimate(self) -> None:
        """record() where the estimate meter is the only meter (see _lone_estimate): the
        values snapshot() and record() would append, in one function.

        The rest of the machine's CPU time is read every ESTIMATE_MACHINE_REFRESH_S, or
        at once when the run's other processes' CPU time moved, instead of every 10 ms:
        it is the costliest read (/proc/stat), and the estimate's charge does not depend
        on it. In an interval where the run used c CPU-seconds (c_own of them in this
        process) and the rest of the machine o (the run's other processes among them),
        the estimate's dynamic energy is k x (c_own + o) and the run's share of it
        c / (c_own + o), so the run is charged k x c whatever o is, as long as o moves
        at the boundaries where the run's other processes do (a move of those reads o)
        and the meter's reading and the attribution see the same o (both take
        machine_cpu.others here)."""
        meter = self._estimate
        own_cpu = self._own_cpu
        assert meter is not None and own_cpu is not None
        now = meter.now()
        if now >= self._slow_due:
            self._refresh_estimate_slow(now, meter)
        own = own_cpu.at(now)
        memory = meter.memory_j(now)
        slow = self._slow  # the rest of the tree, the others, resident bytes, bytes held
        pending = self._pending
        pending += (now, meter.idle_w * now + meter.dynamic_w * (own + slow[1]) + meter.cpu_base, memory, own)
        pending += slow

    def _refresh_estimate_slow(self, now: float, meter: EstimateMeter) -> None:
        tree, machine = self.tree, self._machine_cpu
        assert tree is not None and machine is not None
        rest = tree.rest(now)
        if now >= self._machine_due or rest != self._slow[0]:
            machine.refresh(now)
            self._machine_due = now + ESTIMATE_MACHINE_REFRESH_S
        self._slow = [rest, machine.others, tree.rss_bytes, meter.held_bytes() or 0.0]
        self._slow_due = tree.next_refresh

    def _refresh_slow(self, t: float) -> None:
        """The values a boundary holds between refreshes: the CPU-seconds of the rest of
        the run's tree and of the rest of the machine; where memory-held channels are, the
        tree's resident bytes and the memory in use each memory meter holds."""
        tree, machine = self.tree, self._machine_cpu
        assert tree is not None and machine is not None
        slow = [tree.rest(t), machine.others_at(t)]
        if self._holders:
            slow.append(tree.rss_bytes)
            slow += [holder.held_bytes() or 0.0 for holder in self._holders]
        self._slow = slow
        self._slow_due = min(tree.next_refresh, machine.next_refresh)

    def flush(self) -> None:
        """Convert what record() took since the last flush into the attached sink."""
        pending = self._pending
        if pending:
            self._pending = []
            self._convert(pending, self._sink)

    def read(self) -> list[float]:
        """A reading now, converted: `[t, charged joules per channel]` (what was recorded
        before it goes to the sink first, so the charges stay in order)."""
        self._record()
        pending = self._pending
        stride = self._stride
        if len(pending) > stride:
            self._convert(pending[:-stride], self._sink)
        self._pending = []
        converted: list[float] = []
        self._convert(pending[-stride:], converted)
        return converted

    # -- the arithmetic, over recorded readings in order -----------------------------------

    def _convert(self, pending: list[float], sink: list[float]) -> None:
        """The readings in `pending` (record()'s layout), each as `[t, charged joules per
        channel]` appended to `sink`."""
        stride = self._stride
        # The last converted reading, then these: reading r's values at r * stride + 1 + i.
        data = self._prev + pending
        notes: list[tuple[int, int, str]] = []  # (interval, -1 for the clock or channel, what ran backwards)
        times = data[0::stride]
        durations = list(map(sub, times[1:], times[:-1]))
        if durations and min(durations) < 0:
            for r, elapsed in enumerate(durations):
                if elapsed < 0:
                    notes.append((r, -1, f"the clock ran backwards by {-elapsed:.6f} s"))
                    durations[r] = 0.0
        ends = list(accumulate(durations, initial=self._t))
        # Per interval first: the run's shares of static and dynamic power (process scope).
        shares = self._run_shares(data, times, durations, ends) if self.process else ([], [], [], [])
        # Then each channel over all the intervals (they share nothing but the above).
        columns = [self._charge_channel(data, durations, *shares, entry, notes) for entry in self._plan]
        if self._inferred and self.process:
            self._window_s = self._idle_window(durations)
        if notes:
            notes.sort(key=lambda note: note[:2])
            self._backwards.extend(note[2] for note in notes)
        sink += chain.from_iterable(zip(ends[1:], *columns))
        self._prev = data[-stride:]
        self._t = ends[-1]

    def _run_shares(
        self, data: list[float], times: list[float], durations: list[float], ends: list[float]
    ) -> tuple[list[float], list[float], list[float], list[dict[int, float]]]:
        """Per interval, from the CPU-seconds columns: the run's share of the static power
        and of the dynamic; where workers share a GPU, the even split and the driver's."""
        vcpus = self.vcpus
        stride = self._stride
        width = len(self._charged) + 1
        busy_s, run_s = self._machine_busy_s, self._run_cpu_s
        # The CPU-seconds columns, from the last values converted.
        owns = data[width::stride]
        rests = data[width + 1 :: stride]
        others_seen = data[width + 2 :: stride]
        owns[0], rests[0], others_seen[0] = self._last_own, self._last_rest, self._last_others
        static_shares: list[float] = []
        dynamic_shares: list[float] = []
        for elapsed, own, rest, others in zip(
            durations,
            map(sub, owns[1:], owns[:-1]),
            map(sub, rests[1:], rests[:-1]),
            map(sub, others_seen[1:], others_seen[:-1]),
        ):
            if rest < 0:
                rest = 0.0
            if others < 0:
                others = 0.0
            run = own + rest
            # The machine's busy time holds the run's: the tree's ticks may come before the
            # machine's, never counted as less than the run's own.
            busy = own + others if others > rest else run
            busy_s += busy
            run_s += run
            # Not capped at 1: CPU time arrives in ticks, so a short interval can hold more
            # than it could use; the maximum-power bound carries that on.
            static_shares.append(run / (vcpus * elapsed) if elapsed > 0 else 0.0)
            dynamic_shares.append(run / busy if busy > 0 else 0.0)
        self._last_own, self._last_rest, self._last_others = owns[-1], rests[-1], others_seen[-1]
        self._machine_busy_s, self._run_cpu_s = busy_s, run_s
        gpu_weights: list[float] = []
        gpu_shares: list[dict[int, float]] = []
        if self._any_gpu and not self.gpu_exclusive:
            for r, end in enumerate(ends[1:], start=1):
                if self._gpu_meters and end - self._gpu_refreshed_at >= self.gpu_refresh_s:
                    self._refresh_gpu_shares(end)
                gpu_weights.append(1.0 / self.workers.count(times[r]) if self.workers is not None else 0.0)
                gpu_shares.append(self._gpu_shares)
        return static_shares, dynamic_shares, gpu_weights, gpu_shares

    def _idle_window(self, durations: list[float]) -> float:
        """The idle-power window's seconds after these intervals (see _charge_channel)."""
        window_s = self._window_s
        for elapsed in durations:
            window_s += elapsed
            if window_s >= IDLE_WINDOW_S:
                window_s = 0.0
        return window_s

    def _charge_channel(
        self,
        data: list[float],
        durations: list[float],
        static_shares: list[float],
        dynamic_shares: list[float],
        gpu_weights: list[float],
        gpu_shares: list[dict[int, float]],
        entry: tuple[int, bool, bool, float | None, int],
        notes: list[tuple[int, int, str]],
    ) -> list[float]:
        """One channel over the intervals in `data`: its charged joules after each,
        cumulative (the run's share of them in process scope, all of them in machine scope)."""
        i, gpu, known, bound, holder = entry
        stride = self._stride
        width = len(self._charged) + 1
        column = data[1 + i :: stride]
        deltas = list(map(sub, column[1:], column[:-1]))
        if deltas and min(deltas) < 0:
            for r, delta in enumerate(deltas):
                if delta < 0:
                    notes.append((r, i, f"channel {i} ran backwards by {-delta:.6g} J"))
                    deltas[r] = 0.0
        machine_j = self._machine_j[i]
        for delta in deltas:
            machine_j += delta
        self._machine_j[i] = machine_j
        if not self.process:
            shares = deltas  # machine scope: all of it, within the bound
        elif gpu:
            if gpu_shares:
                shares = [delta * found.get(i, weight) for delta, found, weight in zip(deltas, gpu_shares, gpu_weights)]
            else:
                shares = [delta * 1.0 for delta in deltas]
        elif holder >= 0:
            # Memory held: the part the run's tree holds, for as long as it holds it.
            rss = data[stride + width + 3 :: stride]
            held = data[stride + width + 4 + holder :: stride]
            shares = [(d * (r / h) if r < h else d) if h > 0 else 0.0 for d, r, h in zip(deltas, rss, held)]
        elif i not in self._inferred:
            # Static power known (or all of it static): the same arithmetic as below, by column.
            power = self._static_w[i]
            if power == math.inf:
                statics = deltas if known else [0.0] * len(deltas)
            else:
                statics = [power * e if power * e <= d else d for e, d in zip(durations, deltas)]
            dynamic_j = self._dynamic_j[i]
            for dynamic in map(sub, deltas, statics):
                dynamic_j += dynamic
            self._dynamic_j[i] = dynamic_j
            shares = [
                static * a + (delta - static) * b
                for static, delta, a, b in zip(statics, deltas, static_shares, dynamic_shares)
            ]
        else:
            # A measured channel whose idle power is inferred as it goes.
            shares = []
            dynamic_j = self._dynamic_j[i]
            power = self._static_w[i]
            window_s, window_j = self._window_s, self._window_j[i]
            for r, delta in enumerate(deltas):
                elapsed = durations[r]
                if power == math.inf:  # no idle estimate yet
                    static = 0.0
                else:
                    static = power * elapsed
                    if static > delta:
                        static = delta
                dynamic_j += delta - static
                shares.append(static * static_shares[r] + (delta - static) * dynamic_shares[r])
                # A measured channel's idle power: the lowest mean power over IDLE_WINDOW_S.
                window_s += elapsed
                window_j += delta
                if window_s >= IDLE_WINDOW_S:
                    if window_j / window_s < power:
                        power = window_j / window_s
                    window_s = window_j = 0.0
            self._dynamic_j[i] = dynamic_j
            self._static_w[i] = power
            self._window_j[i] = window_j
        charged = self._charged[i]
        if bound is None:
            found = list(accumulate(shares, initial=charged))[1:]
        else:
            found = self._within_bound(i, shares, [bound * elapsed for elapsed in durations], bound, charged)
        if found:
            self._charged[i] = found[-1]
        return found

    def _within_bound(
        self, i: int, shares: list[float], rooms: list[float], bound: float, charged: float
    ) -> list[float]:
        """Channel i's charges, cumulative from `charged`, none above its room: stretches
        with nothing over its room and nothing carried are summed whole; elsewhere what is
        over waits for the next intervals with room, up to CARRY_S at the maximum power,
        and the rest is reported, not charged."""
        carry = self._carry[i]
        cap = bound * CARRY_S
        over = iter([r for r, (share, room) in enumerate(zip(shares, rooms)) if share > room])
        count = len(shares)
        next_over = next(over, count)
        found: list[float] = []
        append = found.append
        r = 0
        while r < count:
            if not carry and next_over > r:
                stretch = list(accumulate(shares[r:next_over], initial=charged))[1:]
                found += stretch
                charged = stretch[-1]
                r = next_over
                continue
            if next_over == r:
                next_over = next(over, count)
            share = shares[r] + carry
            room = rooms[r]
            if share > room:
                carry = share - room
                share = room
                if carry > cap:
                    self._dropped_j[i] += carry - cap
                    carry = cap
            else:
                carry = 0.0
            charged += share
            append(charged)
            r += 1
        self._carry[i] = carry
        return found

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

    # -- figures (what was recorded is converted first) ----------------------------------

    @property
    def static_w(self) -> list[float]:
        """Each channel's idle power: known, inferred so far, or inf."""
        self.flush()
        return self._static_w

    @property
    def machine_j(self) -> list[float]:
        """The machine's energy per channel, as measured."""
        self.flush()
        return self._machine_j

    @property
    def dynamic_j(self) -> list[float]:
        self.flush()
        return self._dynamic_j

    @property
    def dropped_j(self) -> list[float]:
        """Per channel: what the maximum-power bound could not place (reported, never charged)."""
        self.flush()
        return self._dropped_j

    @property
    def backwards(self) -> list[str]:
        """What ran backwards, for the warnings."""
        self.flush()
        return self._backwards

    @property
    def machine_busy_s(self) -> float:
        self.flush()
        return self._machine_busy_s

    @property
    def run_cpu_s(self) -> float:
        self.flush()
        return self._run_cpu_s

    def machine_totals(self) -> list[float]:
        """Joules per channel the whole machine used between the first and the last read."""
        return list(self.machine_j)

    def mean_power_by_meter(self, meters: Sequence[Meter]) -> dict[str, float]:
        """Each meter's mean power over the session so far (the whole machine's)."""
        self.flush()
        elapsed = self._t - self.machine_start[0]
        found: dict[str, float] = {}
        offset = 0
        for meter in meters:
            joules = sum(self.machine_j[offset : offset + len(meter.channels)])
            found[meter.name] = joules / elapsed if elapsed > 0 else 0.0
            offset += len(meter.channels)
        return found

    @property
    def saw_ticks(self) -> bool:
        """Whether tick-granular CPU time (descendants, named processes) entered the share."""
        return self.tree is not None and self.tree.ticked

    def joules_per_cpu_second(self) -> float:
        """What a CPU-second of the run cost over the session, on the non-GPU channels:
        a vCPU's share of the static power plus the dynamic energy per busy CPU-second."""
        self.flush()
        static = sum(w for w, g in zip(self.static_w, self._gpu) if not g and w != math.inf)
        dynamic = sum(j for j, g in zip(self.dynamic_j, self._gpu) if not g)
        static_memory = sum(
            j for j, g, w in zip(self.machine_j, self._gpu, self.static_w) if not g and w == math.inf
        ) / max(self._t - self.machine_start[0], 1e-9)
        per_busy = dynamic / self.machine_busy_s if self.machine_busy_s > 0 else 0.0
        return (static + static_memory) / self.vcpus + per_busy

    def warnings(self) -> list[str]:
        found = []
        if self.backwards:
            found.append(
                f"a clock or counter ran backwards {len(self.backwards)} time(s) ({self.backwards[0]}): "
                "those intervals were not charged"
            )
        dropped = sum(self.dropped_j)
        if dropped > 0:
            found.append(
                f"{dropped:.3g} J that the counters put into intervals beyond the meter's maximum power "
                "could not be placed and was not charged"
            )
        return found

    def close(self) -> None:
        if self.tree is not None:
            self.tree.close()


def included_notes(attributor: Attributor) -> list[str]:
    """The summary's word on each process named with --carbon-include."""
    if attributor.tree is None:
        return []
    notes = []
    for included in attributor.tree.included_cpu():
        what = included.spec.text
        if included.problem is not None and not included.pids and included.cpu_s == 0:
            notes.append(f"included {what}: nothing charged ({included.problem})")
        elif included.spec.kind == "cgroup":
            notes.append(f"included {what}: {included.cpu_s:.3f} CPU-s charged to the run")
        elif not included.pids:
            notes.append(f"included {what}: no such process was found, nothing charged")
        else:
            pids = ", ".join(str(pid) for pid in sorted(included.pids)[:5])
            more = f" and {len(included.pids) - 5} more" if len(included.pids) > 5 else ""
            notes.append(
                f"included {what}: process {pids}{more}, {included.cpu_s:.3f} CPU-s charged to the run "
                "and to the tests running"
            )
    return notes


def _per_channel(values: tuple[float | None, ...], count: int) -> list[float | None]:
    found = list(values)[:count]
    return found + [None] * (count - len(found))


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
