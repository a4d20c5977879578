"""How a comparison with a baseline is worded (terminal, Markdown, HTML, the compare command)."""

from __future__ import annotations

from pytest_carbon.schema import ChangeRecord, ComparisonRecord, Report
from pytest_carbon.values.quantities import format_energy, format_mass


def format_value(value: float, unit: str) -> str:
    return format_energy(value) if unit == "J" else format_mass(value)


def format_percent(percent: float | None) -> str:
    if percent is None:
        return "new cost"
    return f"{percent:+.0f}%" if abs(percent) >= 1 else f"{percent:+.1f}%"


def describe_change(change: ChangeRecord, unit: str) -> str:
    return (
        f"{format_value(change['before'], unit)} -> {format_value(change['after'], unit)} "
        f"({format_percent(change['change_pct'])})"
    )


def summary_lines(report: Report, limit: int = 10) -> list[tuple[str, str]]:
    """A few terminal lines (text, style) about report["comparison"], if there is one."""
    comparison: ComparisonRecord | None = report.get("comparison")
    if not comparison:
        return []
    unit = comparison["unit"]
    warn = report["session"].get("action") == "warn"
    bad = "yellow" if warn else "red"
    lines: list[tuple[str, str]] = []
    session = comparison["session"]
    head = f"compared with {comparison['baseline']}: session {describe_change(session, unit)}"
    counts = f"{len(comparison['new'])} new, {len(comparison['removed'])} removed tests"
    lines.append((f"{head}; {counts}", "bold"))
    fail = comparison["fail_pct"]
    regressed = [t for t in comparison["tests"] if t["status"] == "regressed"]
    if comparison["failed"]:
        suffix = " (warning only: --carbon-action=warn)" if warn else ""
        what = []
        if regressed:
            what.append(f"{len(regressed)} test{'s' if len(regressed) != 1 else ''}")
        if session["status"] == "regressed":
            what.append("the session")
        lines.append(
            (
                f"carbon regression: {' and '.join(what)} grew by more than {fail:g}% "
                f"(and more than {comparison['min_change_text']}){suffix}:",
                bad,
            )
        )
        if session["status"] == "regressed":
            lines.append((f"  session: {describe_change(session, unit)}", bad))
        for test in regressed[:limit]:
            lines.append((f"  {test['name']}: {describe_change(test, unit)}", bad))
        if len(regressed) > limit:
            lines.append((f"  ... and {len(regressed) - limit} more (see the JSON report)", bad))
    else:
        grew = [t for t in comparison["tests"] if t["status"] == "grew"]
        if fail is not None:
            lines.append((f"no regression beyond {fail:g}% (noise floor {comparison['min_change_text']})", "green"))
        for test in grew[: min(limit, 3)]:
            lines.append((f"  grew: {test['name']}: {describe_change(test, unit)}", ""))
    for note in comparison["notes"]:
        lines.append((f"  note: {note}", ""))
    return lines
