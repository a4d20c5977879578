"""Which reports a run writes, from its settings and environment; JUnit properties per test."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.config.settings import Settings
from pytest_carbon.ledger import Ledger, TestRecord
from pytest_carbon.report.outputs import MARKDOWN_TOP, HtmlWriter, Writer
from pytest_carbon.verdicts.budgets import Budget

if TYPE_CHECKING:
    from pytest_carbon.remote.tracker import RemoteTracker


def setting_path(config: pytest.Config, settings: Settings, key: str) -> Path | None:
    """A path setting as a path, following pytest's convention: relative to the directory
    pytest was started from when it is given on the command line (as `--junitxml`), to the
    configuration file's folder when it comes from one."""
    raw = settings.value(key)
    if not raw:
        return None
    path = Path(raw)
    if path.is_absolute():
        return path
    origin = settings[key].origin
    if origin.startswith("--"):
        base = config.invocation_params.dir
    elif "[tool.pytest_carbon]" in origin and settings.pyproject is not None:
        base = settings.pyproject.parent
    elif " option " in origin and config.inipath is not None:
        base = config.inipath.parent
    else:
        base = config.rootpath
    return base / path


def report_writers(config: pytest.Config, settings: Settings, environ: Mapping[str, str] = os.environ) -> list[Writer]:
    # Each writer's module is imported only by runs that write it: start-up stays short.
    writers: list[Writer] = []
    md = setting_path(config, settings, "md")
    if md or environ.get("GITHUB_STEP_SUMMARY"):
        from pytest_carbon.report.markdown import markdown_writers

        top = settings.value("top") if settings["top"].origin != "default" else MARKDOWN_TOP
        writers.extend(markdown_writers(md, top, environ))
    html = setting_path(config, settings, "html")
    if html:
        writers.append(HtmlWriter(html))
    if environ.get("GITHUB_ACTIONS") == "true":
        from pytest_carbon.report.github import AnnotationWriter

        writers.append(AnnotationWriter(config.rootpath))
    return writers


class JUnitProperties:
    """A test listener: adds carbon properties to the teardown report, which junitxml writes
    as <property> elements of the test's <testcase>."""

    def __init__(
        self,
        model: CarbonModel,
        budgets: dict[str, Budget],
        remote: RemoteTracker | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.model = model
        self.budgets = budgets
        self.remote = remote
        self.ledger = ledger

    def __call__(self, record: TestRecord, report: pytest.TestReport) -> None:
        energy = record.total_energy
        report.user_properties.append(("carbon_energy_j", f"{energy:.6g}"))
        report.user_properties.append(("carbon_co2e_g", f"{self.model.co2e_g(energy, record.total_duration):.6g}"))
        if self.remote is not None and self.ledger is not None and self.remote.calls:
            index = self.ledger.index_of(record.nodeid)
            llm = self.remote.test_record(index) if index is not None else None
            if llm is not None:
                report.user_properties.append(("carbon_llm_calls", str(llm["calls"])))
                report.user_properties.append(("carbon_llm_replayed", str(llm["replayed"])))
                report.user_properties.append(("carbon_llm_energy_j", f"{llm['energy_j']:.6g}"))
                report.user_properties.append(("carbon_llm_co2e_g", f"{llm['co2e_g']:.6g}"))
        budget = self.budgets.get(record.nodeid)
        if budget is not None:
            report.user_properties.append(("carbon_budget", f"{budget.limit.text} (from {budget.source})"))
