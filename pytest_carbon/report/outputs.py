"""Report writers that render the record into a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pytest_carbon.schema import Report

MARKDOWN_TOP = 10  # more room than the terminal's default 5: a summary page is read, not scrolled past


class Writer(Protocol):
    """Renders the record somewhere; a failure is reported as a warning, never raised."""

    __name__: str
    # The file written, named in the summary; None where the output is not a file of
    # the user's (the CI's step summary, annotations on stdout).
    output: Path | None

    def __call__(self, report: Report) -> None: ...


class HtmlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.output: Path | None = path
        self.__name__ = f"HTML report to {path}"

    def __call__(self, report: Report) -> None:
        from pytest_carbon.report.html import render_html  # imported when a report is written, not at start-up
        from pytest_carbon.report.json_report import write_atomic

        write_atomic(self.path, render_html(report))
