"""The terminal summary section, rendered from the report record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_carbon.values.quantities import format_column, format_energy, format_mass
from pytest_carbon.values.text import printable

if TYPE_CHECKING:
    from pytest_carbon.schema import (
        FixtureRecordDict,
        GroupEntryRecord,
        GroupsRecord,
        Report,
        SessionRecord,
        ShardRecord,
        TestRecordDict,
        WorkerRecord,
    )


class Line(NamedTuple):
    text: str
    style: str = ""  # "", "red", "yellow", "green", "bold"


def header_lines(report_session: Mapping[str, Any]) -> list[str]:
    """The header, one line per part (meters; intensity; PUE; embodied), so it fits an
    80-120 column terminal; each line says where its figure came from."""
    return ["carbon: " + part for part in _how_measured_parts(report_session)]


def _how_measured_parts(session: Mapping[str, Any]) -> list[str]:
    meters = "; ".join(m["description"] for m in session["meters"]) or "no meter"
    intensity = f"intensity {session['intensity_g_per_kwh']:g} gCO2e/kWh ({session['intensity_source']}"
    if session.get("intensity_note"):
        intensity += f"; {session['intensity_note']}"
    intensity += f"; from {session['intensity_origin']})"
    return [meters, intensity, f"PUE {session['pue']} ({session['pue_source']})", session["embodied_label"]]


def how_measured(session: Mapping[str, Any]) -> str:
    """Everything in one line, for reports that wrap (Markdown, HTML)."""
    return " | ".join(_how_measured_parts(session))


def how_measured_short(session: Mapping[str, Any]) -> str:
    """The summary's last word on method, short: the details are in the header and -v."""
    meters = ", ".join(f"{m['name']} [{'measured' if m['measured'] else 'estimated'}]" for m in session["meters"])
    embodied = "embodied included" if session.get("embodied_included") else "embodied excluded"
    return (
        f"{meters or 'no meter'}; {session['intensity_g_per_kwh']:g} gCO2e/kWh ({session['intensity_source']}); "
        f"PUE {session['pue']}; {embodied}"
    )


def _measured_word(session: SessionRecord) -> str:
    measured = [m["name"] for m in session["meters"] if m["measured"]]
    estimated = session["estimated_components"]
    if measured and estimated:
        return f"measured by {', '.join(measured)}; {' and '.join(estimated)} estimated"
    if measured:
        return f"measured by {', '.join(measured)}"
    return "estimated from " + " and ".join(estimated or ["nothing"])


def _row(energy: str, co2e: str, duration: float, name: str) -> str:
    return f"  {energy:>10}  {co2e:>12}  {duration:8.2f}s  {name}"


