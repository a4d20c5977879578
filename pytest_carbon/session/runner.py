"""Measuring tests: phase boundaries go to the ledger, markers become budgets, verdicts
go into the report of the phase that decides them. Serial runs and xdist workers."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

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
    Attempt,
    FixtureKey,
    FixtureRecord,
    Ledger,
    TestRecord,
)
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.session.assemble import SessionParts, refresh_uncertainty
from pytest_carbon.session.gc_pauses import FullCollections
from pytest_carbon.session.markers import closest_marker
from pytest_carbon.session.outcomes import combine
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.verdicts.budgets import Verdict, judge, resolve_test_budget, unmatched_patterns

if TYPE_CHECKING:
    from pytest_carbon.session.checkpoints import Checkpoints

# Called with each finished test's record and its teardown report (JUnit properties,
# GPU interpolation flags, shipping to the xdist controller).
TestListener = Callable[[TestRecord, pytest.TestReport], None]
# The outcome pytest-rerunfailures gives a report of an attempt that will be run again
# (typed as str: pytest's own outcomes are a closed Literal).
RERUN: str = "rerun"


def _narrowed(config: pytest.Config) -> bool:
    """Whether the command line named files or tests: a run of part of the suite, where a
    pattern for the rest matching nothing is expected."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    here = config.invocation_params.dir
    return any("::" in arg or not (here / arg).is_dir() for arg in config.args)


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


class PhaseEnds:
    """Phase boundaries where pytest makes each report, for runs in which a plugin logs a
    test's reports only after its whole protocol ran (pytest-rerunfailures, which also
    runs a failed test again). Each attempt of a test is recorded; the budget judges the
    last attempt's setup and call, the test's figure holds every attempt."""

    __test__ = False

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._running: int | None = None
        self._in_call = False  # the running test's setup passed: its call phase is on
        self._starts: dict[int, int] = {}  # test index -> where its latest attempt began
        self._rerun = False  # a report of the attempt being logged said "rerun"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        # Setup and teardown end here. Not the call: pytest's subtests make a call report
        # for each block while the call goes on; the call ends where teardown starts.
        ledger = self.ledger
        if call.when == "setup":
            passed = call.excinfo is None
            index = self._running = ledger.setup_ended(item.nodeid, item.location, passed)
            self._in_call = passed
            if index not in self._starts:
                self._starts[index] = 0
        elif call.when == "teardown" and self._running is not None:
            ledger.close(PENDING)
            self._running = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self._running is not None:
            self.end_call(self._running)

    def end_call(self, index: int) -> None:
        """The call of test `index` is over (teardown starts, or its report came first,
        where the plugin that delays reports lets a test run once only)."""
        if self._in_call and self._running == index:
            self.ledger.close(3 * index + TEARDOWN)
            self._in_call = False

    def attempt_start(self, index: int) -> int:
        return self._starts.get(index, 0)

    def attempt_logged(self, index: int, teardown: pytest.TestReport) -> None:
        """The teardown report of an attempt: record it, and where the next one begins."""
        ledger = self.ledger
        notes = ledger.notes.get(index)
        rerun = teardown.outcome == RERUN or self._rerun
        if rerun or (notes is not None and notes.attempts):
            record = ledger.attempt_record(index, self.attempt_start(index))
            outcome = "rerun" if rerun else combine(ledger.outcomes[index], teardown)
            ledger.notes_of(index).attempts.append(Attempt(outcome, record.total_duration, record.total_energy))
        self._starts[index] = len(ledger.owners)
        self._rerun = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == RERUN:
            self._rerun = True


