"""From energy to carbon: grid intensity, data-centre overhead (PUE), embodied share."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import repeat
from operator import add, mul
from typing import Any

from pytest_carbon.carbon import regions
from pytest_carbon.carbon.embodied import EmbodiedModel
from pytest_carbon.carbon.limits import MAX_INTENSITY, MAX_PUE
from pytest_carbon.data.constants import constant
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.numbers import finite_number_or_text, is_number_text

INTENSITY_ACCEPTED = (
    "a number in gCO2e/kWh (e.g. 300 or '300 g/kWh'), 'world', "
    "a country code, ISO 3166 alpha-2 or alpha-3 (e.g. FR, FRA, DE, USA), "
    "a cloud region gcp:<region>, aws:<region> or azure:<region> (e.g. gcp:europe-west1, aws:eu-west-3), "
    "'auto' (detect the region from the environment), or live:<zone> (Electricity Maps, e.g. live:FR); "
    "`python -m pytest_carbon intensities` lists the table"
)
# Patterns as text: `re` compiles and caches them on first use.
_NUMBER_WITH_UNIT = r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(?:g(?:co2e?)?\s*/\s*kwh)?\s*$"
_LIVE_ZONE = r"^[A-Za-z]{2}(?:-[A-Za-z0-9]+)*$"

# Where `auto` looks, in order: the variable and the provider its value names (None: any form).
AUTO_VARIABLES: tuple[tuple[str, str | None], ...] = (
    ("PYTEST_CARBON_REGION", None),
    ("AWS_REGION", "aws"),
    ("AWS_DEFAULT_REGION", "aws"),
    ("GOOGLE_CLOUD_REGION", "gcp"),
    ("CLOUDSDK_COMPUTE_REGION", "gcp"),
    ("AZURE_REGION", "azure"),
)
# Azure App Service and Functions set REGION_NAME; alone the name is too generic to trust.
AZURE_APP_SERVICE = ("REGION_NAME", "WEBSITE_SITE_NAME")


@dataclass(frozen=True)
class Intensity:
    """Grid carbon intensity and where the figure comes from."""

    g_per_kwh: float
    label: str  # what it is, e.g. "France (FR), Ember 2024" or "world average, Ember 2024"
    kind: str  # "number", "world", "country", "gcp", "aws", "azure", "live"
    origin: str  # which setting chose it: a flag, a pyproject key, or "default"
    zone: str | None = None
    provider: str | None = None  # cloud provider, when a cloud region was given
    note: str | None = None  # e.g. how a region was mapped to a grid, or what `auto` found
    live_zone: str | None = None  # set for live:<zone> until the live value is fetched
    warning: str | None = None  # a problem to report once (e.g. live value unavailable)

    def describe(self) -> str:
        text = f"{self.g_per_kwh:g} gCO2e/kWh ({self.label}"
        if self.note:
            text += f"; {self.note}"
        return text + f"; from {self.origin})"


def _from_table(found: regions.Found, origin: str) -> Intensity:
    return Intensity(found.g_per_kwh, found.label, found.kind, origin, found.zone, found.provider, found.note)


def world_average(origin: str = "default") -> Intensity:
    return _from_table(regions.world(), origin)


def country_intensity(code: str, origin: str) -> Intensity | None:
    found = regions.country(code)
    return None if found is None else _from_table(found, origin)


def resolve_intensity(raw: object, origin: str, environ: Mapping[str, str] | None = None) -> Intensity:
    """Turn an `--carbon-intensity` / `intensity` value into an Intensity, or fail clearly.

    Makes no network request: a live:<zone> value comes back with `live_zone` set and the
    table value as a stand-in, for `fetch_live` to replace once the session starts.
    """
    if raw is None:
        return world_average()
    if isinstance(raw, bool):
        raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)
    if isinstance(raw, (int, float)):
        return _user_number(float(raw), raw, origin)
    if not isinstance(raw, str):
        raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)
    text = raw.strip()
    if match := re.match(_NUMBER_WITH_UNIT, text, re.IGNORECASE):
        return _user_number(float(match.group(1)), raw, origin)
    lowered = text.lower()
    if lowered in (*regions.WORLD_CODES, "default"):
        return world_average(origin)
    if lowered == "auto":
        return _auto(origin, os.environ if environ is None else environ)
    prefix, colon, rest = text.partition(":")
    if colon and prefix.strip().lower() in regions.PROVIDERS:
        return _cloud(prefix.strip().lower(), rest, raw, origin)
    if colon and prefix.strip().lower() == "live":
        return _live(rest.strip(), raw, origin)
    if re.fullmatch(r"[A-Za-z]{2,3}", text):
        found = country_intensity(text, origin)
        if found is not None:
            return found
        raise CarbonConfigError(
            raw,
            origin,
            f"is not a country in the bundled table{regions.suggest(text.upper(), regions.country_codes())}",
            INTENSITY_ACCEPTED,
        )
    raise CarbonConfigError(raw, origin, "is not an intensity", INTENSITY_ACCEPTED)


def _user_number(value: float, raw: object, origin: str) -> Intensity:
    if not math.isfinite(value) or value < 0:
        raise CarbonConfigError(raw, origin, "is not a non-negative finite number", INTENSITY_ACCEPTED)
    if value > MAX_INTENSITY:
        raise CarbonConfigError(
            raw,
            origin,
            f"is above {MAX_INTENSITY:,.0f} gCO2e/kWh, far more than any grid emits "
            "(the most carbon-intensive countries emit about 1,300)",
            INTENSITY_ACCEPTED,
        )
    return Intensity(value, "set by the user", "number", origin)


def _cloud(provider: str, region: str, raw: object, origin: str) -> Intensity:
    found = regions.cloud_region(provider, region)
    if found is None:
        name = regions.normalise_region(provider, region)
        hint = regions.suggest(name, regions.region_names(provider))
        raise CarbonConfigError(
            raw,
            origin,
            f"is not a region in the bundled {regions.PROVIDER_NAMES[provider]} table{hint}",
            INTENSITY_ACCEPTED,
        )
    return _from_table(found, origin)


def _live(zone: str, raw: object, origin: str) -> Intensity:
    if not re.match(_LIVE_ZONE, zone):
        raise CarbonConfigError(
            raw,
            origin,
            "does not name an Electricity Maps zone",
            "live:<zone>, e.g. live:FR, live:DE, live:US-CAL-CISO",
        )
    zone = zone.upper()
    stand_in = live_fallback(zone, origin)
    return replace(stand_in, live_zone=zone)


def live_fallback(zone: str, origin: str) -> Intensity:
    """The table value for an Electricity Maps zone: its country (zones start with one), else the world."""
    found = regions.country(zone) or regions.country(zone.split("-")[0])
    return _from_table(found or regions.world(), origin)


def _auto(origin: str, environ: Mapping[str, str]) -> Intensity:
    skipped: list[str] = []
    candidates = list(AUTO_VARIABLES)
    if environ.get(AZURE_APP_SERVICE[1]):
        candidates.append((AZURE_APP_SERVICE[0], "azure"))
    for variable, provider in candidates:
        value = environ.get(variable, "").strip()
        if not value:
            continue
        if provider is None:
            if value.lower() == "auto":
                raise CarbonConfigError(
                    value,
                    f"environment variable {variable} (read by {origin}=auto)",
                    "cannot be auto",
                    INTENSITY_ACCEPTED,
                )
            found = resolve_intensity(value, f"environment variable {variable} (read by {origin}=auto)", environ)
            return replace(found, origin=origin, note=_join(f"auto: {variable}={value}", found.note))
        table = regions.cloud_region(provider, value)
        if table is None:
            skipped.append(f"{variable}={value} is not in the bundled {regions.PROVIDER_NAMES[provider]} table")
            continue
        found = _from_table(table, origin)
        return replace(found, note=_join(f"auto: {variable}={value}", found.note), warning=_skipped_warning(skipped))
    checked = ", ".join(v for v, _ in AUTO_VARIABLES)
    found = world_average(origin)
    note = f"auto: no region in the environment (checked {checked})"
    return replace(found, note=note, warning=_skipped_warning(skipped))


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _skipped_warning(skipped: list[str]) -> str | None:
    return ("--carbon-intensity=auto ignored " + "; ".join(skipped)) if skipped else None


def fetch_live(intensity: Intensity, environ: Mapping[str, str] | None = None) -> Intensity:
    """Replace a live:<zone> stand-in with the current value, or keep it and say why."""
    zone = intensity.live_zone
    if zone is None:
        return intensity
    environ = os.environ if environ is None else environ
    from pytest_carbon.carbon import live  # only runs that ask for a live value need it

    try:
        reading = live.fetch(zone, environ)
    except Exception as error:  # never stops a run: any failure falls back to the table
        if not isinstance(error, live.LiveError):
            error = live.LiveError(f"unexpected {type(error).__name__}")
        fallback = replace(
            intensity,
            live_zone=None,
            note=_join(f"live:{zone} unavailable ({error}): table value used", intensity.note),
        )
        warning = (
            f"live intensity for zone {zone} unavailable ({error}); "
            f"used {fallback.g_per_kwh:g} gCO2e/kWh ({fallback.label}) instead"
        )
        return replace(fallback, warning=warning)
    when = f" for {reading.datetime}" if reading.datetime else ""
    age = "fetched now" if reading.age_s == 0 else f"cached {reading.age_s / 60:.0f} min ago"
    return Intensity(
        reading.g_per_kwh, f"Electricity Maps live, zone {zone}{when}", "live", intensity.origin, zone=zone, note=age
    )


def parse_pue(raw: object, origin: str) -> float:
    accepted = f"a number from 1.0 to {MAX_PUE:g} (1.0 means no data-centre overhead; typical clouds 1.1-1.2)"
    value = finite_number_or_text(raw)
    if value is None:
        problem = "is not a finite number" if is_number_text(raw) else "is not a number"
        raise CarbonConfigError(raw, origin, problem, accepted)
    if value < 1.0:
        problem = "is negative" if value < 0 else "is below 1.0, which no data centre can have"
        raise CarbonConfigError(raw, origin, problem, accepted)
    if value > MAX_PUE:
        raise CarbonConfigError(raw, origin, f"is above {MAX_PUE:g}, more overhead than any data centre has", accepted)
    return value


def choose_pue(value: float | None, origin: str, intensity: Intensity) -> tuple[float, str]:
    """The PUE and where it came from: a setting always wins, then the cloud preset, then 1.0."""
    if value is not None and origin != "default":
        return value, origin
    if intensity.provider is not None:
        preset = constant(f"pue_{intensity.provider}")
        return preset.value, f"preset for {intensity.provider} (Cloud Carbon Footprint {preset.year})"
    return 1.0, "default: no data-centre overhead assumed"


@dataclass(frozen=True)
class CarbonModel:
    """gCO2e = kWh x PUE x intensity (+ embodied share per second of use, when enabled)."""

    intensity: Intensity
    pue: float
    pue_origin: str
    embodied_g_per_s: float = 0.0  # 0 when embodied emissions are excluded
    embodied_label: str = "embodied emissions excluded"
    hardware: EmbodiedModel | None = None  # the embodied model, included or not (the SCI always uses it)
    warnings: tuple[str, ...] = ()

    def operational_g(self, energy_j: float) -> float:
        return energy_j / 3.6e6 * self.pue * self.intensity.g_per_kwh

    def embodied_g(self, duration_s: float) -> float:
        return duration_s * self.embodied_g_per_s

    def co2e_g(self, energy_j: float, duration_s: float) -> float:
        return self.operational_g(energy_j) + self.embodied_g(duration_s)

    def co2e_g_each(self, energies_j: list[float], durations_s: list[float]) -> list[float]:
        """co2e_g of many (energy, duration) pairs, computed without a Python call per pair."""
        per_j = self.pue * self.intensity.g_per_kwh / 3.6e6
        operational = map(mul, energies_j, repeat(per_j))
        return list(map(add, operational, map(mul, durations_s, repeat(self.embodied_g_per_s))))

    def sci_g(self, energy_j: float, duration_s: float) -> float:
        """SCI = (E x I + M) per R, here for one R: the embodied share always counts."""
        rate = self.hardware.g_per_s if self.hardware is not None else self.embodied_g_per_s
        return self.operational_g(energy_j) + duration_s * rate

    def describe(self) -> str:
        return f"intensity {self.intensity.describe()}; PUE {self.pue} ({self.pue_origin}); {self.embodied_label}"

    def embodied_record(self) -> dict[str, Any]:
        included = self.embodied_g_per_s > 0
        return self.hardware.to_dict(included) if self.hardware is not None else {"included": included}

    def sci_record(self, energy_j: float, duration_s: float, tests: int) -> dict[str, Any]:
        """The session's Software Carbon Intensity, one test as the functional unit."""
        session_sci = self.sci_g(energy_j, duration_s)
        return {
            "functional_unit": "one test",
            "tests": tests,
            "total_g": session_sci,
            "g_per_test": session_sci / tests if tests else None,
            "formula": "(E x I + M) / R, E = session energy x PUE, M = embodied share, R = tests",
        }
