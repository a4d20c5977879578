"""`python -m pytest_carbon meters`: what this machine offers, what it lacks, and the fix."""

from __future__ import annotations

import argparse
import os

from pytest_carbon.carbon.model import world_average
from pytest_carbon.data.constants import constant
from pytest_carbon.meters.discovery import ESTIMABLE, MeterOptions, probe_all, release_unused
from pytest_carbon.meters.estimate import probe_estimate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_carbon meters", description=__doc__)
    parser.add_argument("--gpus", default="visible", help="GPU selection, as --carbon-gpus (default: visible)")
    args = parser.parse_args(argv)
    options = MeterOptions(gpus=args.gpus, environ=dict(os.environ))
    probes = probe_all(options)
    covered: set[str] = set()
    print("Measured sources on this machine:")
    for kind, probe in probes.items():
        mark = "yes" if probe.available else "no "
        print(f"  [{mark}] {kind}: {probe.summary}")
        if probe.available:
            covered |= probe.covers
        elif probe.fix:
            print(f"        fix: {probe.fix}")
        for note in probe.notes:
            print(f"        note: {note}")
    release_unused(probes, [])
    estimated = frozenset(ESTIMABLE - covered)
    print()
    if estimated:
        estimate = probe_estimate(estimated)
        print(f"Estimated (nothing measures {' and '.join(sorted(estimated))}):")
        print(f"  {estimate.summary}")
        for note in estimate.notes:
            print(f"  note: {note}")
        memory = constant("memory_w_per_gb")
        print(
            f"  constants: CPU watts per vCPU from pytest_carbon/data/cpu_power.csv (Cloud Carbon Footprint); "
            f"memory {memory.value} {memory.unit} ({memory.source}, {memory.year})"
        )
    else:
        print("Nothing is estimated: every component is measured.")
    world = world_average()
    print()
    print(f"Default grid intensity: {world.g_per_kwh:g} gCO2e/kWh ({world.label}); PUE 1.0 unless configured.")
    print(
        "With `pytest --carbon-meters=auto` (the default) the run uses: "
        + ", ".join([k for k, p in probes.items() if p.available] + (["estimate"] if estimated else []))
    )
    return 0
