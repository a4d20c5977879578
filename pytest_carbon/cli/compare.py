"""`python -m pytest_carbon compare OLD.json NEW.json [--fail=PCT]`: a diff table of two reports.

Exit status: 0 when there is nothing beyond --fail (or no OLD file: a first run has none),
1 when a test or the session grew by more than --fail percent, 2 for bad arguments, an
unreadable NEW report, or an OLD file that is not a usable report.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from pytest_carbon.config.settings import option_spec
from pytest_carbon.report.comparison import format_percent, format_value
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.quantities import parse_quantity
from pytest_carbon.values.text import printable
from pytest_carbon.verdicts.compare import DEFAULT_MIN, Change, compare, load_baseline, unit_of

USAGE_ERROR = 2


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m pytest_carbon compare",
        description="Compare two pytest-carbon JSON reports (--carbon-json) test by test.",
    )
    result.add_argument("old", metavar="OLD.json", help="the baseline report")
    result.add_argument("new", metavar="NEW.json", help="the report to judge")
    result.add_argument("--fail", metavar="PCT", help="exit 1 when a test or the session grew by more than PCT percent")
    result.add_argument(
        "--min",
        metavar="QUANTITY",
        help=f"noise floor: smaller changes never count (default {DEFAULT_MIN.text}); "
        "a mass such as '0.1 mg' compares gCO2e instead of energy",
    )
    result.add_argument("--all", action="store_true", help="list every test, not only those that changed")
    result.add_argument(
        "--top", metavar="N", type=int, default=30, help="list at most N tests (default 30; 0 = no limit)"
    )
    return result


def _row(name: str, before: str, after: str, change: str, percent: str, status: str) -> str:
    return f"{before:>12} {after:>12} {change:>12} {percent:>9}  {status:<9} {printable(name)}"


def _signed(value: float, unit: str) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + format_value(abs(value), unit)


def render(changes: list[Change], unit: str) -> list[str]:
    lines = [_row("test", "before", "after", "change", "%", "status")]
    for change in changes:
        lines.append(
            _row(
                change.name,
                format_value(change.before, unit),
                format_value(change.after, unit),
                _signed(change.change, unit),
                format_percent(change.percent),
                change.status,
            )
        )
    return lines


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help and on bad usage
        return int(stop.code or 0)
    try:
        fail = option_spec("compare_fail").parse(args.fail, "--fail") if args.fail is not None else None
        floor = parse_quantity(args.min, "--min") if args.min is not None else DEFAULT_MIN
    except CarbonConfigError as error:
        print(str(error).replace("pytest-carbon: ", "error: ", 1), file=err)
        return USAGE_ERROR
    new = load_baseline(args.new)
    if new.report is None:
        print(f"error: {new.warning}", file=err)
        return USAGE_ERROR
    old = load_baseline(args.old)
    if old.report is None and old.missing:
        print(f"warning: {old.warning}; nothing to compare", file=err)
        return 0
    if old.report is None:
        print(f"error: {old.warning}", file=err)
        return USAGE_ERROR
    comparison = compare(old.report, new.report, baseline=old.path, fail_pct=fail, minimum=floor)
    unit = unit_of(comparison.metric)
    session = comparison.session
    print(f"{old.path} -> {new.path}", file=out)
    print(
        f"session: {format_value(session.before, unit)} -> {format_value(session.after, unit)} "
        f"({format_percent(session.percent)}), {session.status}; changes under {floor.text} ignored",
        file=out,
    )
    listed = sorted(comparison.tests, key=lambda c: c.change, reverse=True)
    if not args.all:
        listed = [c for c in listed if c.status != "same"]
    hidden = 0
    if args.top > 0 and len(listed) > args.top:
        hidden = len(listed) - args.top
        listed = listed[: args.top]
    print("", file=out)
    if listed:
        print("\n".join(render(listed, unit)), file=out)
        if hidden:
            print(f"... and {hidden} more (--top 0 lists them all)", file=out)
    else:
        print(f"no test changed by {floor.text} or more ({len(comparison.tests)} compared)", file=out)
    for title, names in (("new", comparison.new), ("removed", comparison.removed)):
        if names:
            print(f"\n{len(names)} {title} test{'s' if len(names) != 1 else ''}:", file=out)
            print("\n".join(f"  {printable(name)}" for name in names), file=out)
    for note in comparison.notes:
        print(f"note: {note}", file=out)
    if fail is None:
        return 0
    if comparison.failed:
        regressed = [c.name for c in comparison.regressed] + (["the session"] if session.status == "regressed" else [])
        print(f"\nFAILED: grew by more than {fail:g}%: {printable(', '.join(regressed))}", file=out)
        return 1
    print(f"\nOK: nothing grew by more than {fail:g}%", file=out)
    return 0
