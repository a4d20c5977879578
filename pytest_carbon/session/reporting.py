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
from pytest_carbon.session.assemble import SessionParts
from pytest_carbon.verdicts.budgets import Budget, Verdict, judge

# The record, its writers and the schema are imported when the session ends (or a
# placeholder report is written), not at start-up.
if TYPE_CHECKING:
    from pytest_carbon.report.outputs import Writer
    from pytest_carbon.report.record import SessionFigures
    from pytest_carbon.schema import ComparisonRecord, LlmRecord, Report
    from pytest_carbon.verdicts.compare import Baseline

PLACEHOLDER = "the run did not finish (killed or still running)"


class FiguresSource(Protocol):
    def figures(self, every_test: bool) -> SessionFigures: ...


class LocalFigures:
    """A serial run's figures: this process's ledger."""

    def __init__(self, parts: SessionParts) -> None:
        self.parts = parts

    def figures(self, every_test: bool) -> SessionFigures:
        from pytest_carbon.report.record import Attribution, SessionFigures, fixture_dict, overhead_dict, test_dict

        parts = self.parts
        ledger = parts.ledger
        facts = parts.facts
        channels = ledger.session_channels()
        test_count: int | None = None
        remote = parts.remote
        tests_llm, fixtures_llm, other_llm = remote.accounts() if remote is not None else ({}, {}, None)
        if every_test:
            indices = list(range(len(ledger.test_ids)))
            tests_energy = sum(ledger.record(i).total_energy for i in indices)
        else:
            # Only the terminal reads this report: it shows the costliest tests and the
            # verdicts, so only those become records (the rest are counted).
            energies, durations = ledger.test_totals()
            tests_energy = sum(energies)
            test_count = len(energies)
            indices = self._terminal_subset(energies, durations, tests_llm)
        attribution = None
        if parts.scope == "process":
            attribution = Attribution(sum(parts.attributor.machine_totals()), sum(channels))
        llm = None
        if remote is not None and other_llm is not None:
            llm = remote.session_record([*tests_llm.values(), *fixtures_llm.values(), other_llm])
        return SessionFigures(
            tests=[test_dict(ledger.record(i), facts, tests_llm.get(i)) for i in indices],
            fixtures=[fixture_dict(r, facts, fixtures_llm.get(key)) for key, r in ledger.fixtures.items()],
            overhead=overhead_dict(ledger.overhead, facts),
            channels=channels,
            energy_j=sum(channels),
            duration_s=ledger.session_duration,
            tests_energy_j=tests_energy,
            unplaced_j=sum(parts.attributor.dropped_j),
            test_count=test_count,
            attribution=attribution,
            llm=llm,
        )

    def _terminal_subset(
        self, energies: list[float], durations: list[float], tests_llm: dict[int, LlmRecord]
    ) -> list[int]:
        ledger = self.parts.ledger
        co2e = self.parts.model.co2e_g_each(energies, durations)
        for index, llm in tests_llm.items():  # the ranking counts what a test's calls emitted
            co2e[index] += llm["co2e_g"]
        top = heapq.nlargest(self.parts.settings.value("top"), range(len(co2e)), key=co2e.__getitem__)
        chosen = set(top).union(ledger.records_with_verdicts())
        return sorted(chosen)


