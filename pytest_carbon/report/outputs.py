"""Which reporters a run gets, from its settings and environment; JUnit properties per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.verdicts.budgets import Budget
from pytest_carbon.ledger import TestRecord
from pytest_carbon.values.quantities import Quantity
from pytest_carbon.config.settings import Settings
from pytest_carbon.report.json_report import write_atomic

MARKDOWN_TOP = 10  # more room than the terminal's default 5: a summary page is read, not scrolled past
Writer = Callable[[dict[str, Any]], None]


def resolve(rootpath: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else rootpath / path


def shown(value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, Quantity):
        return value.text
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    describe = getattr(value, "describe", None)
    return describe() if callable(describe) else str(value)


def settings_record(settings: Settings) -> dict[str, dict[str, str]]:
    """Every setting as text with where it came from, for the reports' provenance block."""
    record = {key: {"value": shown(setting.value), "origin": setting.origin} for key, setting in settings.values.items()}
    for pattern in settings.patterns:
        record[f"budgets {pattern.pattern!r}"] = {"value": pattern.limit.text, "origin": pattern.origin}
    return record


class HtmlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.__name__ = f"HTML report to {path}"

    def __call__(self, report: dict[str, Any]) -> None:
        from pytest_carbon.report.html import render_html  # imported when a report is written, not at start-up

        write_atomic(self.path, render_html(report))


def report_writers(settings: Settings, rootpath: Path, environ: Mapping[str, str] = os.environ) -> list[Writer]:
    # Each writer's module is imported only by runs that write it: start-up stays short.
    writers: list[Writer] = []
    md = settings.value("md")
    if md or environ.get("GITHUB_STEP_SUMMARY"):
        from pytest_carbon.report.markdown import markdown_writers

        top = settings.value("top") if settings["top"].origin != "default" else MARKDOWN_TOP
        writers.extend(markdown_writers(resolve(rootpath, md) if md else None, top, environ))
    html = settings.value("html")
    if html:
        writers.append(HtmlWriter(resolve(rootpath, html)))
    if environ.get("GITHUB_ACTIONS") == "true":
        from pytest_carbon.report.github import AnnotationWriter

        writers.append(AnnotationWriter(rootpath))
    return writers


class JUnitProperties:
    """A test listener: adds carbon properties to the teardown report, which junitxml writes
    as <property> elements of the test's <testcase>."""

    def __init__(self, model: CarbonModel, budgets: dict[str, Budget]) -> None:
        self.model = model
        self.budgets = budgets

    def __call__(self, record: TestRecord, report: pytest.TestReport) -> None:
        energy = record.total_energy
        report.user_properties.append(("carbon_energy_j", f"{energy:.6g}"))
        report.user_properties.append(("carbon_co2e_g", f"{self.model.co2e_g(energy, record.total_duration):.6g}"))
        budget = self.budgets.get(record.nodeid)
        if budget is not None:
            report.user_properties.append(("carbon_budget", f"{budget.limit.text} (from {budget.source})"))
