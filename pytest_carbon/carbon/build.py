"""Build the session's CarbonModel from the settings: intensity (live if asked), PUE, embodied share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_carbon.carbon.model import CarbonModel, choose_pue, fetch_live
from pytest_carbon.carbon.embodied import TABLE, parse_hardware

if TYPE_CHECKING:
    from pytest_carbon.config.settings import Settings


def model_from_settings(settings: Settings, vcpus: int) -> CarbonModel:
    """Runs once per session, at configure time: the only place a live value is fetched."""
    intensity = fetch_live(settings.value("intensity"))
    pue, pue_origin = choose_pue(settings.value("pue"), settings["pue"].origin, intensity)
    where = f"{settings.pyproject.name if settings.pyproject else 'pyproject.toml'} [tool.pytest_carbon]"
    hardware = parse_hardware(settings.raw_table.get(TABLE), where, vcpus)
    included = bool(settings.value("embodied"))
    return CarbonModel(
        intensity,
        pue,
        pue_origin,
        embodied_g_per_s=hardware.g_per_s if included else 0.0,
        embodied_label=hardware.label(included),
        hardware=hardware,
        warnings=tuple(w for w in (intensity.warning,) if w),
    )