class Reporting:
    """Builds the one report, judges the session and writes every report file."""

    def __init__(
        self,
        parts: SessionParts,
        source: FiguresSource,
        writers: Sequence[Writer],
        json_path: Path | None,
        baseline_path: Path | None = None,
    ) -> None:
        self.parts = parts
        self.source = source
        self.writers = list(writers)
        self.json_path = json_path
        # Read before the placeholder JSON is written: the baseline may be the same file.
        self.written: list[Path] = []  # report files written at the end, for the summary
        self.finished = False  # the session's end has begun: no more checkpoints
        self.baseline: Baseline | None = None
        if baseline_path is not None:
            from pytest_carbon.verdicts.compare import load_baseline

            self.baseline = load_baseline(baseline_path)
            if self.baseline.warning:
                parts.facts.warnings.append(self.baseline.warning)
        else:
            for key in ("compare_fail", "compare_min"):
                origin = parts.settings[key].origin
                if origin != "default":
                    parts.facts.warnings.append(
                        f"{origin} has no effect without a baseline to compare with (--carbon-compare, "
                        "pyproject compare or ini carbon_compare)"
                    )
        if json_path is not None:
            self._write_placeholder(json_path)

    def _every_test(self) -> bool:
        return bool(
            self.json_path is not None
            or self.writers
            or self.baseline is not None
            or self.parts.role != "serial"
            or self.parts.config.get_verbosity() > 0
            or self.parts.settings.value("group") is not None  # a roll-up needs every test
        )

    def _session_verdict(self, figures: SessionFigures) -> Verdict | None:
        budget = self.parts.settings["budget"]
        if budget.value is None:
            return None
        energy = figures.energy_j
        co2e = self.parts.model.co2e_g(energy, figures.duration_s)
        llm = figures.llm
        if llm is not None and llm["count_in_budgets"]:
            energy, co2e = energy + llm["energy_j"], co2e + llm["co2e_g"]
        from pytest_carbon.report.record import by_meter_totals

        facts = self.parts.facts
        resolution = facts.uncertainty.of(by_meter_totals(figures.channels, facts.channels)).resolution_j
        return judge(
            Budget(budget.value, budget.origin), energy, co2e, resolution, self.parts.settings.value("budget_rule")
        )

    def build(self, complete: bool, interrupted: str | None, every_test: bool = True) -> Report:
        from pytest_carbon.report.record import build_report

        figures = self.source.figures(every_test)
        return build_report(
            figures,
            self.parts.facts,
            self._session_verdict(figures),
            complete,
            interrupted,
            group=self.parts.settings.value("group"),
        )

    def finish(self, session: pytest.Session, exitstatus: int) -> Report:
        self.finished = True
        interrupted = None
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            interrupted = "interrupted (KeyboardInterrupt)"
        elif session.shouldstop:
            interrupted = f"stopped early: {session.shouldstop}"
        elif session.shouldfail:
            interrupted = f"stopped early: {session.shouldfail}"
        from pytest_carbon.report.record import build_report

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
                group=self.parts.settings.value("group"),
            )
        finally:
            if gc_was_enabled:
                gc.enable()
        if self.baseline is not None and self.baseline.report is not None:
            # The comparison reads the finished record, test by test. The baseline was
            # checked against the schema; should it still trip the comparison, the run's
            # reports are written all the same.
            try:
                report["comparison"] = self._comparison(self.baseline, report)
            except Exception as error:
                report["session"]["warnings"].append(
                    f"could not compare with the baseline {self.baseline.path}: {type(error).__name__}"
                )
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
            from pytest_carbon.report.json_report import write_json

            try:
                write_json(self.json_path, report)
                self.written.append(self.json_path)
            except OSError as error:
                warnings.append(f"could not write the JSON report to {self.json_path}: {error}")
        for writer in self.writers:
            try:
                writer(report)
            except Exception as error:  # a reporter must never break the run
                warnings.append(f"{writer.__name__} failed: {error}")
                continue
            if writer.output is not None:
                self.written.append(writer.output)

    def flush(self, interrupted: str) -> None:
        """Write the JSON report with what was measured so far, marked incomplete (a
        checkpoint while tests run, or SIGTERM). A failure is noted, never raised."""
        if self.json_path is None or self.finished:
            return
        from pytest_carbon.report.json_report import write_json

        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            write_json(self.json_path, self.build(complete=False, interrupted=interrupted))
        except Exception as error:
            note = f"could not write the JSON report to {self.json_path} while tests ran: {type(error).__name__}"
            if note not in self.parts.facts.warnings:
                self.parts.facts.warnings.append(note)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _write_placeholder(self, path: Path) -> None:
        """A valid, incomplete report from the start, so a killed run still leaves one."""
        from pytest_carbon.report.json_report import write_json

        try:
            write_json(path, self.build(complete=False, interrupted=PLACEHOLDER))
        except OSError as error:
            self.parts.facts.warnings.append(f"could not write the JSON report to {path}: {error}")
