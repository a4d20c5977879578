"""Report writers that render the record into a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_carbon.schema import Report

MARKDOWN_TOP = 10  # more room than the terminal's default 5: a summary page is read, not scrolled past
Writer = Callable[["Report"], None]


class HtmlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.__name__ = f"HTML report to {path}"

    def __call__(self, report: Report) -> None:
        from pytest_carbon.report.html import render_html  # imported when a report is written, not at start-up
        from pytest_carbon.report.json_report import write_atomic

        write_atomic(self.path, render_html(report))
