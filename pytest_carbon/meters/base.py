"""The meter interface: every source answers "how many joules since I started?"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

# What a channel's energy belongs to. A measured meter claims its components so that the
# estimate only covers what nothing measures.
Component = Literal["cpu", "memory", "gpu", "platform"]


class Channel(NamedTuple):
    """One cumulative energy series of a meter, e.g. RAPL package-0 or GPU 0."""

    meter: str
    name: str
    component: Component
    # Free-form details shown in reports (GPU name and UUID, RAPL zone path, ...).
    details: tuple[tuple[str, str], ...] = ()


class Meter(Protocol):
    """A source of cumulative energy per channel.

    `read()` returns joules since `start()` for each channel, in `channels` order; values
    never decrease. `poll()` is called from the sampler thread every `poll_interval_s`
    seconds (None: never) so sources that wrap or only give power stay exact. A meter may
    raise from `read()` or `poll()`; the meter set then drops it with one warning.
    """

    name: str
    measured: bool
    channels: tuple[Channel, ...]
    poll_interval_s: float | None

    def start(self) -> None: ...

    def read(self) -> tuple[float, ...]: ...

    def poll(self) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str:
        """One line for the report header: what this meter measures and how."""
        ...


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
