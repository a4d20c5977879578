"""The Markdown summary (GitHub job summary, or any file), rendered from the report record.

GitHub rejects a step summary over 1 MiB as a whole, so the full tests table is cut to fit
and says how many rows it left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pytest_carbon.report.comparison import describe_change, format_percent, format_value
from pytest_carbon.report.hosted import MODELS_HEADER, hosted_line, hosted_notes, model_rows
from pytest_carbon.report.json_report import write_atomic
from pytest_carbon.report.terminal import costly_fixtures, group_columns, how_measured
from pytest_carbon.report.wording import plus_minus, verdict_comparison, verdict_pair
from pytest_carbon.schema import Report, judged_tests, over_budget
from pytest_carbon.values.quantities import format_column, format_energy, format_mass
from pytest_carbon.values.text import printable

# GitHub Actions: "supports content up to a size of 1024k" per step summary.
STEP_SUMMARY_LIMIT = 1024 * 1024
# Room kept for the closing lines and for what other tools append in the same step.
RESERVE = 8 * 1024
MAX_LISTED = 50
CUT_NOTE = "This summary was cut to stay within GitHub's 1 MiB step summary limit"
TOO_FULL = "pytest-carbon: no summary: this step's summary is already close to GitHub's 1 MiB limit.\n"


# Every ASCII punctuation character may carry Markdown meaning (emphasis, links, images,
# autolinks, HTML, tables, GitHub's math); CommonMark lets a backslash make any of them literal.
_PUNCTUATION = r"([!-/:-@\[-`{-~])"
# A test id longer than this is shortened in the middle: the summary has to fit GitHub's limit.
MAX_ID_CHARS = 300
MAX_WARNINGS = 20
MAX_WARNING_CHARS = 500


def _one_line(text: object) -> str:
    return printable(str(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " "))


def cell(text: object, limit: int | None = None) -> str:
    """Text shown literally: one line, every Markdown metacharacter escaped (so a test id or
    a warning can neither render a link or an image nor break a table)."""
    value = _one_line(text)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    return re.sub(_PUNCTUATION, r"\\\1", value)


def code(text: str, in_table: bool = True) -> str:
    """A code span (literal text, no Markdown inside), fenced by more backticks than the
    text holds in a row; long ids are shortened in the middle."""
    value = _one_line(text)
    if len(value) > MAX_ID_CHARS:
        half = MAX_ID_CHARS // 2
        value = value[:half] + "\u2026" + value[-(MAX_ID_CHARS - half - 1) :]
    if in_table:
        value = value.replace("|", "\\|")  # GitHub splits table cells before it reads code spans
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith(("`", " ")) or value.endswith(("`", " ")) else ""
    return f"{fence}{pad}{value}{pad}{fence}"


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
    overhead = sum(breakdown.get(k, 0.0) for k in ("startup_j", "collection_j", "between_j", "finish_j", "gc_j"))
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


def shards_section(report: Report) -> list[str]:
    """A combined report's shards, each with its own figures and settings."""
    session = report["session"]
    shards = session.get("shards")
    if not shards:
        return []
    rows = [
        [
            code(s["name"]) + ("" if s["complete"] else " (incomplete)"),
            cell(s["host"]),
            cell(f"{s['cpu_model']} x{s['vcpus']}"),
            cell(", ".join(m["name"] for m in s["meters"]) or "none"),
            f"{s['intensity_g_per_kwh']:g} g/kWh",
            f"{s['duration_s']:.1f} s",
            str(s["tests"]),
            format_energy(s["energy_j"]),
            format_mass(s["co2e_g"]),
        ]
        for s in shards
    ]
    lines = [f"### {len(shards)} shards", ""]
    lines += table(
        ["shard", "host", "CPU", "meters", "intensity", "time", "tests", "energy", "CO2e"], rows, "lllllrrrr"
    )
    lines.append("")
    for difference in session.get("shard_differences", []):
        lines.append(f"- the shards' settings differ: {cell(difference)}")
    replaced = session.get("replaced_tests", [])
    if replaced:
        lines.append(
            f"- {len(replaced)} test{' ran' if len(replaced) == 1 else 's ran'} in more than one shard and count once, from the report that ended last:"
        )
        lines += [
            f"  - {code(r['nodeid'])}: kept from {cell(r['kept'])}, replaced in {cell(', '.join(r['replaced']))}"
            for r in replaced[:MAX_LISTED]
        ]
        if len(replaced) > MAX_LISTED:
            lines.append(f"  - ... and {len(replaced) - MAX_LISTED} more (see the JSON report)")
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
        f"Baseline {code(comparison['baseline'], in_table=False)}: session {describe_change(session, unit)}; "
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
            shown = "<br>".join(code(n, in_table=False) for n in names[:MAX_LISTED])
            more = f"<br>... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            lines += [f"<details><summary>{title} ({len(names)})</summary>", "", shown + more, "", "</details>", ""]
    for note in comparison["notes"]:
        lines.append(f"- note: {cell(note)}")
    return lines + ([""] if comparison["notes"] else [])