def render(report: Report, verbosity: int, top: int) -> list[Line]:
    from pytest_carbon.report.hosted import counts
    from pytest_carbon.report.wording import plus_minus, verdict_comparison

    session = report["session"]
    tests = report["tests"]
    lines: list[Line] = []
    incomplete = "" if report["complete"] else f"  [incomplete: {report['interrupted'] or 'interrupted'}]"
    band = plus_minus(session.get("uncertainty"))
    lines.append(
        Line(
            f"session: {format_energy(session['energy_j'])}{' ' + band if band else ''}, "
            f"{format_mass(session['co2e_g'])} over {session['duration_s']:.1f}s measured, "
            f"{_measured_word(session)}{incomplete}",
            "bold",
        )
    )
    if verbosity >= 0:
        parts = []
        for meter in session["meters"]:
            channels = ", ".join(f"{c['name']} {format_energy(c['energy_j'])}" for c in meter["channels"])
            dropped = f" (dropped: {meter['dropped']})" if meter.get("dropped") else ""
            parts.append(f"{meter['name']} {format_energy(meter['energy_j'])} ({channels}){dropped}")
        label = "the machine by meter" if session.get("xdist") or "workers" in session else "by meter"
        lines.append(Line(f"  {label}: " + "; ".join(parts)))
        breakdown = session["breakdown"]
        total = session["energy_j"] or 1.0
        overhead = sum(breakdown.get(k, 0.0) for k in ("startup_j", "collection_j", "between_j", "finish_j", "gc_j"))
        where = (
            f"  where: tests {format_energy(breakdown['tests_j'])} ({breakdown['tests_j'] / total:.0%}), "
            f"shared fixtures {format_energy(breakdown['fixtures_j'])} ({breakdown['fixtures_j'] / total:.0%}), "
            f"pytest start-up, collection and between tests {format_energy(overhead)} ({overhead / total:.0%})"
        )
        if breakdown.get("gc_j"):
            where += f" (of which full garbage collections {format_energy(breakdown['gc_j'])})"
        if "controller_j" in breakdown:
            where += f", xdist controller {format_energy(breakdown['controller_j'])} ({breakdown['controller_j'] / total:.0%})"
        lines.append(Line(where))
        lines.extend(_extra_session_lines(session))
        lines.extend(hosted_lines(session, top))
        ranked = sorted(tests, key=with_hosted_g, reverse=True)
        shown = ranked if verbosity > 0 else ranked[:top]
        if shown:
            count = session.get("test_count", len(tests))
            title = "all tests" if verbosity > 0 else f"top {len(shown)} of {count} tests"
            lines.append(Line(f"{title}:{'':>3}energy         gCO2e      time  test", "bold"))
            energies = format_column([test["energy_j"] for test in shown], "energy")
            masses = format_column([test["co2e_g"] for test in shown], "mass")
            for test, energy, mass in zip(shown, energies, masses):
                flags = f"  [{', '.join(test['flags'])}]" if test["flags"] else ""
                llm = test.get("llm")
                if llm is not None and (llm["calls"] or llm["replayed"]):
                    flags += f"  [+ hosted {format_mass(llm['co2e_g'])}, {counts(llm)}]"
                band = plus_minus(test.get("uncertainty"))
                budget = test["budget"]
                counted = f"  [budget counted {verdict_comparison(budget)}]" if budget is not None else ""
                lines.append(
                    Line(
                        _row(energy, mass, test["duration_s"], test["nodeid"])
                        + flags
                        + (f"  ({band})" if band else "")
                        + counted
                    )
                )
                if verbosity > 0:
                    phases = ", ".join(
                        f"{name} {format_energy(p['energy_j'])}/{p['duration_s']:.3f}s"
                        for name, p in test["phases"].items()
                    )
                    lines.append(Line(f"{'':>40}{phases}"))
        fixtures = costly_fixtures(report)
        if fixtures:
            lines.append(Line("costly shared fixtures (charged to the fixture, not to a test):", "bold"))
            listed = fixtures[: max(top, 1) if verbosity <= 0 else None]
            energies = format_column([f["energy_j"] for f in listed], "energy")
            masses = format_column([f["co2e_g"] for f in listed], "mass")
            for fixture, energy, mass in zip(listed, energies, masses):
                lines.append(
                    Line(_row(energy, mass, fixture["duration_s"], fixture["label"]) + f"  x{fixture['setups']}")
                )
        lines.extend(group_lines(report, top if verbosity <= 0 else None))
    lines.extend(budget_lines(report))
    if report.get("comparison"):
        from pytest_carbon.report.comparison import summary_lines as comparison_summary

        lines.extend(Line(text, style) for text, style in comparison_summary(report))
    if verbosity > 0:
        lines.extend(
            Line(("how measured: " if i == 0 else "  ") + part) for i, part in enumerate(_how_measured_parts(session))
        )
    elif verbosity == 0:
        lines.append(Line("how measured: " + how_measured_short(session)))
    if verbosity >= 0:
        uncertainty = session.get("uncertainty")
        if uncertainty:
            lines.append(
                Line(
                    f"how sure: {uncertainty['method']}; method error ±{uncertainty['relative']:.0%}, "
                    "resolution per figure as shown (budgets judge against the resolution)"
                )
            )
        for note in session.get("notes", []):
            lines.append(Line(f"note: {note}"))
    for warning in session.get("warnings", []):  # some quote files or servers: shown escaped
        lines.append(Line(f"warning: {printable(warning)}", "yellow"))
    return lines


def with_hosted_g(test: TestRecordDict) -> float:
    """A test's gCO2e with what its hosted-model calls emitted: the ranking's key."""
    llm = test.get("llm")
    return test["co2e_g"] + (llm["co2e_g"] if llm is not None else 0.0)


