"""Which budget applies to a test, and whether a footprint is within it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, NamedTuple

from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.numbers import non_negative, scaled
from pytest_carbon.values.quantities import Dimension, Quantity, parse_quantity

if TYPE_CHECKING:
    from pytest_carbon.schema import BudgetRecord

MARKER_UNITS = {
    "max_g": ("g", 1.0),
    "max_mg": ("mg", 1e-3),
    "max_kg": ("kg", 1e3),
    "max_j": ("J", 1.0),
    "max_wh": ("Wh", 3600.0),
}
MARKER_ACCEPTED = (
    'exactly one of: a quantity string (carbon("0.5g")) or one keyword '
    "max_g, max_mg, max_kg, max_j, max_wh with a number >= 0 (carbon(max_g=0.5))"
)


class PatternBudget(NamedTuple):
    """One entry of [tool.pytest_carbon.budgets]: node ids matching `pattern` get `limit`."""

    pattern: str
    limit: Quantity
    origin: str


@dataclass(frozen=True)
class Budget:
    limit: Quantity
    source: str  # shown in verdicts: "@pytest.mark.carbon", "--carbon-budget", ...


# How a figure near its budget is judged (docs/methodology.md, "How sure a figure is"):
# "band" fails only a figure over its limit by more than its resolution; "strict" fails
# any figure over its limit.
BUDGET_RULES = ("band", "strict")


@dataclass(frozen=True)
class Verdict:
    budget: Budget
    measured: float  # grams CO2e or joules, matching the budget's dimension
    exceeded: bool
    band: float = 0.0  # the figure's resolution, in the budget's unit
    rule: str = "band"

    @property
    def within_uncertainty(self) -> bool:
        """Over the limit, but by less than the figure's resolution: passed, and said so."""
        return not self.exceeded and self.measured > self.budget.limit.amount

    @property
    def dimension(self) -> Dimension:
        return self.budget.limit.dimension

    def to_dict(self) -> BudgetRecord:
        return {
            "limit": self.budget.limit.amount,
            "unit": "gCO2e" if self.dimension == "mass" else "J",
            "limit_text": self.budget.limit.text,
            "source": self.budget.source,
            "measured": self.measured,
            "exceeded": self.exceeded,
            "band": self.band,
            "within_uncertainty": self.within_uncertainty,
            "rule": self.rule,
        }


def judge(budget: Budget, energy_j: float, co2e_g: float, resolution_j: float = 0.0, rule: str = "band") -> Verdict:
    """Exceeded when the figure is over the limit by more than its resolution (rule
    "band"), or over it at all ("strict")."""
    if budget.limit.dimension == "mass":
        measured = co2e_g
        band = resolution_j * co2e_g / energy_j if energy_j > 0 else 0.0
    else:
        measured, band = energy_j, resolution_j
    limit = budget.limit.amount
    exceeded = measured > limit if rule == "strict" else measured - band > limit
    return Verdict(budget, measured, exceeded, band, rule)


def marker_budget(args: tuple[object, ...], kwargs: dict[str, object], nodeid: str) -> Budget:
    """Validate the arguments of a `carbon` marker and turn them into a budget."""
    origin = f"@pytest.mark.carbon on {nodeid}"
    given = len(args) + len(kwargs)
    shown = ", ".join([_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()])
    if given != 1:
        raise CarbonConfigError(f"carbon({shown})", origin, "needs exactly one limit", MARKER_ACCEPTED)
    if args:
        return Budget(parse_quantity(args[0], origin), "@pytest.mark.carbon")
    ((key, raw),) = kwargs.items()
    if key not in MARKER_UNITS:
        raise CarbonConfigError(f"carbon({shown})", origin, f"has an unknown keyword {key!r}", MARKER_ACCEPTED)
    value = non_negative(raw)
    if value is None:
        problem = "not a number >= 0"
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            problem = "a number too large for a float"
        elif isinstance(raw, float) and not math.isfinite(raw):
            problem = "not a finite number"
        raise CarbonConfigError(f"carbon({shown})", origin, f"gives {key} a value that is {problem}", MARKER_ACCEPTED)
    unit, factor = MARKER_UNITS[key]
    dimension: Dimension = "energy" if unit in ("J", "Wh") else "mass"
    amount = scaled(value, factor)
    if amount is None:
        base = "J" if dimension == "energy" else "g"
        raise CarbonConfigError(
            f"carbon({shown})", origin, f"gives {key} a value too large once converted to {base}", MARKER_ACCEPTED
        )
    return Budget(Quantity(amount, dimension, f"{raw} {unit}"), "@pytest.mark.carbon")


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text
        return "<a number too long to show>"
    return text if len(text) <= 40 else text[:39] + "\u2026"


def pattern_budget(nodeid: str, patterns: list[PatternBudget]) -> Budget | None:
    for entry in patterns:
        if fnmatchcase(nodeid, entry.pattern):
            return Budget(entry.limit, f"[tool.pytest_carbon.budgets] {entry.pattern!r}")
    return None


def unmatched_patterns(patterns: list[PatternBudget], nodeids: list[str]) -> list[PatternBudget]:
    """The patterns that match none of `nodeids` (each stops at its first match)."""
    import re
    from fnmatch import translate

    unmatched = []
    for entry in patterns:
        match = re.compile(translate(entry.pattern)).match
        if not any(map(match, nodeids)):
            unmatched.append(entry)
    return unmatched


def resolve_test_budget(
    marker: tuple[tuple[object, ...], dict[str, object]] | None,
    nodeid: str,
    patterns: list[PatternBudget],
    default: Quantity | None,
    default_origin: str,
) -> Budget | None:
    """Most specific wins: marker > pattern table > default test budget."""
    if marker is not None:
        return marker_budget(marker[0], marker[1], nodeid)
    found = pattern_budget(nodeid, patterns)
    if found is not None:
        return found
    if default is not None:
        return Budget(default, default_origin)
    return None