def top_tests(report: Report, top: int) -> list[str]:
    ranked = sorted(report["tests"], key=lambda t: t["co2e_g"], reverse=True)[:top]
    if not ranked:
        return []
    energies = format_column([t["energy_j"] for t in ranked], "energy")
    masses = format_column([t["co2e_g"] for t in ranked], "mass")
    rows = [
        [
            code(t["nodeid"]),
            " ".join(filter(None, [energy, plus_minus(t.get("uncertainty"))])),
            mass,
            f"{t['duration_s']:.2f} s",
            t["outcome"],
            cell(verdict_comparison(t["budget"])) if t["budget"] is not None else "",
        ]
        for t, energy, mass in zip(ranked, energies, masses)
    ]
    return (
        [f"### Top {len(ranked)} of {len(report['tests'])} tests", ""]
        + table(["test", "energy", "CO2e", "time", "outcome", "budget counted (setup + call)"], rows, "lrrrll")
        + [""]
    )


def groups_section(report: Report, top: int) -> list[str]:
    groups = report.get("groups")
    if not groups:
        return []
    entries, energies, masses = group_columns(groups, top)
    rows = [
        [code(g["name"]), str(g["tests"]), energy, mass, f"{g['duration_s']:.2f} s", str(g["over_budget"])]
        for g, energy, mass in zip(entries, energies, masses)
    ]
    return (
        [f"### By {groups['by']} (top {len(entries)} of {len(groups['entries'])})", ""]
        + table([groups["by"], "tests", "energy", "CO2e", "time", "over budget"], rows, "lrrrrr")
        + [""]
    )


def fixtures_section(report: Report, top: int) -> list[str]:
    fixtures = costly_fixtures(report)[:top]
    if not fixtures:
        return []
    energies = format_column([f["energy_j"] for f in fixtures], "energy")
    masses = format_column([f["co2e_g"] for f in fixtures], "mass")
    rows = [
        [code(f["label"]), energy, mass, f"{f['duration_s']:.2f} s", str(f["setups"])]
        for f, energy, mass in zip(fixtures, energies, masses)
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


def hosted_section(report: Report, top: int) -> list[str]:
    llm = report["session"].get("llm")
    if llm is None or not (llm["calls"] or llm["replayed"]):
        return []
    rows = [[cell(c) for c in row] for row in model_rows(llm, top)]
    notes = [f"> [!NOTE]\n> {cell(note)}\n" for note in hosted_notes(llm)]
    return ["### Hosted models", "", cell(hosted_line(llm)), "", *table(MODELS_HEADER, rows, "llrrrrrr"), "", *notes]


def footer(report: Report) -> list[str]:
    session = report["session"]
    lines = [
        f"<sub>How measured: {cell(how_measured(session))}. pytest-carbon {cell(session['platform']['pytest_carbon'])}.</sub>",
        "",
    ]
    warnings = session.get("warnings", [])
    for warning in warnings[:MAX_WARNINGS]:
        lines.append(f"> [!WARNING]\n> {cell(warning, MAX_WARNING_CHARS)}\n")
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"> [!WARNING]\n> ... and {len(warnings) - MAX_WARNINGS} more warnings (see the JSON report)\n")
    return lines


def _fit(lines: list[str], room: int) -> tuple[list[str], int]:
    """The leading lines of a section that fit in `room` bytes, with any <details> left
    open closed again; and how many bytes they take."""
    kept: list[str] = []
    used = 0
    for line in lines:
        size = len(line.encode("utf-8")) + 1
        if used + size > room:
            break
        kept.append(line)
        used += size
    if len(kept) < len(lines):
        opened = sum(line.count("<details>") for line in kept) - sum(line.count("</details>") for line in kept)
        kept.extend(["", "</details>"] * max(opened, 0))
    return kept, used


def render_markdown(report: Report, top: int = 10, max_bytes: int = STEP_SUMMARY_LIMIT - RESERVE) -> str:
    """The summary, at most `max_bytes` UTF-8 bytes: every section counts, the tables are
    cut to fit (saying so), the closing lines are always kept."""
    top = max(top, 1)
    tail = footer(report)
    end = "\n".join(tail) + "\n"
    room = max_bytes - len(end.encode("utf-8")) - 400  # 400: the notes saying what was cut
    if room <= 0:
        return TOO_FULL
    sections = [
        headline(report),
        shards_section(report),
        budget_section(report),
        comparison_section(report),
        top_tests(report, top),
        groups_section(report, top),
        fixtures_section(report, top),
        hosted_section(report, top),
    ]
    head: list[str] = []
    cut = False
    for section in sections:
        kept, used = _fit(section, room)
        head += kept
        room -= used
        if len(kept) < len(section):
            cut = True
            break
    text = "\n".join(head) + "\n"
    rows = all_tests_rows(report)
    note = ""
    if cut:
        note = f"\n{CUT_NOTE}; the JSON and HTML reports have everything.\n"
        return text + note + end
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
    room -= len((header + closing).encode("utf-8"))
    kept, _ = _fit(rows, room)
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
        self.output: Path | None = None if append else path
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