def hosted_lines(session: SessionRecord, top: int) -> list[Line]:
    from pytest_carbon.report.hosted import MODELS_HEADER, hosted_line, model_rows

    """The hosted-models line and the costliest models, when the run made calls."""
    llm = session.get("llm")
    if llm is None or not (llm["calls"] or llm["replayed"]):
        return []
    lines = [Line("  " + hosted_line(llm))]
    rows = model_rows(llm, max(top, 1))
    widths = [max(len(str(cell)) for cell in column) for column in zip(MODELS_HEADER, *rows)]
    for index, row in enumerate([MODELS_HEADER, *rows]):
        text = "  ".join(
            cell.ljust(width) if at < 2 else cell.rjust(width) for at, (cell, width) in enumerate(zip(row, widths))
        )
        lines.append(Line("    " + text.rstrip(), "bold" if index == 0 else ""))
    return lines


def attribution_lines(session: SessionRecord) -> list[str]:
    """Machine total versus what this run is charged, for process-scope attribution."""
    machine = session["machine_energy_j"]
    attributed = session["attributed_energy_j"]
    remainder = session["unattributed_energy_j"]
    lines = [
        f"attributed to this run {format_energy(attributed)} of the machine's {format_energy(machine)}; "
        f"unattributed ({'other processes, idle time the run did not use, and workers before their measurement began' if 'workers' in session else 'other processes and idle time the run did not use'}) "
        f"{format_energy(remainder)}"
    ]
    if "remote_energy_j" in session:
        lines.append(
            f"workers on other machines {format_energy(session['remote_energy_j'])}, each measured against its own "
            "machine: part of the session, not of this machine's figures"
        )
    if machine > 0 and remainder < -0.01 * machine:
        lines.append(
            "warning: more is attributed than the machine used: with --carbon-scope=machine every "
            "worker claims the whole machine; use --carbon-scope=process under pytest-xdist"
        )
    return lines


def worker_lines(workers: list[WorkerRecord], missing_tests: list[str]) -> list[str]:
    parts = []
    for worker in workers:
        state = "crashed" if worker["crashed"] else ("incomplete" if not worker["complete"] else "")
        overhead = worker.get("overhead")
        start_up = (
            f", start-up and collection {sum(overhead[p] for p in ('startup', 'collection')):.3g} J" if overhead else ""
        )
        where = f" on {worker.get('host')}" if worker.get("remote") else ""
        parts.append(
            f"{worker['worker']}{where}: {worker['tests']} tests, {worker['energy_j']:.3g} J{start_up}{' [' + state + ']' if state else ''}"
        )
    lines = ["workers: " + "; ".join(parts)] if parts else []
    if missing_tests:
        shown = ", ".join(missing_tests[:5]) + (f" and {len(missing_tests) - 5} more" if len(missing_tests) > 5 else "")
        lines.append(
            f"missing: no carbon record arrived for {len(missing_tests)} tests (their worker went down): {shown}"
        )
    return lines


def shard_summary(shard: ShardRecord) -> str:
    """One shard of a combined report: where it ran, how it measured, what it counted."""
    meters = ", ".join(m["name"] for m in shard["meters"]) or "no meter"
    state = "" if shard["complete"] else f" [incomplete: {shard['interrupted'] or 'interrupted'}]"
    replaced = f" ({len(shard['replaced'])} replaced by a later report)" if shard["replaced"] else ""
    return (
        f"{shard['name']}: {shard['host']}, {shard['cpu_model']} x{shard['vcpus']}, {meters}, "
        f"{shard['intensity_g_per_kwh']:g} gCO2e/kWh, {shard['duration_s']:.1f}s, {shard['tests']} test{'s' if shard['tests'] != 1 else ''}{replaced}: "
        f"{format_energy(shard['energy_j'])}, {format_mass(shard['co2e_g'])}{state}"
    )


