"""`python -m pytest_carbon budgets REPORT.json... [--margin 25%]`: budgets from observed runs.

Reads one or more JSON reports of the same suite (several runs, so their spread shows)
and prints a `[tool.pytest_carbon]` block: the session `budget`, and a
`[tool.pytest_carbon.budgets]` table for the costliest tests and files. Each limit is
the largest figure seen times (1 + margin), rounded up to two significant figures.

Exit status: 0, or 2 for bad arguments or a report that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_carbon.schema import SCHEMA
from pytest_carbon.values.numbers import non_negative
from pytest_carbon.values.quantities import format_energy, format_mass

USAGE_ERROR = 2
Metric = Literal["mass", "energy"]


class ReportError(Exception):
    """A report that cannot be used, with the file named."""


@dataclass
class Observed:
    """The figures one test (or file, or the session) had in each run."""

    values: list[float] = field(default_factory=list)

    @property
    def largest(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float | None:
        """max / min across runs; None for one run or a zero minimum."""
        low = min(self.values)
        return self.largest / low if len(self.values) > 1 and low > 0 else None


def _number(value: object, where: str) -> float:
    found = non_negative(value)
    if found is None:
        raise ReportError(f"{where} is {value!r}, not a number >= 0")
    return found


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ReportError(f"{path}: cannot be read as JSON ({type(error).__name__})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ReportError(f'{path}: not a pytest-carbon report (no "schema": "{SCHEMA}")')
    if not isinstance(data.get("session"), dict) or not isinstance(data.get("tests"), list):
        raise ReportError(f"{path}: has no session or tests")
    return data


def _counted(test: dict[str, Any], metric: Metric, where: str) -> float:
    """What a test budget counts: setup + call (teardown is not counted)."""
    key = "co2e_g" if metric == "mass" else "energy_j"
    phases = test.get("phases")
    if not isinstance(phases, dict):
        raise ReportError(f"{where} has no phases")
    total = 0.0
    for phase in ("setup", "call"):
        part = phases.get(phase)
        if not isinstance(part, dict):
            raise ReportError(f"{where} has no {phase} phase")
        total += _number(part.get(key), f"{where} {phase}.{key}")
    return total


def observe(
    reports: Iterable[tuple[Path, dict[str, Any]]], metric: Metric
) -> tuple[Observed, dict[str, Observed], dict[str, Observed]]:
    """(session, per test id, per file: the largest test of that file in each run)."""
    session = Observed()
    tests: dict[str, Observed] = {}
    files: dict[str, Observed] = {}
    key = "co2e_g" if metric == "mass" else "energy_j"
    for path, report in reports:
        session.values.append(_number(report["session"].get(key), f"{path}: session.{key}"))
        largest_in_file: dict[str, float] = {}
        for position, test in enumerate(report["tests"]):
            where = f"{path}: tests[{position}]"
            if not isinstance(test, dict) or not isinstance(test.get("nodeid"), str):
                raise ReportError(f"{where} has no node id")
            if test.get("outcome") in ("skipped", "xfailed"):
                continue
            nodeid: str = test["nodeid"]
            value = _counted(test, metric, where)
            tests.setdefault(nodeid, Observed()).values.append(value)
            file = nodeid.split("::", 1)[0]
            largest_in_file[file] = max(largest_in_file.get(file, 0.0), value)
        for file, value in largest_in_file.items():
            files.setdefault(file, Observed()).values.append(value)
    return session, tests, files


def round_up(value: float) -> float:
    """Up to two significant figures: 0.01234 -> 0.013."""
    if value <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / step - 1e-9) * step


# Units a limit is written in (parse_quantity reads them back), largest first.
LIMIT_UNITS: dict[Metric, tuple[tuple[float, str], ...]] = {
    "mass": ((1e3, "kg"), (1.0, "g"), (1e-3, "mg"), (1e-6, "ug")),
    "energy": ((3.6e6, "kWh"), (1e3, "kJ"), (1.0, "J"), (1e-3, "mJ")),
}


def quantity_text(value: float, metric: Metric) -> str:
    """A limit as a quantity string the settings accept, in a readable unit ("1.3 mg")."""
    units = LIMIT_UNITS[metric]
    factor, unit = next(((f, u) for f, u in units if value >= f), units[-1])
    return f"{float(f'{value / factor:.2g}'):g} {unit}"


def toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def glob_literal(text: str) -> str:
    """A node id as an fnmatch pattern that matches only itself ([, *, ? are wildcards)."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def _spread_note(observed: Observed) -> str:
    spread = observed.spread
    runs = len(observed.values)
    if spread is None:
        return f"{runs} run{'s' if runs != 1 else ''}"
    return f"{runs} runs, spread x{spread:.2f}"


def render(
    session: Observed,
    tests: dict[str, Observed],
    files: dict[str, Observed],
    margin: float,
    metric: Metric,
    top: int,
    top_files: int,
    sources: list[Path],
) -> str:
    factor = 1 + margin / 100
    fmt = format_mass if metric == "mass" else format_energy
    lines = [
        f"# Derived by `python -m pytest_carbon budgets` from {len(sources)} report{'s' if len(sources) != 1 else ''}"
        f" ({', '.join(p.name for p in sources[:3])}{', ...' if len(sources) > 3 else ''}):",
        f"# each limit is the largest figure seen x {factor:g} (margin {margin:g}%), rounded up to two significant figures.",
        "# Test and file limits count setup + call, as test budgets do; a file entry covers each test in that file.",
        "[tool.pytest_carbon]",
        f"budget = {toml_string(quantity_text(round_up(session.largest * factor), metric))}"
        f"  # session: largest {fmt(session.largest)}, {_spread_note(session)}",
        "",
        "[tool.pytest_carbon.budgets]",
    ]
    ranked = sorted(tests.items(), key=lambda item: statistics.median(item[1].values), reverse=True)[:top]
    for nodeid, observed in ranked:
        limit = quantity_text(round_up(observed.largest * factor), metric)
        lines.append(
            f"{toml_string(glob_literal(nodeid))} = {toml_string(limit)}"
            f"  # largest {fmt(observed.largest)}, {_spread_note(observed)}"
        )
    costly_files = sorted(files.items(), key=lambda item: statistics.median(item[1].values), reverse=True)[:top_files]
    for file, observed in costly_files:
        limit = quantity_text(round_up(observed.largest * factor), metric)
        lines.append(
            f"{toml_string(glob_literal(file) + '::*')} = {toml_string(limit)}"
            f"  # costliest test of the file: largest {fmt(observed.largest)}, {_spread_note(observed)}"
        )
    return "\n".join(lines) + "\n"


def _margin(text: str) -> float:
    value = non_negative(_float(text.strip().removesuffix("%")))
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage >= 0 (e.g. 25 or 25%)")
    return value


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def expand(paths: list[str]) -> list[Path]:
    """Files as given; a directory stands for the *.json reports in it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.glob("*.json")))
        else:
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_carbon budgets",
        description="Suggest carbon budgets for pyproject.toml from the JSON reports (--carbon-json) of a few runs.",
    )
    parser.add_argument(
        "reports", nargs="+", metavar="REPORT.json", help="reports of the same suite, or folders of them"
    )
    parser.add_argument(
        "--margin", type=_margin, default=25.0, metavar="PCT", help="headroom above the largest figure (default 25%%)"
    )
    parser.add_argument("--unit", choices=("g", "J"), default="g", help="budgets in gCO2e (default) or joules")
    parser.add_argument("--top", type=_count, default=10, metavar="N", help="costliest tests to budget (default 10)")
    parser.add_argument("--files", type=_count, default=5, metavar="N", help="costliest files to budget (default 5)")
    args = parser.parse_args(argv)
    metric: Metric = "mass" if args.unit == "g" else "energy"
    paths = expand(args.reports)
    if not paths:
        print("pytest-carbon budgets: no JSON report found in " + ", ".join(args.reports), file=sys.stderr)
        return USAGE_ERROR
    try:
        loaded = [(path, load_report(path)) for path in paths]
        session, tests, files = observe(loaded, metric)
    except ReportError as error:
        print(f"pytest-carbon budgets: {error}", file=sys.stderr)
        return USAGE_ERROR
    incomplete = [str(path) for path, report in loaded if not report.get("complete", False)]
    if incomplete:
        print("# warning: incomplete runs among the reports: " + ", ".join(incomplete), file=sys.stderr)
    sys.stdout.write(render(session, tests, files, args.margin, metric, args.top, args.files, paths))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
