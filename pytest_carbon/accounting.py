"""From energy to carbon: grid intensity, data-centre overhead (PUE), embodied share."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import CarbonConfigError
from .tables import load_table

INTENSITY_ACCEPTED = (
    "a number in gCO2e/kWh (e.g. 300 or '300 g/kWh'), 'world', "
    "or a country code, ISO 3166 alpha-2 or alpha-3 (e.g. FR, FRA, DE, USA)"
)
_NUMBER_WITH_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(?:g(?:co2e?)?\s*/\s*kwh)?\s*$", re.IGNORECASE)
_COUNTRY_ALIASES = {"UK": "GB"}


@dataclass(frozen=True)
class Intensity:
    """Grid carbon intensity and where the figure comes from."""

    g_per_kwh: float
    label: str  # what it is, e.g. "France (FR), Ember 2024" or "world average, Ember 2024"
    kind: str  # "number", "country", "world", ... (extended by region support)
    origin: str  # which setting chose it: a flag, a pyproject key, or "default"
    zone: str | None = None
    provider: str | None = None  # cloud provider, when a cloud region was given
    note: str | None = None  # e.g. how a region was mapped to a grid

    def describe(self) -> str:
        text = f"{self.g_per_kwh:g} gCO2e/kWh ({self.label}"
        if self.note:
            text += f"; {self.note}"
        return text + f"; from {self.origin})"


def world_average(origin: str = "default") -> Intensity:
    row = next(r for r in load_table("grid_countries.csv").rows if r["iso2"] == "WORLD")
    return Intensity(float(row["g_per_kwh"]), f"world average, Ember {row['year']}", "world", origin, zone="WORLD")


def country_intensity(code: str, origin: str) -> Intensity | None:
    wanted = _COUNTRY_ALIASES.get(code.upper(), code.upper())
    for row in load_table("grid_countries.csv").rows:
        if wanted in (row["iso2"], row["iso3"]) and row["iso2"] != "WORLD":
            return Intensity(
                float(row["g_per_kwh"]),
                f"{row['country']} ({row['iso2']}), Ember {row['year']}",
                "country",
                origin,
                zone=row["iso2"],
            )
    return None


def resolve_intensity(raw: object, origin: str) -> Intensity:
    """Turn an `--carbon-intensity` / `intensity` value into an Intensity, or fail clearly."""
    if raw is None:
        return world_average()
    if isinstance(raw, bool):
        raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)
    if isinstance(raw, (int, float)):
        return _user_number(float(raw), raw, origin)
    if not isinstance(raw, str):
        raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)
    text = raw.strip()
    if match := _NUMBER_WITH_UNIT.match(text):
        return _user_number(float(match.group(1)), raw, origin)
    if text.lower() in ("world", "default"):
        return world_average(origin)
    if re.fullmatch(r"[A-Za-z]{2,3}", text):
        found = country_intensity(text, origin)
        if found is not None:
            return found
        raise CarbonConfigError(
            raw, origin, "is not a country in the bundled table",
            INTENSITY_ACCEPTED + "; `python -m pytest_carbon intensities` lists the table",
        )
    raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)


def _user_number(value: float, raw: object, origin: str) -> Intensity:
    if not math.isfinite(value) or value < 0:
        raise CarbonConfigError(raw, origin, "is not a non-negative finite number", INTENSITY_ACCEPTED)
    return Intensity(value, "set by the user", "number", origin)


def parse_pue(raw: object, origin: str) -> float:
    accepted = "a number >= 1.0 (1.0 means no data-centre overhead; typical clouds 1.1-1.2)"
    if isinstance(raw, bool):
        raise CarbonConfigError(raw, origin, "is not a number", accepted)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CarbonConfigError(raw, origin, "is not a number", accepted) from None
    if not math.isfinite(value) or value < 1.0:
        problem = "is negative" if value < 0 else "is below 1.0, which no data centre can have"
        raise CarbonConfigError(raw, origin, problem, accepted)
    return value


@dataclass(frozen=True)
class CarbonModel:
    """gCO2e = kWh x PUE x intensity (+ embodied share per second of use, when enabled)."""

    intensity: Intensity
    pue: float
    pue_origin: str
    embodied_g_per_s: float = 0.0  # 0 when embodied emissions are excluded
    embodied_label: str = "embodied emissions excluded"

    def operational_g(self, energy_j: float) -> float:
        return energy_j / 3.6e6 * self.pue * self.intensity.g_per_kwh

    def embodied_g(self, duration_s: float) -> float:
        return duration_s * self.embodied_g_per_s

    def co2e_g(self, energy_j: float, duration_s: float) -> float:
        return self.operational_g(energy_j) + self.embodied_g(duration_s)

    def describe(self) -> str:
        return f"intensity {self.intensity.describe()}; PUE {self.pue} ({self.pue_origin}); {self.embodied_label}"
