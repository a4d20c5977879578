"""Measuring tests: phase boundaries go to the ledger, markers become budgets, verdicts
go into the report of the phase that decides them. Serial runs and xdist workers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr

from pytest_carbon.ledger import (
    CALL,
    COLLECTION,
    FINISH,
    PENDING,
    PHASES,
    SETUP,
    TEARDOWN,
    FixtureKey,
    FixtureRecord,
    TestRecord,
)
from pytest_carbon.report.wording import budget_failure_details, verdict_message
from pytest_carbon.session.assemble import SessionParts, refresh_uncertainty
from pytest_carbon.session.markers import closest_carbon_marker
from pytest_carbon.session.outcomes import combine
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.verdicts.budgets import Verdict, judge, resolve_test_budget

# Called with each finished test's record and its teardown report (JUnit properties,
# GPU interpolation flags, shipping to the xdist controller).
TestListener = Callable[[TestRecord, pytest.TestReport], None]


class BudgetFailure(TerminalRepr):
    """The failure text of a test over its carbon budget (short line + breakdown)."""

    def __init__(self, message: str, details: str, path: str, lineno: int) -> None:
        self.reprcrash = ReprFileLocation(path, lineno, message)
        self.message = message
        self.details = details

    def toterminal(self, tw: Any) -> None:
        tw.line(self.message, red=True, bold=True)
        for line in self.details.splitlines():
            tw.line(line)


class TestRunner:
    """The per-test hooks. Each phase ends as its report is logged, right after pytest
    makes it; a test's setup runs from the end of the one before (or of collection) to
    its setup report."""

    __test__ = False

    def __init__(self, parts: SessionParts) -> None:
        self.parts = parts
        self.ledger = parts.ledger
        self.budgets = parts.budgets
        self.test_listeners: list[TestListener] = []
        self._tearing_down: dict[int, FixtureRecord] = {}
        self._running: int | None = None  # index of the test whose reports are arriving
        self._running_id: str | None = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            # After the last test: what remains until the session ends is its finish.
            self.ledger.enter_overhead(FINISH)

    # -- collection and budgets ----------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        self.ledger.enter_overhead(COLLECTION)
        try:
            return (yield)
        finally:
            self.ledger.close(PENDING)  # until the first test's setup report claims it

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        settings = self.parts.settings
        default = settings["test_budget"]
        patterns = settings.patterns
        every_test = bool(patterns) or default.value is not None
        inherited: dict[int, pytest.Mark | None] = {}
        for item in items:
            marker = closest_carbon_marker(item, inherited)
            if marker is None and not every_test:
                continue
            try:
                budget = resolve_test_budget(
                    (marker.args, dict(marker.kwargs)) if marker is not None else None,
                    item.nodeid,
                    patterns,
                    default.value,
                    default.origin,
                )
            except CarbonConfigError as error:
                raise pytest.UsageError(str(error)) from None
            if budget is not None:
                self.budgets[item.nodeid] = budget

    # The per-test path: one plain hook (pluggy wrappers cost more), three calls per test.

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: the verdict is in the report before the terminal, junitxml, the
        # last-failed cache, --maxfail or xdist see it.
        when = report.when
        passed = report.outcome == "passed"
        ledger = self.ledger
        if when == "setup":
            index = self._running = ledger.setup_ended(report.nodeid, report.location, passed)
            self._running_id = report.nodeid
            if not passed:
                ledger.outcomes[index] = combine(ledger.outcomes[index], report)
            return
        running = self._running
        if running is None or report.nodeid != self._running_id:
            return
        if when == "call":
            if hasattr(report, "context"):
                return  # a subtest's report, logged while the call phase goes on
            ledger.close(3 * running + TEARDOWN)
            if self.budgets:
                self._judge(running, report)
                passed = report.outcome == "passed"
            if passed and not hasattr(report, "wasxfail"):
                ledger.outcomes[running] = "passed"  # the common case, without the general fold
            else:
                ledger.outcomes[running] = combine(ledger.outcomes[running], report)
            return
        ledger.close(PENDING)
        self._running = self._running_id = None
        if not passed:
            ledger.outcomes[running] = combine(ledger.outcomes[running], report)
        listeners = self.test_listeners
        if listeners:
            record = ledger.running_record(running)
            for listener in listeners:
                listener(record, report)

    def _judge(self, index: int, report: pytest.TestReport) -> None:
        budget = self.budgets.get(report.nodeid)
        if budget is None or (report.skipped and not hasattr(report, "wasxfail")):
            return
        model = self.parts.model
        record = self.ledger.running_record(index)
        energy = record.part_energy(SETUP) + record.part_energy(CALL)
        duration = record.durations[SETUP] + record.durations[CALL]
        resolution = self._resolution(record)
        verdict = judge(
            budget, energy, model.co2e_g(energy, duration), resolution, self.parts.settings.value("budget_rule")
        )
        record.verdict = verdict
        if not verdict.exceeded:
            return
        message = verdict_message(verdict.to_dict())
        details = self._details(record, verdict, energy, duration)
        if self.parts.facts.action == "warn":
            report.sections.append(("carbon budget exceeded (warning only)", message + "\n" + details))
            return
        if report.failed:
            report.sections.append(("carbon budget", message + "\n" + details))
            return
        was_xfail = getattr(report, "wasxfail", None)
        if was_xfail is not None:
            del report.wasxfail
            details += (
                f"\nthe test is marked xfail ({was_xfail or 'no reason'}): xfail excuses its assertions, not its carbon"
            )
        path, lineno = record.location
        report.outcome = "failed"
        report.longrepr = BudgetFailure(message, details, path or record.nodeid, lineno or 0)

    def _resolution(self, record: TestRecord) -> float:
        """The setup + call figure's resolution (counters at their mean power so far)."""
        parts = self.parts
        refresh_uncertainty(parts)
        by_meter: dict[str, float] = {}
        for index in (SETUP, CALL):
            for channel, value in zip(parts.meter_set.channels, record.part_channels(index)):
                by_meter[channel.meter] = by_meter.get(channel.meter, 0.0) + value
        # Two phases: three readings, so one more step than a single figure.
        return parts.facts.uncertainty.of(by_meter).resolution_j * 1.5

    def _details(self, record: TestRecord, verdict: Verdict, energy: float, duration: float) -> str:
        meter_set = self.parts.meter_set
        meters: dict[str, float] = {}
        for index in (SETUP, CALL):
            for channel, value in zip(meter_set.channels, record.part_channels(index)):
                key = f"{channel.meter}/{channel.name}"
                meters[key] = meters.get(key, 0.0) + value
        kinds = {m.name: ("measured" if m.measured else "estimated") for m in meter_set.meters}
        return budget_failure_details(
            verdict.to_dict(),
            energy,
            duration,
            self.parts.model.co2e_g(energy, duration),
            [(PHASES[index], record.part_energy(index), record.durations[index]) for index in (SETUP, CALL)],
            [(key, value, kinds.get(key.split("/")[0], "?")) for key, value in meters.items()],
            self.parts.model.describe(),
        )

    # -- shared fixtures ---------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        if fixturedef.scope == "function":
            return (yield)
        record = self.ledger.fixture(FixtureKey(fixturedef.argname, fixturedef.scope, fixturedef.baseid))
        self.ledger.push(record, 0)
        try:
            result = yield
        finally:
            self.ledger.pop()
        record.setups += 1
        fixturedef.addfinalizer(functools.partial(self._fixture_teardown_starts, fixturedef, record))
        return result

    def _fixture_teardown_starts(self, fixturedef: pytest.FixtureDef[Any], record: FixtureRecord) -> None:
        # Added after the fixture's own finalizers, so it runs first (they pop in reverse).
        self.ledger.push(record, 1)
        self._tearing_down[id(fixturedef)] = record

    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        if self._tearing_down.pop(id(fixturedef), None) is not None:
            self.ledger.pop()
