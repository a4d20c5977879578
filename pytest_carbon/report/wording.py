"""How verdicts are worded: one place for every renderer (terminal, Markdown, HTML, annotations)."""

from __future__ import annotations

from pytest_carbon.schema import BudgetRecord, UncertaintyRecord, budget_dimension
from pytest_carbon.values.quantities import format_energy, format_mass, format_pair


def verdict_pair(budget: BudgetRecord) -> tuple[str, str]:
    """(measured, limit), each in a unit that shows both readably."""
    return format_pair(budget["measured"], budget["limit"], budget_dimension(budget))


def verdict_comparison(budget: BudgetRecord) -> str:
    """`12.3 mg > 10 mg`, `<=` when within, and the figure's resolution when it decided:
    `10.2 mg ± 0.4 mg > 10 mg but within uncertainty`."""
    measured, limit = verdict_pair(budget)
    if budget.get("within_uncertainty"):
        band = format_pair(budget.get("band", 0.0), budget["limit"], budget_dimension(budget))[0]
        return f"{measured} ± {band} > {limit} but within uncertainty"
    return f"{measured} {'>' if budget['exceeded'] else '<='} {limit}"


def verdict_message(budget: BudgetRecord) -> str:
    lead = "carbon budget exceeded" if budget["exceeded"] else "within carbon budget"
    return f"{lead}: {verdict_comparison(budget)} (from {budget['source']})"


def plus_minus(uncertainty: UncertaintyRecord | None) -> str:
    """`± 12 mJ` (the figure's whole band), with a mark where it is mostly resolution."""
    if not uncertainty:
        return ""
    text = f"± {format_energy(uncertainty['band_j'])}"
    return text + " (mostly resolution)" if uncertainty["mostly_resolution"] else text


def budget_failure_details(
    budget: BudgetRecord,
    counted_j: float,
    counted_s: float,
    counted_g: float,
    phases: list[tuple[str, float, float]],
    by_meter: list[tuple[str, float, str]],
    model: str,
) -> str:
    """The breakdown under a test's budget failure: what was counted, by phase and meter,
    how energy became gCO2e, and where the budget came from.

    `phases`: (name, joules, seconds); `by_meter`: ("meter/channel", joules, "measured" or "estimated").
    """
    lines = [f"counted: setup + call = {format_energy(counted_j)} over {counted_s:.3f}s -> {format_mass(counted_g)}"]
    for name, energy, duration in phases:
        lines.append(f"  {name:<8} {format_energy(energy):>10}  {duration:.3f}s")
    lines.append("  (teardown is measured and reported but not counted against the budget)")
    lines.append("by meter: " + ", ".join(f"{key} {format_energy(energy)} [{kind}]" for key, energy, kind in by_meter))
    lines.append(model)
    limit = format_mass(budget["limit"]) if budget_dimension(budget) == "mass" else format_energy(budget["limit"])
    lines.append(f"budget: {limit} from {budget['source']}")
    return "\n".join(lines)
