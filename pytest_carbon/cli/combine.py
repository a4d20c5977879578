"""`python -m pytest_carbon combine REPORT.json... [--json OUT] [--md OUT] [--html OUT] [--budget Q]
[--compare BASE.json --compare-fail PCT] [--top N]`: one footprint and one budget across shards.

Reads the JSON reports of a suite's shards (files, directories of them, or globs), prints
the same summary as a run, writes the combined report in the same schema, and judges the
combined session against the budget and the baseline. Settings also come from
[tool.pytest_carbon] of ./pyproject.toml (budget, compare, compare_fail, compare_min, top,
action); the command line wins.

Exit status: 0; 1 when the combined session is over its budget or regressed beyond
--compare-fail (unless action = "warn"); 4 for a bad argument or a report that cannot be
used (missing, unreadable, of another schema version, not a pytest-carbon report).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path
from typing import TextIO

from pytest_carbon.config.settings import Setting, Settings, load_settings, option_spec, shown
from pytest_carbon.report.combine import CombineError, Source, combine
from pytest_carbon.report.json_report import write_json
from pytest_carbon.report.outputs import MARKDOWN_TOP, HtmlWriter, Writer
from pytest_carbon.report.reading import ReportFileError, check_report, is_report, read_json
from pytest_carbon.report.terminal import render
from pytest_carbon.schema import Report, SettingRecord
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.verdicts.budgets import Budget, judge

USAGE_ERROR = 4
GLOB_CHARACTERS = frozenset("*?[")
# The keys a combine reads from [tool.pytest_carbon]; the others configure the runs.
COMBINE_KEYS = ("budget", "compare", "compare_fail", "compare_min", "top", "action")
FLAGS = {
    "budget": "--budget",
    "compare": "--compare",
    "compare_fail": "--compare-fail",
    "compare_min": "--compare-min",
    "top": "--top",
}


class UsageProblem(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m pytest_carbon combine",
        description="Combine the JSON reports of a suite's shards (CI jobs, machines) into one report, "
        "and judge the whole suite against one budget and one baseline.",
    )
    result.add_argument(
        "reports",
        nargs="*",
        metavar="REPORT",
        help="a JSON report (--carbon-json) of one shard, a directory of them (searched recursively), "
        "or a glob such as 'artifacts/**/carbon*.json'; a combined report may be combined again",
    )
    result.add_argument("--json", metavar="OUT", help="write the combined JSON report to OUT")
    result.add_argument("--md", metavar="OUT", help="write the Markdown summary to OUT (also to $GITHUB_STEP_SUMMARY)")
    result.add_argument("--html", metavar="OUT", help="write the HTML report to OUT")
    result.add_argument("--budget", metavar="QUANTITY", help="the suite's budget, e.g. 5g or 20Wh: exit 1 over it")
    result.add_argument("--compare", metavar="BASE.json", help="compare with this earlier report (combined or not)")
    result.add_argument(
        "--compare-fail", metavar="PCT", help="exit 1 when a test or the session grew by more than PCT percent"
    )
    result.add_argument("--compare-min", metavar="QUANTITY", help="noise floor of the comparison (default 1 J)")
    result.add_argument("--top", metavar="N", help="how many of the costliest tests the summary lists (default 5)")
    return result


def combine_settings(args: argparse.Namespace, cwd: Path) -> Settings:
    """./pyproject.toml's [tool.pytest_carbon], then the command line on top."""
    pyproject = cwd / "pyproject.toml"
    settings = load_settings({}, {}, pyproject if pyproject.is_file() else None)
    for key, flag in FLAGS.items():
        raw = getattr(args, key)
        if raw is not None:
            settings.values[key] = Setting(option_spec(key).parse(raw, flag), flag)
    return settings


def _matches(argument: str) -> tuple[list[Path], bool]:
    """The files an argument names, and whether it named them one by one (not a folder or glob)."""
    path = Path(argument)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not found:
            raise UsageProblem(f"{argument}: the directory holds no .json report")
        return found, False
    if GLOB_CHARACTERS & set(argument) and not path.exists():
        found = sorted(Path(p) for p in glob.glob(argument, recursive=True) if Path(p).is_file())
        if not found:
            raise UsageProblem(f"{argument}: no file matches")
        return found, False
    return [path], True


