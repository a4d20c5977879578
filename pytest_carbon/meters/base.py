"""The meter interface: every source answers "how many joules since I started?".

`Meter` is a base class: the four calls every source makes (start, read, close,
describe) and the optional capabilities, each an explicit method or flag with a no-op
default, so the meter set and attribution ask a meter what it can do instead of
probing for attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

# What a channel's energy belongs to. A measured meter claims its components so that the
# estimate only covers what nothing measures.
Component = Literal["cpu", "memory", "gpu", "platform"]

# A reading: [perf_counter seconds, cumulative joules of each channel].
Snapshot = Callable[[], list[float]]


class Channel(NamedTuple):
    """One cumulative energy series of a meter, e.g. RAPL package-0 or GPU 0."""

    meter: str
    name: str
    component: Component
    # Free-form details shown in reports (GPU name and UUID, RAPL zone path, ...).
    details: tuple[tuple[str, str], ...] = ()


class Meter:
    """A source of cumulative energy per channel.

    `read()` returns joules since `start()` for each channel, in `channels` order; values
    never decrease. `poll()` is called from the sampler thread every `poll_interval_s`
    seconds (None: never) so sources that wrap or only give power stay exact. A meter may
    raise from `read()` or `poll()`; the meter set then drops it with one warning.
    """

    name: str = "meter"
    measured: bool = False
    channels: tuple[Channel, ...] = ()
    poll_interval_s: float | None = None
    # Shown as notes in the report (GPU choice, MIG, CPU recognition).
    notes: tuple[str, ...] = ()
    # Capabilities, off unless a meter says otherwise.
    reports_process_use: bool = False  # process_shares() answers for shared GPUs
    interpolates: bool = False  # interpolation_state() says how much is extrapolated

    def start(self) -> None:
        raise NotImplementedError

    def read(self) -> tuple[float, ...]:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the report header: what this meter measures and how."""
        raise NotImplementedError

    def poll(self) -> None:
        """Keep a wrapping counter or an integrated power exact (sampler thread)."""

    def close(self) -> None:
        """Release files and libraries."""

    def snapshot_reader(self) -> Snapshot | None:
        """A call giving `[t, *read()]` at once, for a meter set with this meter alone
        (the shortest path per boundary); None where the meter has none. Valid after start()."""
        return None

    def settle(self) -> None:
        """Before the session's last read: stop extrapolating and take exact values."""

    def process_shares(self, pids: Set[int]) -> list[float | None]:
        """Only where `reports_process_use`: per channel, the share of the device's recent
        use that belongs to `pids` (None where the driver does not say)."""
        return [None] * len(self.channels)

    def static_power_w(self) -> tuple[float | None, ...]:
        """Per channel: the power drawn whoever runs (idle, or memory held), in watts;
        `inf` where all of a channel's energy is static, None where it must be inferred
        from the lowest power observed (a measured counter)."""
        return (None,) * len(self.channels)

    def max_power_w(self) -> tuple[float | None, ...]:
        """Per channel: the most power the channel can draw, where the meter knows it (an
        estimate's model); an interval is never charged more than this. None: no bound."""
        return (None,) * len(self.channels)

    def held_bytes(self) -> float | None:
        """Where a channel's energy is for memory held (the estimate's memory term): the
        bytes it is for now, so a process holding part of them pays that part. None: no
        such channel."""
        return None

    def interpolation_state(self) -> tuple[int, float]:
        """Only where `interpolates`: (fewest counter updates seen on any channel, joules
        currently extrapolated over all channels)."""
        return 0, 0.0


@dataclass
class Probe:
    """What discovery found for one kind of meter on this machine."""

    kind: str
    available: bool
    summary: str
    fix: str | None = None
    meter: Meter | None = None
    covers: frozenset[str] = field(default_factory=frozenset)
    notes: list[str] = field(default_factory=list)
