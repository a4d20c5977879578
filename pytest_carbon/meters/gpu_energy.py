"""Cumulative GPU joules from coarse sources: a stepping energy counter or polled power.

GPU energy counters and power readings update only every ~100 ms (A100/H100: Yang et al.,
SC'24, arXiv 2312.02741). Between two updates a read would see no change, so a test
shorter than one update would get 0 J or a whole step. Instead each read extrapolates
from the last update with the recent average power, kept monotonic; the extrapolated
part is re-synchronised at every update, and the final read of the session
(`settle()`) takes the true value, so the session total is the counter's own figure.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence, Set
from typing import Any, Literal, Protocol

from pytest_carbon.meters.base import Channel, Meter, Probe
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.meters.gpu_devices import GpuChoice, GpuDevice

# Extrapolate at most this far past the last update: beyond it the source has stalled.
HORIZON_S = 0.25
# Counter steps kept for the recent-power estimate (about 0.4 s at 100 ms per step).
RATE_WINDOW = 5
# How often the sampler looks at the source: twice per ~100 ms update period.
POLL_INTERVAL_S = 0.05
# While a read that overshot is caught up with, energy advances at this share of recent power.
CATCH_UP = 0.5
# How long settle() waits for a fresh update at the end of the session.
SETTLE_TIMEOUT_S = 0.3


class CounterTrack:
    """One energy counter (joules, monotone, stepping) read into extrapolated joules."""

    __slots__ = ("origin", "raw", "steps", "history", "rate", "reported", "extra", "unchanged_t")

    def __init__(self, raw_j: float, t: float, initial_watts: float) -> None:
        self.origin = raw_j
        self.raw = raw_j
        self.steps = 0
        self.history: deque[tuple[float, float]] = deque([(t, raw_j)], maxlen=RATE_WINDOW)
        self.rate = max(0.0, initial_watts)
        self.reported = 0.0
        self.extra = 0.0  # joules of the last reported value that came from extrapolation
        self.unchanged_t = t  # the time of the previous look at the counter

    def update(self, raw_j: float, t: float) -> float:
        if raw_j != self.raw:
            # The step happened between the last unchanged look and now: take the middle.
            step_t = (self.unchanged_t + t) * 0.5
            self.raw = raw_j
            self.steps += 1
            history = self.history
            history.append((step_t, raw_j))
            first_t, first_raw = history[0]
            if step_t > first_t:
                self.rate = max(0.0, (raw_j - first_raw) / (step_t - first_t))
        base = self.raw - self.origin
        ahead = t - self.history[-1][0]
        value = base + self.rate * (ahead if ahead < HORIZON_S else HORIZON_S)
        if value < self.reported:
            # An earlier read overshot (power fell): go on at half the recent power, so that
            # the gap closes without handing the next tests zero.
            catching_up = ahead < HORIZON_S
            value = self.reported + (CATCH_UP * self.rate * max(0.0, t - self.unchanged_t) if catching_up else 0.0)
        self.unchanged_t = t
        self.reported = value
        self.extra = value - base
        return value

    def exact(self, raw_j: float, t: float) -> float:
        self.update(raw_j, t)
        self.reported = self.raw - self.origin
        self.extra = 0.0
        return self.reported


class PowerTrack:
    """Polled power (watts) integrated by the trapezoid rule into joules."""

    __slots__ = ("t", "watts", "energy", "steps", "reported", "extra")

    def __init__(self, watts: float, t: float) -> None:
        self.t = t
        self.watts = watts
        self.energy = 0.0
        self.steps = 0
        self.reported = 0.0
        self.extra = 0.0

    def sample(self, watts: float, t: float) -> None:
        if t > self.t:
            self.energy += (self.watts + watts) * 0.5 * (t - self.t)
            self.t = t
        self.watts = watts
        self.steps += 1

    def value(self, t: float) -> float:
        ahead = t - self.t
        value = self.energy + self.watts * (ahead if ahead < HORIZON_S else HORIZON_S)
        if value < self.reported:
            value = self.reported
        self.reported = value
        self.extra = value - self.energy
        return value

    def exact(self, watts: float, t: float) -> float:
        self.sample(watts, t)
        self.reported = self.energy
        self.extra = 0.0
        return self.reported


class GpuSource(Protocol):
    """What a vendor library gives for one run: readings per chosen GPU, by position."""

    def energy_j(self, position: int) -> float: ...  # cumulative counter in joules

    def power_w(self, position: int) -> float: ...

    def close(self) -> None: ...


class GpuMeter(Meter):
    """GPUs of one vendor library as a Meter: one channel per GPU.

    `counter[i]` says whether GPU i is read through its energy counter (else its power is
    polled by the sampler thread and integrated).
    """

    measured = True
    reports_process_use = True
    interpolates = True

    def __init__(
        self,
        name: str,
        source: GpuSource,
        channels: tuple[Channel, ...],
        counter: Sequence[bool],
        description: str,
        notes: Sequence[str] = (),
        clock: Callable[[], float] = CLOCKS.now,
    ) -> None:
        self.name = name
        self.source = source
        self.channels = channels
        self.counter = list(counter)
        self.description = description
        self.notes = tuple(notes)
        self.poll_interval_s: float | None = POLL_INTERVAL_S
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: list[tuple[int, CounterTrack]] = []
        self._powers: list[tuple[int, PowerTrack]] = []
        self._values = [0.0] * len(channels)
        self._final = False

    def start(self) -> None:
        now = self._clock()
        source = self.source
        self._counters = [
            (i, CounterTrack(source.energy_j(i), now, _safe_power(source, i))) for i, c in enumerate(self.counter) if c
        ]
        self._powers = [(i, PowerTrack(source.power_w(i), now)) for i, c in enumerate(self.counter) if not c]

    def read(self) -> tuple[float, ...]:
        with self._lock:
            now = self._clock()
            values = self._values
            energy_j = self.source.energy_j
            if self._final:
                for i, track in self._counters:
                    values[i] = track.exact(energy_j(i), now)
                for i, power in self._powers:
                    values[i] = power.exact(self.source.power_w(i), now)
            else:
                for i, track in self._counters:
                    values[i] = track.update(energy_j(i), now)
                for i, power in self._powers:
                    values[i] = power.value(now)
            return tuple(values)

    def poll(self) -> None:
        with self._lock:
            now = self._clock()
            for i, track in self._counters:
                track.update(self.source.energy_j(i), now)
            for i, power in self._powers:
                power.sample(self.source.power_w(i), now)

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Make the next read exact: wait briefly for every counter to step once more, then
        stop extrapolating, so the session's last snapshot holds the sources' own figures."""
        if self._counters:
            with self._lock:
                before = [track.steps for _, track in self._counters]
            now = CLOCKS.now  # not time.monotonic: a test may have frozen it
            deadline = now() + timeout_s
            while now() < deadline:
                self.poll()
                with self._lock:
                    if all(track.steps > b for (_, track), b in zip(self._counters, before)):
                        break
                time.sleep(0.005)
        with self._lock:
            self._final = True

    def process_shares(self, pids: Set[int]) -> list[float | None]:
        """Per GPU: the share of its recent utilisation that belongs to `pids`, where the
        vendor library reports it per process (None elsewhere)."""
        share = getattr(self.source, "process_share", None)
        if share is None:
            return [None] * len(self.channels)
        return [share(i, pids) for i in range(len(self.channels))]

    def interpolation_state(self) -> tuple[int, float]:
        """(fewest updates seen on any GPU, joules currently extrapolated over all GPUs)."""
        tracks = [t for _, t in self._counters] + [p for _, p in self._powers]
        return min((t.steps for t in tracks), default=0), sum(t.extra for t in tracks)

    def close(self) -> None:
        self.source.close()

    def describe(self) -> str:
        return self.description