def shard_lines(session: SessionRecord) -> list[str]:
    """A combined report's shards, what differs between them, and the tests counted once."""
    shards = session.get("shards")
    if not shards:
        return []
    hosts = len({s["host"] for s in shards})
    lines = [
        f"shards: {len(shards)} on {hosts} host{'s' if hosts != 1 else ''}, "
        "each counted with its own intensity, PUE and embodied setting:"
    ]
    lines += [f"  {shard_summary(shard)}" for shard in shards]
    differences = session.get("shard_differences", [])
    if differences:
        lines.append("the shards' settings differ: " + " | ".join(differences))
    replaced = session.get("replaced_tests", [])
    if replaced:
        shown = "; ".join(
            f"{r['nodeid']} (kept from {r['kept']}, replaced in {', '.join(r['replaced'])})" for r in replaced[:5]
        )
        more = f" and {len(replaced) - 5} more" if len(replaced) > 5 else ""
        lines.append(
            f"{len(replaced)} test{' ran' if len(replaced) == 1 else 's ran'} in more than one shard, counted once from the report that ended last: {shown}{more}"
        )
    return lines


def session_attribution_lines(session: SessionRecord) -> list[str]:
    """Attribution, pytest-xdist worker and shard lines, for runs that have them."""
    lines = []
    if "machine_energy_j" in session:
        lines += attribution_lines(session)
        if "workers" in session:
            lines += worker_lines(session["workers"], session.get("missing_tests", []))
    return lines + shard_lines(session)


def _extra_session_lines(session: SessionRecord) -> list[Line]:
    return [Line("  " + text) for text in session_attribution_lines(session)]


def budget_lines(report: Report) -> list[Line]:
    from pytest_carbon.report.wording import verdict_comparison
    from pytest_carbon.schema import judged_tests, over_budget

    session = report["session"]
    warn = session["action"] == "warn"
    lines: list[Line] = []
    over = over_budget(report["tests"])
    judged = judged_tests(report["tests"])
    if judged:
        if over:
            verb = "over budget (warning only: --carbon-action=warn)" if warn else "over budget"
            lines.append(
                Line(f"{len(over)} of {len(judged)} tests with a budget are {verb}:", "yellow" if warn else "red")
            )
            for test, test_budget in over:
                lines.append(
                    Line(
                        f"  {test['nodeid']}: {verdict_comparison(test_budget)} (from {test_budget['source']})",
                        "yellow" if warn else "red",
                    )
                )
        else:
            lines.append(Line(f"all {len(judged)} tests with a budget are within it", "green"))
        close = [(test, b) for test, b in judged if b.get("within_uncertainty")]
        for test, test_budget in close:
            lines.append(Line(f"  {test['nodeid']}: {verdict_comparison(test_budget)}", "yellow"))
    budget = session.get("budget")
    if budget:
        said = f"{verdict_comparison(budget)} (from {budget['source']})"
        if budget["exceeded"]:
            if warn:
                lines.append(Line(f"session carbon budget exceeded (warning only): {said}", "yellow"))
            else:
                lines.append(Line(f"session carbon budget exceeded: {said}", "red"))
        else:
            lines.append(Line(f"session within carbon budget: {said}", "green"))
    return lines


# A shared fixture is listed when it took at least this share of the session's energy.
COSTLY_SHARE = 0.01


def costly_fixtures(report: Report) -> list[FixtureRecordDict]:
    """Shared fixtures worth a line: those with a real share of the session (at least 1%)."""
    total = report["session"]["energy_j"]
    return [f for f in report["fixtures"] if f["energy_j"] > 0 and f["energy_j"] >= COSTLY_SHARE * total]


def group_lines(report: Report, top: int | None) -> list[Line]:
    """The roll-up by file, module or directory (--carbon-group), costliest first."""
    groups = report.get("groups")
    if not groups:
        return []
    entries, energies, masses = group_columns(groups, top)
    total = len(groups["entries"])
    shown = "" if top is None or total <= len(entries) else f" (top {len(entries)} of {total})"
    lines = [Line(f"by {groups['by']}{shown}:{'':>3}energy         gCO2e   tests  {groups['by']}", "bold")]
    for entry, energy, mass in zip(entries, energies, masses):
        lines.append(Line(f"  {energy:>10}  {mass:>12}  {entry['tests']:>6}  {entry['name']}"))
    return lines


def group_columns(groups: GroupsRecord, top: int | None) -> tuple[list[GroupEntryRecord], list[str], list[str]]:
    """The roll-up's first `top` entries, with their energy and gCO2e columns as text."""
    entries = groups["entries"][:top]
    energies = format_column([g["energy_j"] for g in entries], "energy")
    masses = format_column([g["co2e_g"] for g in entries], "mass")
    return entries, energies, masses