def will_rerun(config: pytest.Config, items: list[pytest.Item]) -> bool:
    """Whether pytest-rerunfailures may run a collected test again (--reruns, its ini
    option or a flaky marker): only then do phases end where reports are made, which costs
    two more hook calls per test.

    Its count for a test without a flaky marker depends on the options alone, so it is
    asked once for those and once for each test that has one."""
    rerunfailures = config.pluginmanager.get_plugin("rerunfailures")
    if rerunfailures is None or not items:
        return False
    count = getattr(rerunfailures, "get_reruns_count", None)
    if count is None:  # another version: assume it may
        return True
    inherited: dict[int, pytest.Mark | None] = {}
    flaky = [item for item in items if closest_marker(item, inherited, "flaky") is not None]
    plain = next((item for item in items if closest_marker(item, inherited, "flaky") is None), None)
    try:
        return any((count(item) or 0) > 0 for item in ([plain] if plain is not None else []) + flaky)
    except Exception:
        return True


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
        self._running_location: object = None
        # Set where a plugin logs a test's reports only after its whole protocol ran
        # (pytest-rerunfailures): phases then end where pytest makes their reports.
        self.phase_ends: PhaseEnds | None = None
        self._deselected: list[str] = []  # node ids -k and -m took out, when budget patterns need them
        self.full_collections = FullCollections(self.ledger)  # installed by assemble, removed at close
        # Where the JSON report is rewritten while tests run: when the next rewrite is due
        # (compared with the time of the reading that ends each test) and what makes it.
        self.flush_due = math.inf
        self.checkpoints: Checkpoints | None = None

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
            marker = closest_marker(item, inherited)
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
        if self.phase_ends is None and will_rerun(config, items):
            self.phase_ends = PhaseEnds(self.ledger)
            config.pluginmanager.register(self.phase_ends, "carbon-phase-ends")
        if patterns and items and not _narrowed(config):
            self._warn_unmatched(items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if self.parts.settings.patterns:
            self._deselected.extend(item.nodeid for item in items)

    def _warn_unmatched(self, items: list[pytest.Item]) -> None:
        """A pattern that matches no collected test (-k and -m deselect after collecting:
        those count) is most likely mistyped."""
        nodeids = [item.nodeid for item in items] + self._deselected
        for entry in unmatched_patterns(self.parts.settings.patterns, nodeids):
            self.parts.facts.warnings.append(
                f"{entry.origin} matches none of the {len(nodeids)} collected tests, so it sets no budget "
                f"(patterns match node ids such as {nodeids[0]!r})"
            )

    # The per-test path: one plain hook (pluggy wrappers cost more), three calls per test.

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # tryfirst: the verdict is in the report before the terminal, junitxml, the
        # last-failed cache, --maxfail or xdist see it.
        when = report.when
        passed = report.outcome == "passed"
        ledger = self.ledger
        if when == "setup":
            nodeid = report.nodeid
            if self.phase_ends is None:
                index = self._running = ledger.setup_ended(nodeid, report.location, passed)
            else:  # the phase ended earlier, where pytest made the report
                found = ledger.index_of(nodeid)
                if found is None:
                    return
                index = self._running = found
            self._running_id = nodeid
            # (a report without a location never matches by identity)
            self._running_location = report.location if report.location is not None else object()
            if not passed:
                ledger.outcomes[index] = combine(ledger.outcomes[index], report)
            return
        running = self._running
        # The same item's reports share its location tuple: a cheaper test than the node
        # id (a property that builds the string), which decides where they differ.
        if running is None or (report.location is not self._running_location and report.nodeid != self._running_id):
            return
        if when == "call":
            if hasattr(report, "context"):
                # A subtest's report, logged while the call phase goes on.
                subtests = ledger.notes_of(running).subtests
                subtests[report.outcome] = subtests.get(report.outcome, 0) + 1
                return
            if self.phase_ends is None:
                ledger.close(3 * running + TEARDOWN)
            else:
                self.phase_ends.end_call(running)
            failed_subtests = False
            if ledger.notes:
                notes = ledger.notes.get(running)
                failed_subtests = notes is not None and notes.subtests.get("failed", 0) > 0
            if self.budgets and report.outcome != RERUN:
                self._judge(running, report, failed_subtests)
                passed = report.outcome == "passed"
            if failed_subtests and passed:
                # pytest fails a test with failed subtests when it shows the report.
                ledger.outcomes[running] = "failed"
            elif passed and not hasattr(report, "wasxfail"):
                ledger.outcomes[running] = "passed"  # the common case, without the general fold
            else:
                ledger.outcomes[running] = combine(ledger.outcomes[running], report)
            return
        if self.phase_ends is None:
            ledger.close(PENDING)
        else:
            self.phase_ends.attempt_logged(running, report)
        self._running = self._running_id = self._running_location = None
        if not passed:
            ledger.outcomes[running] = combine(ledger.outcomes[running], report)
        checkpoints = self.checkpoints
        if checkpoints is not None:
            # The clock, not the ledger's last reading: asking the ledger for its readings
            # would convert the recorded intervals at every test.
            now = CLOCKS.now()
            if now >= self.flush_due:
                self.flush_due = checkpoints.flush(now)
        listeners = self.test_listeners
        if listeners:
            record = ledger.running_record(running)
            for listener in listeners:
                listener(record, report)

    def _judge(self, index: int, report: pytest.TestReport, failed_subtests: bool) -> None:
        budget = self.budgets.get(report.nodeid)
        if budget is None or (report.skipped and not hasattr(report, "wasxfail")):
            return
        model = self.parts.model
        record = self.ledger.running_record(index)
        if self.phase_ends is not None:  # a test run again: its last attempt is judged
            counted = self.ledger.attempt_record(index, self.phase_ends.attempt_start(index))
        else:
            counted = record
        energy = counted.part_energy(SETUP) + counted.part_energy(CALL)
        duration = counted.durations[SETUP] + counted.durations[CALL]
        co2e = model.co2e_g(energy, duration)
        remote = self.parts.remote
        llm = (
            remote.test_record(index, (SETUP, CALL)) if remote is not None and remote.config.count_in_budgets else None
        )
        resolution = self._resolution(counted)
        rule = self.parts.settings.value("budget_rule")
        if llm is None:
            verdict = judge(budget, energy, co2e, resolution, rule)
        else:
            verdict = judge(budget, energy + llm["energy_j"], co2e + llm["co2e_g"], resolution, rule)
        record.verdict = verdict
        if not verdict.exceeded:
            return
        from pytest_carbon.report.wording import verdict_message

        message = verdict_message(verdict.to_dict())
        details = self._details(counted, verdict, energy, duration, co2e)
        if llm is not None:
            from pytest_carbon.report.hosted import budget_remote_lines

            details += "\n" + "\n".join(budget_remote_lines(llm, energy, co2e))
        if self.parts.facts.action == "warn":
            report.sections.append(("carbon budget exceeded (warning only)", message + "\n" + details))
            return
        if report.failed:
            report.sections.append(("carbon budget", message + "\n" + details))
            return
        if failed_subtests:
            # pytest's own failure comes first: it fails the test for its subtests when it
            # shows the report; the carbon verdict is added to it.
            report.sections.append(("carbon budget exceeded", message + "\n" + details))
            return
        was_xfail = getattr(report, "wasxfail", None)
        if was_xfail is not None:
            del report.wasxfail
            details += (
                f"\nthe test is marked xfail ({was_xfail or 'no reason'}): xfail excuses its assertions, not its carbon"
            )
        path, lineno = counted.location
        report.outcome = "failed"
        report.longrepr = BudgetFailure(message, details, path or counted.nodeid, lineno or 0)

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

    def _details(self, record: TestRecord, verdict: Verdict, energy: float, duration: float, co2e: float) -> str:
        from pytest_carbon.report.wording import budget_failure_details

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
            co2e,
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
