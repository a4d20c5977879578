"""The session's manager: the header, the end of measuring, the summary, and letting go.

One per process, whatever the role; what the end of the session does (report, or hand
over to the xdist controller) is the `Ending` it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from pytest_carbon.meters.attribution import included_notes
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.report.terminal import Line, header_lines
from pytest_carbon.session.assemble import SessionParts, refresh_uncertainty
from pytest_carbon.session.runner import TestRunner

if TYPE_CHECKING:
    from pytest_carbon.schema import Report


class Ending(Protocol):
    """What a role does once measuring has ended: returns the report, if it makes one."""

    written: list[Path]  # report files written, named in the summary

    def finish(self, session: pytest.Session, exitstatus: int) -> Report | None: ...


class CarbonSession:
    def __init__(self, parts: SessionParts, ending: Ending, runner: TestRunner | None) -> None:
        self.parts = parts
        self.ending = ending
        self.runner = runner
        self.report: Report | None = None
        self._closed = False

    @property
    def test_listeners(self) -> list[Any]:
        return self.runner.test_listeners if self.runner is not None else []

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        model = self.parts.model
        intensity = model.intensity
        return header_lines(
            {
                "meters": [{"description": m.describe(), "measured": m.measured} for m in self.parts.meter_set.meters],
                "intensity_g_per_kwh": intensity.g_per_kwh,
                "intensity_source": intensity.label,
                "intensity_note": intensity.note,
                "intensity_origin": intensity.origin,
                "pue": model.pue,
                "pue_source": model.pue_origin,
                "embodied_label": model.embodied_label,
            }
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        parts = self.parts
        parts.meter_set.settle()
        parts.attributor.settle()
        if parts.attributor.tree is not None:
            parts.attributor.tree.finish()
        parts.ledger.finish()
        if parts.remote is not None:
            parts.remote.stop()  # calls from now on belong to no account
            parts.facts.warnings.extend(parts.remote.problems())
        parts.meter_set.close()
        refresh_uncertainty(parts)
        parts.facts.warnings.extend(parts.attributor.warnings())
        parts.facts.notes.extend(included_notes(parts.attributor))
        parts.facts.end_wall = CLOCKS.wall()
        self.report = self.ending.finish(session, exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if self.report is None:
            return
        from pytest_carbon.report.terminal import render

        terminalreporter.write_sep("=", "carbon footprint")
        for line in render(self.report, config.get_verbosity(), self.parts.settings.value("top")):
            write_line(terminalreporter, line)
        for path in self.ending.written:
            # As junitxml names its file: where the report went, whatever the path given.
            terminalreporter.write_sep("-", f"carbon report: {path.resolve()}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.runner is not None:
                self.runner.full_collections.remove()
            self.parts.meter_set.close()
            if self.parts.remote is not None:
                self.parts.remote.stop()
            self.parts.attributor.close()
            # Let go of per-test data before pytest's final garbage collection passes.
            self.report = None
            self.parts.ledger.clear()


MARKUP = {
    "red": {"red": True, "bold": True},
    "yellow": {"yellow": True},
    "green": {"green": True},
    "bold": {"bold": True},
}


def write_line(terminalreporter: Any, line: Line) -> None:
    terminalreporter.write_line(line.text, **MARKUP.get(line.style, {}))
