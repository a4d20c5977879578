"""GitHub Actions workflow commands: budget overruns and regressions as annotations.

`::error file=F,line=N,title=T::message` puts the message on the test's source line in the
pull request. Escaping follows actions/toolkit (packages/core/src/command.ts): data escapes
%, CR and LF; property values also escape ':' and ','.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from pytest_carbon.report.comparison import describe_change
from pytest_carbon.report.wording import verdict_pair
from pytest_carbon.schema import BudgetRecord, Report, TestRecordDict, over_budget

# GitHub shows at most 10 annotations of each kind per step; the rest are dropped silently.
PER_KIND = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value not in (None, "")
    )
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def workspace_path(path: str | None, rootpath: Path, workspace: str | None) -> str | None:
    """The test file relative to the checkout (GitHub resolves annotation paths there)."""
    if not path:
        return None
    absolute = (rootpath / path).resolve()
    if workspace:
        try:
            return absolute.relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def _verdict_text(budget: BudgetRecord) -> str:
    """An over-budget test's verdict (annotations are made for those only)."""
    measured, limit = verdict_pair(budget)
    return f"{measured} > {limit} (from {budget['source']})"


def workflow_commands(report: Report, rootpath: Path, workspace: str | None = None) -> list[str]:
    session = report["session"]
    kind = "warning" if session.get("action") == "warn" else "error"
    found: list[tuple[str, str, dict[str, object]]] = []
    for test, test_budget in over_budget(report["tests"]):
        found.append(
            (
                f"carbon budget exceeded: {test['nodeid']}",
                f"carbon budget exceeded: {_verdict_text(test_budget)}",
                _where(test, rootpath, workspace),
            )
        )
    budget = session.get("budget")
    if budget and budget.get("exceeded"):
        found.append(("session carbon budget exceeded", f"the test session emitted {_verdict_text(budget)}", {}))
    comparison = report.get("comparison")
    if comparison and comparison.get("failed"):
        unit = comparison["unit"]
        by_id = {t["nodeid"]: t for t in report["tests"]}
        limit = f"more than {comparison['fail_pct']:g}% against {comparison['baseline']}"
        for change in comparison["tests"]:
            if change["status"] == "regressed":
                regressed = by_id.get(change["name"])
                where = _where(regressed, rootpath, workspace) if regressed is not None else {}
                found.append(
                    (f"carbon regression: {change['name']}", f"grew {limit}: {describe_change(change, unit)}", where)
                )
        if comparison["session"]["status"] == "regressed":
            found.append(
                (
                    "carbon regression: session",
                    f"the session grew {limit}: {describe_change(comparison['session'], unit)}",
                    {},
                )
            )
    lines = [command(kind, message, **where, title=title) for title, message, where in found[:PER_KIND]]
    if len(found) > PER_KIND:
        rest = len(found) - PER_KIND + 1
        lines[-1] = command(
            kind,
            f"{rest} more carbon budget overruns or regressions: see the job summary or the JSON report",
            title="pytest-carbon",
        )
    return lines


def _where(test: TestRecordDict, rootpath: Path, workspace: str | None) -> dict[str, object]:
    location = test.get("location") or {}
    path = workspace_path(location.get("path"), rootpath, workspace)
    if path is None:
        return {}
    return {"file": path, "line": location.get("line")}


class AnnotationWriter:
    """A report writer printing the annotations to stdout, where the runner reads them."""

    def __init__(self, rootpath: Path, stream: TextIO | None = None) -> None:
        self.rootpath = rootpath
        self.stream = stream
        self.output: Path | None = None
        self.__name__ = "GitHub annotations"

    def __call__(self, report: Report) -> None:
        lines = workflow_commands(report, self.rootpath, os.environ.get("GITHUB_WORKSPACE"))
        if not lines:
            return
        stream = self.stream or sys.stdout
        stream.write("\n" + "\n".join(lines) + "\n")
        stream.flush()
