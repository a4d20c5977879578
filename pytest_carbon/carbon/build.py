"""Build the session's CarbonModel: intensity (live if asked), PUE, embodied share."""

from __future__ import annotations

from pytest_carbon.carbon.embodied import parse_hardware
from pytest_carbon.carbon.model import CarbonModel, Intensity, choose_pue, fetch_live


def build_model(
    intensity: Intensity,
    pue: float | None,
    pue_origin: str,
    hardware_table: object,
    hardware_where: str,
    include_embodied: bool,
    vcpus: int,
) -> CarbonModel:
    """Runs once per session, at configure time: the only place a live value is fetched."""
    intensity = fetch_live(intensity)
    chosen_pue, chosen_origin = choose_pue(pue, pue_origin, intensity)
    hardware = parse_hardware(hardware_table, hardware_where, vcpus)
    return CarbonModel(
        intensity,
        chosen_pue,
        chosen_origin,
        embodied_g_per_s=hardware.g_per_s if include_embodied else 0.0,
        embodied_label=hardware.label(include_embodied),
        hardware=hardware,
        warnings=tuple(w for w in (intensity.warning,) if w),
    )
