"""Carbon and energy quantities written as text: "5g", "0.5 kg", "300 mgCO2e", "12 Wh", "3kJ"."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.numbers import scaled

Dimension = Literal["mass", "energy"]

# Factors to the base unit of each dimension: grams of CO2e, joules.
MASS_UNITS: dict[str, float] = {
    "ug": 1e-6,
    "\u00b5g": 1e-6,  # micro sign
    "\u03bcg": 1e-6,  # greek small letter mu
    "mg": 1e-3,
    "g": 1.0,
    "kg": 1e3,
    "t": 1e6,
}
ENERGY_UNITS: dict[str, float] = {
    "uJ": 1e-6,
    "\u00b5J": 1e-6,  # micro sign
    "\u03bcJ": 1e-6,  # greek small letter mu
    "mJ": 1e-3,
    "J": 1.0,
    "kJ": 1e3,
    "MJ": 1e6,
    "mWh": 3.6,
    "Wh": 3600.0,
    "kWh": 3.6e6,
}
ACCEPTED = (
    "a number with a unit: mass ug, \u00b5g, mg, g, kg, t (optionally followed by CO2e) "
    "or energy uJ, \u00b5J, mJ, J, kJ, MJ, mWh, Wh, kWh, e.g. '0.5g', '300 mgCO2e', '12 Wh'"
)

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# Patterns as text: `re` compiles and caches them on first use, so runs without a budget
# never pay for them.
_QUANTITY = rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>[^\s\d].*?)?\s*$"
_CO2E_SUFFIX = r"\s*co2e?q?$"


@dataclass(frozen=True)
class Quantity:
    """An amount in base units: grams CO2e for mass, joules for energy."""

    amount: float
    dimension: Dimension
    text: str

    def describe(self) -> str:
        if self.dimension == "mass":
            return format_mass(self.amount)
        return format_energy(self.amount)


def parse_quantity(raw: object, origin: str) -> Quantity:
    """Parse a quantity string; `origin` names where it came from, for the error message."""
    if isinstance(raw, bool) or not isinstance(raw, str):
        hint = ""
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            hint = f' (write it as a string with a unit, e.g. "{raw}g")'
        raise CarbonConfigError(raw, origin, f"is not a quantity string{hint}", ACCEPTED)
    match = re.match(_QUANTITY, raw)
    if match is None:
        raise CarbonConfigError(raw, origin, "is not a quantity", ACCEPTED)
    number = float(match.group("number"))
    unit_text = match.group("unit")
    if not unit_text:
        raise CarbonConfigError(
            raw, origin, f"has no unit (did you mean '{raw.strip()}g' or '{raw.strip()} J'?)", ACCEPTED
        )
    if not math.isfinite(number):
        raise CarbonConfigError(raw, origin, "is not a finite number", ACCEPTED)
    if number < 0:
        raise CarbonConfigError(raw, origin, "is negative", ACCEPTED)
    if number == 0 and re.search(r"[1-9]", match.group("number").lower().partition("e")[0]):
        raise CarbonConfigError(
            raw, origin, "is too small to tell from zero (write 0 if you mean no budget at all)", ACCEPTED
        )
    unit, had_suffix = _strip_co2e(unit_text)
    if unit in MASS_UNITS:
        return Quantity(_scale(number, MASS_UNITS[unit], "g", raw, origin), "mass", raw.strip())
    if unit in ENERGY_UNITS:
        if had_suffix:
            raise CarbonConfigError(raw, origin, "puts a CO2e suffix on an energy unit", ACCEPTED)
        return Quantity(_scale(number, ENERGY_UNITS[unit], "J", raw, origin), "energy", raw.strip())
    raise CarbonConfigError(raw, origin, f"has an unknown unit {unit_text!r}{_unit_hint(unit)}", ACCEPTED)


def _scale(number: float, factor: float, base: str, raw: object, origin: str) -> float:
    """`number` in the base unit; refused when that is no longer a finite, non-zero number."""
    amount = scaled(number, factor)
    if amount is None:
        problem = "is too large" if number * factor != 0 else "is too small to tell from zero"
        raise CarbonConfigError(raw, origin, f"{problem} once converted to {base}", ACCEPTED)
    return amount


def _strip_co2e(unit_text: str) -> tuple[str, bool]:
    stripped = re.sub(_CO2E_SUFFIX, "", unit_text, flags=re.IGNORECASE)
    return stripped.strip(), stripped != unit_text


def _unit_hint(unit: str) -> str:
    for known in (*MASS_UNITS, *ENERGY_UNITS):
        if known.lower() == unit.lower():
            return f" (units are case-sensitive: did you mean {known!r}?)"
    return ""


def _unit_for(magnitude: float, steps: list[tuple[float, str]]) -> tuple[float, str]:
    for factor, unit in steps:
        if magnitude >= factor:
            return factor, unit
    return steps[-1]


def _scaled(value: float, steps: list[tuple[float, str]], figures: int = 3) -> str:
    if value == 0:
        return "0 " + next(unit for factor, unit in steps if factor == 1.0)
    factor, unit = _unit_for(abs(value), steps)
    return f"{_significant(value / factor, figures)} {unit}"


def _significant(value: float, figures: int = 3) -> str:
    """`figures` significant figures, trailing zeros kept (2.50, 12.0, 250)."""
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e6:  # beyond the largest unit: never hundreds of digits
        return f"{value:.3g}"
    digits = figures - 1 - math.floor(math.log10(magnitude))
    return f"{value:.{max(digits, 0)}f}"


MASS_STEPS = [(1e6, "tCO2e"), (1e3, "kgCO2e"), (1.0, "gCO2e"), (1e-3, "mgCO2e"), (1e-6, "\u00b5gCO2e")]
ENERGY_STEPS = [(3.6e6, "kWh"), (1e6, "MJ"), (1e3, "kJ"), (1.0, "J"), (1e-3, "mJ"), (1e-6, "\u00b5J")]


def _steps(dimension: Dimension) -> list[tuple[float, str]]:
    return MASS_STEPS if dimension == "mass" else ENERGY_STEPS


def format_mass(grams: float) -> str:
    return _scaled(grams, MASS_STEPS)


def format_energy(joules: float) -> str:
    return _scaled(joules, ENERGY_STEPS)


def format_amount(value: float, dimension: Dimension) -> str:
    return _scaled(value, _steps(dimension))


def format_pair(measured: float, limit: float, dimension: Dimension) -> tuple[str, str]:
    """Two amounts read side by side (a figure and its limit), each in its own readable
    unit: "15.3 \u00b5gCO2e" beside "5.00 gCO2e". Where three figures would show two
    different amounts alike, more figures are shown."""
    steps = _steps(dimension)
    for figures in range(3, 8):
        pair = _scaled(measured, steps, figures), _scaled(limit, steps, figures)
        if pair[0] != pair[1] or measured == limit:
            return pair
    return pair


def format_column(values: list[float], dimension: Dimension) -> list[str]:
    """A table column: every figure in the unit of the column's largest, so they compare
    at a glance ("730 mJ" above "89.3 mJ", not "0.73 J" above "89.3 mJ")."""
    steps = _steps(dimension)
    factor, unit = _unit_for(max((abs(v) for v in values), default=0.0), steps)
    texts = []
    for value in values:
        scaled = value / factor
        texts.append(f"{_significant(scaled) if abs(scaled) >= 0.001 else ('0' if value == 0 else '<0.001')} {unit}")
    return texts
