"""The Markdown summary (GitHub job summary, or any file), rendered from the report record.

GitHub rejects a step summary over 1 MiB as a whole, so the full tests table is cut to fit
and says how many rows it left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pytest_carbon.report.comparison import describe_change, format_percent, format_value
from pytest_carbon.report.json_report import write_atomic
from pytest_carbon.report.terminal import how_measured
from pytest_carbon.report.wording import plus_minus, verdict_pair
from pytest_carbon.schema import Report, judged_tests, over_budget
from pytest_carbon.values.quantities import format_energy, format_mass

# GitHub Actions: "supports content up to a size of 1024k" per step summary.
STEP_SUMMARY_LIMIT = 1024 * 1024
# Room kept for the closing lines and for what other tools append in the same step.
RESERVE = 8 * 1024
MAX_LISTED = 50


def cell(text: object) -> str:
    """Text safe inside a table cell: no line breaks, pipes escaped, HTML neutralised."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("|", "\\|")


def code(text: str) -> str:
    """A code span in a table cell: literal text, so only line breaks and pipes need care."""
    if "`" in text:
        return cell(text)
    return "`" + text.replace("\r", " ").replace("\n", " ").replace("|", "\\|") + "`"


def table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    marks = [("---:" if a == "r" else "---") for a in (align or "l" * len(header)).ljust(len(header), "l")]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _share(part: float, total: float) -> str:
    return f"{part / total:.0%}" if total > 0 else "-"


def headline(report: Report) -> list[str]:
    session = report["session"]
    tests = report["tests"]
    kind = "measured" if session["measured"] else "estimated"
    lines = ["## Carbon footprint of the tests", ""]
    if not report["complete"]:
        lines += [f"> [!WARNING]\n> Incomplete run: {cell(report['interrupted'] or 'interrupted')}", ""]
    band = plus_minus(session.get("uncertainty"))
    lines.append(
        f"**{format_energy(session['energy_j'])}{' ' + band if band else ''}, {format_mass(session['co2e_g'])}** "
        f"for {len(tests)} tests in {session['duration_s']:.1f} s ({kind})"
    )
    lines.append("")
    breakdown = session["breakdown"]
    total = session["energy_j"]
    overhead = sum(breakdown.get(k, 0.0) for k in ("startup_j", "collection_j", "between_j", "finish_j"))
    rows = [
        ["tests", format_energy(breakdown["tests_j"]), _share(breakdown["tests_j"], total)],
        ["shared fixtures", format_energy(breakdown["fixtures_j"]), _share(breakdown["fixtures_j"], total)],
        ["pytest start-up, collection, between tests", format_energy(overhead), _share(overhead, total)],
    ]
    for meter in session["meters"]:
        label = "measured" if meter["measured"] else "estimated"
        rows.append(
            [
                f"meter {cell(meter['name'])} ({label})",
                format_energy(meter["energy_j"]),
                _share(meter["energy_j"], total),
            ]
        )
    lines += table(["where", "energy", "share"], rows, "lrr")
    return lines + [""]


def budget_section(report: Report) -> list[str]:
    session = report["session"]
    warn = session.get("action") == "warn"
    judged = judged_tests(report["tests"])
    over = over_budget(report["tests"])
    budget = session.get("budget")
    if not judged and not budget:
        return []
    lines = ["### Budgets", ""]
    if budget:
        measured, limit = verdict_pair(budget)
        if budget["exceeded"]:
            mark = ":warning:" if warn else ":x:"
            lines.append(
                f"- {mark} session over budget{' (warning only)' if warn else ''}: {measured} > {limit} (from {cell(budget['source'])})"
            )
        else:
            lines.append(
                f"- :white_check_mark: session within budget: {measured} <= {limit} (from {cell(budget['source'])})"
            )
    if judged:
        if over:
            mark = ":warning:" if warn else ":x:"
            lines.append(
                f"- {mark} {len(over)} of {len(judged)} tests with a budget are over it{' (warning only)' if warn else ''}"
            )
        else:
            lines.append(f"- :white_check_mark: all {len(judged)} tests with a budget are within it")
    if over:
        lines.append("")
        rows = []
        for test, budget in over[:MAX_LISTED]:
            measured, limit = verdict_pair(budget)
            rows.append([code(test["nodeid"]), measured, limit, cell(budget["source"])])
        lines += table(["test over budget", "measured", "limit", "from"], rows, "lrrl")
        if len(over) > MAX_LISTED:
            lines.append(f"\n... and {len(over) - MAX_LISTED} more (see the JSON report)")
    return lines + [""]


def comparison_section(report: Report) -> list[str]:
    comparison = report.get("comparison")
    if not comparison:
        return []
    unit = comparison["unit"]
    session = comparison["session"]
    lines = ["### Compared with the baseline", ""]
    lines.append(
        f"Baseline `{cell(comparison['baseline'])}`: session {describe_change(session, unit)}; "
        f"{len(comparison['new'])} new and {len(comparison['removed'])} removed tests; "
        f"changes under {cell(comparison['min_change_text'])} ignored."
    )
    lines.append("")
    if comparison["fail_pct"] is not None:
        if comparison["failed"]:
            warn = report["session"].get("action") == "warn"
            lines.append(
                f"{':warning:' if warn else ':x:'} **regression beyond {comparison['fail_pct']:g}%**"
                f"{' (warning only)' if warn else ''}"
            )
        else:
            lines.append(f":white_check_mark: no regression beyond {comparison['fail_pct']:g}%")
        lines.append("")
    changed = [t for t in comparison["tests"] if t["status"] != "same"]
    if changed:
        rows = [
            [
                code(t["name"]),
                format_value(t["before"], unit),
                format_value(t["after"], unit),
                format_percent(t["change_pct"]),
                t["status"],
            ]
            for t in changed[:MAX_LISTED]
        ]
        lines += table(["test", "before", "after", "change", "status"], rows, "lrrrl")
        if len(changed) > MAX_LISTED:
            lines.append(f"\n... and {len(changed) - MAX_LISTED} more changed tests (see the JSON report)")
        lines.append("")
    for title, names in (("New tests", comparison["new"]), ("Removed tests", comparison["removed"])):
        if names:
            shown = "<br>".join(code(n) for n in names[:MAX_LISTED])
            more = f"<br>... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            lines += [f"<details><summary>{title} ({len(names)})</summary>", "", shown + more, "", "</details>", ""]
    for note in comparison["notes"]:
        lines.append(f"- note: {cell(note)}")
    return lines + ([""] if comparison["notes"] else [])


