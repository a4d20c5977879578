"""How sure a figure is: its method, the model's relative error, and the meters' resolution.

Two kinds of error, kept apart because they act differently:

- `relative`: the method's own error (the estimate's power model; a counter's stated
  accuracy). It scales every figure of a machine alike, run after run, so it never
  makes a verdict flap: it says how far the absolute figure may be from the truth.
- `resolution_j`: what the reading timing can move a figure by (counter update periods,
  CPU-time ticks), different on every run: each figure is a difference of two readings,
  each off by up to one resolution step at the meter's power.

`band_j` = resolution_j + relative x energy is the whole "±" of an absolute figure.
Budgets and comparisons judge against the resolution (docs/methodology.md, "How sure a
figure is"). The constants and their sources are in data/constants.csv.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from pytest_carbon.data.constants import constant

# A figure whose resolution is at least this share of it is "mostly resolution".
MOSTLY_RESOLUTION = 0.5


class MeterBand(NamedTuple):
    method: str  # "estimated: ...", "measured: ..."
    relative: float  # the method's relative error
    period_s: float  # a counter's update period (0: the step is known in joules)
    step_j: float  # one reading's resolution in joules (a counter's: period x its power)


class Uncertainty(NamedTuple):
    method: str
    relative: float
    resolution_j: float
    band_j: float
    mostly_resolution: bool


@dataclass
class UncertaintyModel:
    """Per meter, its band; made when the meters start, powers filled in as they are known."""

    bands: dict[str, MeterBand] = field(default_factory=dict)
    scope: str = "process"

    @property
    def method(self) -> str:
        share = "this run's share (process tree CPU time)" if self.scope == "process" else "whole machine"
        return "; ".join(band.method for band in self.bands.values()) + f"; {share}" if self.bands else "no meter"

    def set_power(self, meter: str, watts: float) -> None:
        """A counter's mean power, once known: its step is its update period at that power."""
        band = self.bands.get(meter)
        if band is not None and band.period_s > 0 and watts >= 0:
            self.bands[meter] = band._replace(step_j=band.period_s * watts)

    def of(self, by_meter: Mapping[str, float]) -> Uncertainty:
        """The uncertainty of a figure made of `by_meter` joules (two readings apart)."""
        energy = sum(by_meter.values())
        resolution = 0.0
        relative_j = 0.0
        for name, joules in by_meter.items():
            band = self.bands.get(name)
            if band is None:
                continue
            resolution += 2 * band.step_j
            relative_j += band.relative * abs(joules)
        relative = relative_j / energy if energy > 0 else max((b.relative for b in self.bands.values()), default=0.0)
        return Uncertainty(
            self.method,
            relative,
            resolution,
            resolution + relative_j,
            energy <= 0 or resolution >= MOSTLY_RESOLUTION * energy,
        )


def estimate_band(max_w_per_vcpu: float, dynamic_w_per_vcpu: float, vcpus: int, scope: str, ticks: bool) -> MeterBand:
    """The estimate: own CPU time read at most `own_cpu_read_gap` apart (1 ms); CPU time
    of other processes (machine scope) or of descendants (process scope, when there are
    any) in 10 ms ticks, held up to one refresh (10 ms)."""
    relative = constant("estimate_relative_error").value
    if scope == "machine":
        # own reads + the machine's ticks and their refresh, at every vCPU's dynamic power
        step = 0.001 * max_w_per_vcpu + 2 * 0.01 * vcpus * dynamic_w_per_vcpu
    else:
        step = (0.001 + (0.02 if ticks else 0.0)) * max_w_per_vcpu
    return MeterBand("estimated: CPU time x power model, memory in use", relative, 0.0, step)


def counter_band(meter: str, scope: str) -> MeterBand:
    """A measured counter: its update period at its mean power, plus (process scope) the
    10 ms CPU-time ticks that split it."""
    if meter == "rapl":
        period, relative = constant("rapl_update_s").value, constant("rapl_relative_error").value
    else:  # nvml, amdsmi
        period, relative = constant("gpu_update_s").value, constant("gpu_relative_error").value
    share = 0.01 if scope == "process" and meter == "rapl" else 0.0
    return MeterBand(f"measured: {meter}", relative, period + share, 0.0)