def gather(arguments: list[str], notes: list[str]) -> list[Source]:
    """Every report the arguments name, each file once. A JSON file found in a directory or
    by a glob that is not a pytest-carbon report (coverage.json, ...) is skipped with a
    note; one named on its own is an error, as is any report that cannot be used."""
    if not arguments:
        raise UsageProblem("no reports given: name the shards' JSON reports, a directory or a glob")
    sources: list[Source] = []
    seen: set[str] = set()
    for argument in arguments:
        paths, explicit = _matches(argument)
        for path in paths:
            key = os.path.realpath(path)
            if key in seen:
                continue
            seen.add(key)
            document = read_json(path)
            if not explicit and not is_report(document):
                notes.append(f"skipped {path}: not a pytest-carbon report")
                continue
            sources.append(Source(os.fspath(path), check_report(document, os.fspath(path))))
    if not sources:
        raise UsageProblem(f"no pytest-carbon report in {', '.join(arguments)}")
    return sources


def _settings_record(settings: Settings) -> dict[str, SettingRecord]:
    return {key: {"value": shown(settings.value(key)), "origin": settings[key].origin} for key in COMBINE_KEYS}


def _writers(args: argparse.Namespace, top: int, explicit_top: bool) -> list[Writer]:
    writers: list[Writer] = []
    if args.md or os.environ.get("GITHUB_STEP_SUMMARY"):
        from pytest_carbon.report.markdown import markdown_writers

        writers.extend(
            markdown_writers(Path(args.md) if args.md else None, top if explicit_top else MARKDOWN_TOP, os.environ)
        )
    if args.html:
        writers.append(HtmlWriter(Path(args.html)))
    return writers


def judge_and_compare(report: Report, settings: Settings) -> bool:
    """The combined session's budget verdict and comparison, into the record; whether either failed."""
    session = report["session"]
    failed = False
    budget = settings["budget"]
    if budget.value is not None:
        verdict = judge(Budget(budget.value, budget.origin), session["energy_j"], session["co2e_g"])
        session["budget"] = verdict.to_dict()
        failed = verdict.exceeded
    compare_path = settings.value("compare")
    if compare_path:
        from pytest_carbon.verdicts.compare import compare, load_baseline

        baseline = load_baseline(compare_path)
        if baseline.report is None:
            session["warnings"].append(str(baseline.warning))
        else:
            comparison = compare(
                baseline.report,
                report,
                baseline=baseline.path,
                fail_pct=settings.value("compare_fail"),
                minimum=settings.value("compare_min"),
            ).to_dict()
            report["comparison"] = comparison
            failed = failed or comparison["failed"]
    return failed


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help (0) and on bad usage
        return USAGE_ERROR if stop.code else 0
    notes: list[str] = []
    try:
        settings = combine_settings(args, Path.cwd())
        sources = gather(args.reports, notes)
        report = combine(sources, action=settings.value("action"), settings=_settings_record(settings))
    except CarbonConfigError as error:
        print(str(error).replace("pytest-carbon: ", "error: ", 1), file=err)
        return USAGE_ERROR
    except (UsageProblem, ReportFileError, CombineError) as error:
        print(f"error: {error}", file=err)
        return USAGE_ERROR
    for note in notes:
        print(f"note: {note}", file=err)
    failed = judge_and_compare(report, settings)
    shards = report["session"].get("shards", [])
    print(f"carbon: {len(sources)} reports, {len(shards)} shards combined", file=out)
    top = settings.value("top")
    for line in render(report, 0, top):
        print(line.text, file=out)
    try:
        if args.json:
            write_json(args.json, report)
        for writer in _writers(args, top, settings["top"].origin != "default"):
            writer(report)
    except OSError as error:
        print(f"error: could not write the report: {error}", file=err)
        return USAGE_ERROR
    return 1 if failed and report["session"]["action"] == "fail" else 0