def top_tests(report: Report, top: int) -> list[str]:
    ranked = sorted(report["tests"], key=lambda t: t["co2e_g"], reverse=True)[:top]
    if not ranked:
        return []
    rows = [
        [
            code(t["nodeid"]),
            " ".join(filter(None, [format_energy(t["energy_j"]), plus_minus(t.get("uncertainty"))])),
            format_mass(t["co2e_g"]),
            f"{t['duration_s']:.2f} s",
            t["outcome"],
        ]
        for t in ranked
    ]
    return (
        [f"### Top {len(ranked)} of {len(report['tests'])} tests", ""]
        + table(["test", "energy", "CO2e", "time", "outcome"], rows, "lrrrl")
        + [""]
    )


def fixtures_section(report: Report, top: int) -> list[str]:
    fixtures = [f for f in report["fixtures"] if f["energy_j"] > 0][:top]
    if not fixtures:
        return []
    rows = [
        [
            code(f["label"]),
            format_energy(f["energy_j"]),
            format_mass(f["co2e_g"]),
            f"{f['duration_s']:.2f} s",
            str(f["setups"]),
        ]
        for f in fixtures
    ]
    return (
        ["### Costly shared fixtures", "", "Charged to the fixture, not to the tests that use it.", ""]
        + table(["fixture", "energy", "CO2e", "time", "set up"], rows, "lrrrr")
        + [""]
    )


def all_tests_rows(report: Report) -> list[str]:
    rows = []
    for test in report["tests"]:
        phases = test["phases"]
        rows.append(
            "| "
            + " | ".join(
                [
                    code(test["nodeid"]),
                    test["outcome"],
                    *(format_energy(phases[p]["energy_j"]) for p in ("setup", "call", "teardown")),
                    format_energy(test["energy_j"]),
                    format_mass(test["co2e_g"]),
                    f"{test['duration_s']:.3f} s",
                ]
            )
            + " |"
        )
    return rows


def footer(report: Report) -> list[str]:
    session = report["session"]
    lines = [
        f"<sub>How measured: {cell(how_measured(session))}. pytest-carbon {cell(session['platform']['pytest_carbon'])}.</sub>",
        "",
    ]
    for warning in session.get("warnings", []):
        lines.append(f"> [!WARNING]\n> {cell(warning)}\n")
    return lines


def render_markdown(report: Report, top: int = 10, max_bytes: int = STEP_SUMMARY_LIMIT - RESERVE) -> str:
    """The summary, at most `max_bytes` UTF-8 bytes as long as the fixed sections fit."""
    top = max(top, 1)
    head = (
        headline(report)
        + budget_section(report)
        + comparison_section(report)
        + top_tests(report, top)
        + fixtures_section(report, top)
    )
    tail = footer(report)
    text = "\n".join(head) + "\n"
    end = "\n".join(tail) + "\n"
    rows = all_tests_rows(report)
    if not rows:
        return text + end
    header = (
        "\n".join(
            [f"<details><summary>All {len(rows)} tests</summary>", ""]
            + table(["test", "outcome", "setup", "call", "teardown", "energy", "CO2e", "time"], [], "llrrrrrr")
        )
        + "\n"
    )
    closing = "\n</details>\n\n"
    room = max_bytes - len((text + end + header + closing).encode("utf-8")) - 200  # 200: the truncation note
    kept: list[str] = []
    for row in rows:
        size = len(row.encode("utf-8")) + 1
        if size > room:
            break
        kept.append(row)
        room -= size
    note = ""
    if len(kept) < len(rows):
        note = (
            f"\n{len(rows) - len(kept)} of {len(rows)} tests left out to stay within GitHub's "
            f"1 MiB step summary limit; the JSON and HTML reports have them all.\n"
        )
    if not kept:
        return text + note + end
    return text + header + "\n".join(kept) + "\n" + note + closing + end


class MarkdownWriter:
    """Writes the summary to a file, or appends it to GitHub's step summary file."""

    def __init__(self, path: Path, top: int, append: bool = False) -> None:
        self.path = path
        self.top = top
        self.append = append
        self.__name__ = f"Markdown summary to {path}"

    def __call__(self, report: Report) -> None:
        if not self.append:
            write_atomic(self.path, render_markdown(report, self.top, max_bytes=10**12))
            return
        used = self.path.stat().st_size if self.path.exists() else 0
        text = render_markdown(report, self.top, max_bytes=STEP_SUMMARY_LIMIT - RESERVE - used)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(("\n" if used else "") + text)


def markdown_writers(md_path: Path | None, top: int, environ: Mapping[str, str]) -> list[MarkdownWriter]:
    writers = []
    if md_path is not None:
        writers.append(MarkdownWriter(md_path, top))
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        writers.append(MarkdownWriter(Path(summary), top, append=True))
    return writers
