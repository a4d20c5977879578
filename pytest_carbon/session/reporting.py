"""The end of a run that reports (serial, or the xdist controller): figures -> record ->
comparison and verdicts -> files. The figures come from this process's ledger or from
the workers; the rest is the same for both."""

from __future__ import annotations

import gc
import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from pytest_carbon.config.settings import settings_record
from pytest_carbon.ledger import TestRecord
from pytest_carbon.report.json_report import write_json
from pytest_carbon.report.outputs import Writer
from pytest_carbon.report.record import (
    Attribution,
    SessionFigures,
    build_report,
    by_meter_totals,
    fixture_dict,
    overhead_dict,
    test_dict,
)
from pytest_carbon.schema import ComparisonRecord, Report
from pytest_carbon.session.assemble import SessionParts
from pytest_carbon.verdicts.budgets import Budget, Verdict, judge

if TYPE_CHECKING:
    from pytest_carbon.verdicts.compare import Baseline

PLACEHOLDER = "the run did not finish (killed or still running)"


class FiguresSource(Protocol):
    def figures(self, every_test: bool) -> SessionFigures: ...


class LocalFigures:
    """A serial run's figures: this process's ledger."""

    def __init__(self, parts: SessionParts) -> None:
        self.parts = parts

    def figures(self, every_test: bool) -> SessionFigures:
        parts = self.parts
        ledger = parts.ledger
        facts = parts.facts
        channels = ledger.session_channels()
        test_count: int | None = None
        if every_test:
            records = list(ledger.tests.values())
            tests_energy = sum(r.total_energy for r in records)
        else:
            # Only the terminal reads this report: it shows the costliest tests and the
            # verdicts, so only those become records (the rest are counted).
            energies, durations = ledger.test_totals()
            tests_energy = sum(energies)
            test_count = len(energies)
            records = self._terminal_subset(energies, durations)
        attribution = None
        if parts.scope == "process":
            attribution = Attribution(sum(parts.attributor.machine_totals()), sum(channels))
        return SessionFigures(
            tests=[test_dict(r, facts) for r in records],
            fixtures=[fixture_dict(r, facts) for r in ledger.fixtures.values()],
            overhead=overhead_dict(ledger.overhead, facts),
            channels=channels,
            energy_j=sum(channels),
            duration_s=ledger.session_duration,
            tests_energy_j=tests_energy,
            unplaced_j=sum(parts.attributor.dropped_j),
            test_count=test_count,
            attribution=attribution,
        )

    def _terminal_subset(self, energies: list[float], durations: list[float]) -> list[TestRecord]:
        ledger = self.parts.ledger
        co2e = self.parts.model.co2e_g_each(energies, durations)
        top = heapq.nlargest(self.parts.settings.value("top"), range(len(co2e)), key=co2e.__getitem__)
        chosen = set(top).union(ledger.records_with_verdicts())
        return [ledger.record(index) for index in sorted(chosen)]


class Reporting:
    """Builds the one report, judges the session and writes every report file."""

    def __init__(
        self, parts: SessionParts, source: FiguresSource, writers: Sequence[Writer], json_path: Path | None
    ) -> None:
        self.parts = parts
        self.source = source
        self.writers = list(writers)
        self.json_path = json_path
        # Read before the placeholder JSON is written: the baseline may be the same file.
        self.baseline: Baseline | None = None
        compare_path = parts.settings.value("compare")
        if compare_path:
            from pytest_carbon.verdicts.compare import load_baseline

            self.baseline = load_baseline(Path(parts.config.rootpath, compare_path))
            if self.baseline.warning:
                parts.facts.warnings.append(self.baseline.warning)
        if json_path is not None:
            self._write_placeholder(json_path)

    def _every_test(self) -> bool:
        return bool(
            self.json_path is not None
            or self.writers
            or self.baseline is not None
            or self.parts.role != "serial"
            or self.parts.config.get_verbosity() > 0
        )

    def _session_verdict(self, figures: SessionFigures) -> Verdict | None:
        budget = self.parts.settings["budget"]
        if budget.value is None:
            return None
        energy = figures.energy_j
        facts = self.parts.facts
        resolution = facts.uncertainty.of(by_meter_totals(figures.channels, facts.channels)).resolution_j
        return judge(
            Budget(budget.value, budget.origin),
            energy,
            self.parts.model.co2e_g(energy, figures.duration_s),
            resolution,
            self.parts.settings.value("budget_rule"),
        )

    def build(self, complete: bool, interrupted: str | None, every_test: bool = True) -> Report:
        figures = self.source.figures(every_test)
        return build_report(figures, self.parts.facts, self._session_verdict(figures), complete, interrupted)

    def finish(self, session: pytest.Session, exitstatus: int) -> Report:
        interrupted = None
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            interrupted = "interrupted (KeyboardInterrupt)"
        elif session.shouldstop:
            interrupted = f"stopped early: {session.shouldstop}"
        elif session.shouldfail:
            interrupted = f"stopped early: {session.shouldfail}"
        gc_was_enabled = gc.isenabled()
        gc.disable()  # thousands of small acyclic dicts: collecting while building them is wasted work
        try:
            figures = self.source.figures(self._every_test())
            verdict = self._session_verdict(figures)
            report = build_report(
                figures,
                self.parts.facts,
                verdict,
                interrupted is None,
                interrupted,
                settings=settings_record(self.parts.settings),
            )
        finally:
            if gc_was_enabled:
                gc.enable()
        if self.baseline is not None and self.baseline.report is not None:
            # The comparison reads the finished record, test by test.
            report["comparison"] = self._comparison(self.baseline, report)
        regressed = "comparison" in report and report["comparison"]["failed"]
        over = verdict is not None and verdict.exceeded or regressed
        if over and self.parts.facts.action == "fail" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._write(report)
        return report

    def _comparison(self, baseline: Baseline, report: Report) -> ComparisonRecord:
        from pytest_carbon.verdicts.compare import compare

        assert baseline.report is not None
        settings = self.parts.settings
        return compare(
            baseline.report,
            report,
            baseline=baseline.path,
            fail_pct=settings.value("compare_fail"),
            minimum=settings.value("compare_min"),
        ).to_dict()

    def _write(self, report: Report) -> None:
        warnings = report["session"]["warnings"]
        if self.json_path is not None:
            try:
                write_json(self.json_path, report)
            except OSError as error:
                warnings.append(f"could not write the JSON report to {self.json_path}: {error}")
        for writer in self.writers:
            try:
                writer(report)
            except Exception as error:  # a reporter must never break the run
                warnings.append(f"{getattr(writer, '__name__', writer)} failed: {error}")

    def _write_placeholder(self, path: Path) -> None:
        """A valid, incomplete report from the start, so a killed run still leaves one."""
        try:
            write_json(path, self.build(complete=False, interrupted=PLACEHOLDER))
        except OSError as error:
            self.parts.facts.warnings.append(f"could not write the JSON report to {path}: {error}")