def _safe_power(source: GpuSource, position: int) -> float:
    """Starting power estimate for extrapolation before the counter has stepped twice."""
    try:
        return source.power_w(position)
    except Exception:
        return 0.0


Reading = Literal["counter", "power"]


def gpu_probe(
    kind: str,
    library: str,
    choice: GpuChoice,
    notes: list[str],
    handles: Mapping[int, Any],
    reading: Callable[[Any], Reading | None],
    make_source: Callable[[list[Any]], GpuSource],
    shutdown: Callable[[], None],
) -> Probe:
    """The probe result for the chosen GPUs of one library: a GpuMeter, or why not."""
    chosen: list[tuple[GpuDevice, Any, bool]] = []
    for device in choice.devices:
        handle = handles[device.index]
        how = reading(handle)
        if how is None:
            notes.append(
                f"GPU {device.index} ({device.name}) reports neither energy nor power through {library} and is not metered"
            )
            continue
        chosen.append((device, handle, how == "counter"))
    if not chosen:
        shutdown()
        return Probe(kind, False, f"the selected GPUs report neither energy nor power through {library}", notes=notes)
    meter = GpuMeter(
        kind,
        make_source([handle for _, handle, _ in chosen]),
        tuple(gpu_channel(kind, device, counter, choice) for device, _, counter in chosen),
        [counter for _, _, counter in chosen],
        describe_gpus(kind, chosen, choice),
        notes,
    )
    names = ", ".join(f"GPU {d.index} {d.name}" for d, _, _ in chosen)
    return Probe(kind, True, f"{library} reads {names}", meter=meter, covers=frozenset({"gpu"}), notes=notes)


def gpu_channel(meter: str, device: GpuDevice, counter: bool, choice: GpuChoice) -> Channel:
    details = [
        ("name", device.name),
        ("uuid", device.uuid),
        ("index", str(device.index)),
        ("reading", "energy counter" if counter else f"power polled every {POLL_INTERVAL_S * 1000:.0f} ms, integrated"),
    ]
    mig = choice.mig.get(device.index)
    if mig:
        details.append(("mig", f"{', '.join(mig)}: metered through the whole parent GPU"))
    return Channel(meter, f"GPU {device.index} {device.name}", "gpu", tuple(details))


def describe_gpus(meter: str, chosen: list[tuple[GpuDevice, Any, bool]], choice: GpuChoice) -> str:
    parts = []
    for device, _, counter in chosen:
        how = "energy counter" if counter else "power polling"
        mig = " for its MIG instances" if choice.mig.get(device.index) else ""
        parts.append(f"GPU {device.index} {device.name} ({device.uuid[:12]}) {how}{mig}")
    return f"{meter} " + ", ".join(parts) + " [measured]"
