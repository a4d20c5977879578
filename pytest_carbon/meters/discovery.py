"""Discover the meters this machine offers and choose the ones a run uses."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pytest_carbon.meters.amd import probe_amdsmi
from pytest_carbon.meters.base import Meter, Probe
from pytest_carbon.meters.estimate import probe_estimate
from pytest_carbon.meters.nvml import probe_nvml
from pytest_carbon.meters.rapl import probe_rapl
from pytest_carbon.values.errors import CarbonConfigError

# Components the estimate can stand in for when nothing measures them.
ESTIMABLE = frozenset({"cpu", "memory"})


@dataclass(frozen=True)
class MeterOptions:
    gpus: str = "visible"  # normalised --carbon-gpus value: all, visible or "0,2"
    gpus_origin: str = "default"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


ProbeFunction = Callable[[MeterOptions], Probe]

# Measured sources, in the order they are tried. GPU meters register here too.
MEASURED_PROBES: dict[str, ProbeFunction] = {
    "rapl": lambda options: probe_rapl(options.environ.get("PYTEST_CARBON_POWERCAP_ROOT")),
    "nvml": lambda options: probe_nvml(options.gpus, options.environ, options.gpus_origin),
    "amdsmi": lambda options: probe_amdsmi(options.gpus, options.environ, options.gpus_origin),
}


def known_meters() -> list[str]:
    return [*MEASURED_PROBES, "estimate"]


def parse_meter_list(raw: object, origin: str) -> tuple[str, ...]:
    """`auto` or a comma-separated list of known meter names."""
    accepted = "auto, or a comma-separated list of " + ", ".join(known_meters())
    if isinstance(raw, list):
        names = [str(item).strip() for item in raw]
    elif isinstance(raw, str):
        names = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        raise CarbonConfigError(raw, origin, "is not a list of meters", accepted)
    if names == ["auto"]:
        return ("auto",)
    if not names:
        raise CarbonConfigError(raw, origin, "names no meter", accepted)
    for name in names:
        if name not in known_meters():
            raise CarbonConfigError(raw, origin, f"names an unknown meter {name!r}", accepted)
    return tuple(dict.fromkeys(names))


def probe_all(options: MeterOptions) -> dict[str, Probe]:
    """Probe every measured source, for diagnosis. Never raises."""
    probes: dict[str, Probe] = {}
    for kind, probe in MEASURED_PROBES.items():
        try:
            probes[kind] = probe(options)
        except CarbonConfigError:  # e.g. --carbon-gpus names a GPU that does not exist
            raise
        except Exception as error:  # a broken driver must not stop the run
            probes[kind] = Probe(kind, False, f"probe failed: {type(error).__name__}: {error}")
    return probes


@dataclass
class Selection:
    meters: list[Meter]
    probes: dict[str, Probe]
    estimated: frozenset[str]  # components covered by the estimate


def select_meters(requested: tuple[str, ...], options: MeterOptions, origin: str) -> Selection:
    probes = probe_all(options)
    auto = requested == ("auto",)
    wanted = list(MEASURED_PROBES) if auto else [name for name in requested if name != "estimate"]
    meters: list[Meter] = []
    covered: set[str] = set()
    for name in wanted:
        probe = probes[name]
        if not probe.available:
            if auto:
                continue
            fix = f"; fix: {probe.fix}" if probe.fix else ""
            raise CarbonConfigError(
                ",".join(requested),
                origin,
                f"asks for {name}, which is unavailable here: {probe.summary}{fix}",
                "auto, or meters that `python -m pytest_carbon meters` lists as available",
            )
        assert probe.meter is not None
        meters.append(probe.meter)
        covered |= probe.covers
    release_unused(probes, meters)
    estimated: frozenset[str] = frozenset()
    if auto or "estimate" in requested:
        estimated = frozenset(ESTIMABLE - covered)
        if estimated:
            probe = probe_estimate(estimated)
            probes["estimate"] = probe
            assert probe.meter is not None
            meters.append(probe.meter)
    return Selection(meters, probes, estimated)


def release_unused(probes: dict[str, Probe], used: list[Meter]) -> None:
    """Probes open libraries (NVML is initialised by its probe): close what is not used."""
    for probe in probes.values():
        if probe.meter is not None and probe.meter not in used:
            try:
                probe.meter.close()
            except Exception:
                pass
