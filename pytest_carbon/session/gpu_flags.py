"""Flag tests whose GPU figure leans on interpolation between counter updates.

GPU sources update every ~100 ms, so the figure of a short test is partly extrapolated
from recent power (see meters/gpu_energy.py). This listener is registered only when a
GPU meter is active; it compares the meters' update counts and extrapolated joules at a
test's start and end.
"""

from __future__ import annotations

import pytest

from pytest_carbon.ledger import TestRecord
from pytest_carbon.meters.base import Meter
from pytest_carbon.meters.meter_set import MeterSet

FLAG = "gpu-interpolated"
# A test is flagged when its GPU counters updated fewer times than this while it ran...
MIN_UPDATES = 2
# ...or when extrapolation supplies more than a quarter of its GPU energy.
MAX_SHARE = 0.25


class InterpolationFlags:
    def __init__(self, meter_set: MeterSet, meters: list[Meter], channel_indices: list[int]) -> None:
        self._set = meter_set
        self._meters = meters
        self._indices = channel_indices
        self._start: tuple[int, float] | None = None  # at the running test's start

    def _state(self) -> tuple[int, float] | None:
        states = [m.interpolation_state() for m in self._meters if m.name not in self._set.dropped]
        if not states:  # every GPU meter was dropped: nothing is interpolated any more
            return None
        return min(s[0] for s in states), sum(s[1] for s in states)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # Runs as the test's setup starts, close to where its first interval begins.
        self._start = self._state()

    def test_finished(self, record: TestRecord, report: pytest.TestReport) -> None:
        start, self._start = self._start, None
        end = self._state()
        if start is None or end is None:
            return
        updates, extra = end
        totals = record.channel_totals()
        energy = sum(totals[i] for i in self._indices)
        if updates - start[0] < MIN_UPDATES or abs(extra - start[1]) > MAX_SHARE * energy:
            record.flags = (*record.flags, FLAG)


def interpolation_flags(meter_set: MeterSet) -> InterpolationFlags | None:
    """The listener for this meter set, or None when no meter interpolates (no cost then)."""
    meters = [m for m in meter_set.meters if m.interpolates]
    if not meters:
        return None
    names = {m.name for m in meters}
    indices = [i for i, channel in enumerate(meter_set.channels) if channel.meter in names]
    return InterpolationFlags(meter_set, meters, indices)
