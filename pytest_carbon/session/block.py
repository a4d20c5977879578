"""`carbon.measure()`: the footprint of a block inside a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.meters.base import Channel


@dataclass
class Measurement:
    """Filled in when the `with` block ends."""

    energy_j: float = 0.0
    co2e_g: float = 0.0
    duration_s: float = 0.0
    by_meter: dict[str, float] = field(default_factory=dict)
    measured: bool = False  # True when a hardware counter contributed
    done: bool = False


class CarbonMeasurer:
    """The object behind the `carbon` fixture."""

    def __init__(
        self,
        read: Callable[[], list[float]],
        channels: tuple[Channel, ...],
        measured: dict[str, bool],
        model: CarbonModel,
    ) -> None:
        self._read = read
        self._channels = channels
        self._measured = measured
        self.model = model

    @contextmanager
    def measure(self) -> Iterator[Measurement]:
        result = Measurement()
        before = self._read()
        try:
            yield result
        finally:
            after = self._read()
            deltas = [b - a for a, b in zip(before[1:], after[1:])]
            result.duration_s = after[0] - before[0]
            result.energy_j = sum(deltas)
            result.co2e_g = self.model.co2e_g(result.energy_j, result.duration_s)
            for channel, delta in zip(self._channels, deltas):
                result.by_meter[channel.meter] = result.by_meter.get(channel.meter, 0.0) + delta
            result.measured = any(self._measured.get(name, False) for name in result.by_meter)
            result.done = True
