"""pytest hooks: options, the marker, wiring meters and ledger to the test protocol, verdicts."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import heapq
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr

from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.verdicts.budgets import Budget, Verdict, judge, resolve_test_budget
from pytest_carbon.meters.cpuinfo import read_cpuinfo
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.session.gpu_flags import interpolation_flags
from pytest_carbon.ledger import CALL, COLLECTION, FINISH, PENDING, PHASES, SETUP, TEARDOWN, FixtureKey, Ledger, TestRecord
from pytest_carbon.meters.attribution import ActiveWorkers, Attributor
from pytest_carbon.meters.discovery import MeterOptions, select_meters
from pytest_carbon.meters.meter_set import MeterSet
from pytest_carbon.carbon.build import model_from_settings
from pytest_carbon.session.outcomes import combine
from pytest_carbon.values.quantities import format_energy, format_mass
from pytest_carbon.report import record as report_record
from pytest_carbon.report.json_report import write_json
from pytest_carbon.report.outputs import JUnitProperties, report_writers, settings_record

if TYPE_CHECKING:
    from pytest_carbon.verdicts.compare import Baseline
    from pytest_carbon.session.block import CarbonMeasurer
from pytest_carbon.report.terminal import Line, attribution_lines, header_line, render
from pytest_carbon.config.settings import OPTIONS, Settings, find_pyproject, load_settings

PLUGIN_KEY = pytest.StashKey["CarbonPlugin"]()
MARKER_HELP = (
    "carbon(limit=None, *, max_g=None, max_mg=None, max_kg=None, max_j=None, max_wh=None): "
    "fail this test if its setup and call emit more than the limit, e.g. carbon(max_g=0.5) or carbon('10 J') "
    "(pytest-carbon)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("carbon", "carbon footprint and budgets (pytest-carbon)")
    for spec in OPTIONS:
        if spec.flag:
            if spec.is_switch:
                group.addoption(spec.flag, dest=f"carbon_{spec.key}", action="store_true", default=None, help=spec.help)
            else:
                group.addoption(spec.flag, dest=f"carbon_{spec.key}", default=None, metavar=spec.metavar, help=spec.help)
        if spec.ini:
            parser.addini(spec.ini, spec.help + " (pytest-carbon)", type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    if config.option.help or getattr(config.option, "version", False):
        return
    try:
        settings = settings_from_config(config)
        role = run_role(config)
        if role == "controller":
            from pytest_carbon.session.controller import CarbonController

            plugin: CarbonSession = CarbonController(config, settings, role)
        else:
            plugin = CarbonPlugin(config, settings, role)
    except CarbonConfigError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[PLUGIN_KEY] = plugin
    config.pluginmanager.register(plugin, "carbon-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(PLUGIN_KEY, None)
    if plugin is not None:
        plugin.close()


def settings_from_config(config: pytest.Config) -> Settings:
    cli = {spec.key: getattr(config.option, f"carbon_{spec.key}", None) for spec in OPTIONS}
    ini: dict[str, Any] = {}
    for spec in OPTIONS:
        if spec.ini:
            ini[spec.key] = config.getini(spec.ini)
    pyproject = find_pyproject(config.inipath, config.rootpath)
    ini_file = config.inipath.name if config.inipath else "ini"
    return load_settings(cli, ini, pyproject, ini_file)


def run_role(config: pytest.Config) -> str:
    """serial, or under pytest-xdist: worker (runs tests) or controller (gathers results)."""
    if hasattr(config, "workerinput"):
        return "worker"
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", "no") != "no" and not config.option.collectonly:
        return "controller"
    return "serial"


def build_model(settings: Settings) -> CarbonModel:
    return model_from_settings(settings)


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


class CarbonSession:
    """Per-session state shared by every role, registered as a plugin object so its
    methods are hooks. CarbonPlugin measures tests (serial runs and xdist workers);
    xdist_support.CarbonController gathers the workers' results."""

    def __init__(self, config: pytest.Config, settings: Settings, role: str = "serial") -> None:
        self.config = config
        self.settings = settings
        self.role = role
        self.scope: str = settings.value("scope") or ("machine" if role == "serial" else "process")
        self.model = build_model(settings)
        self.action: str = settings.value("action")
        options = MeterOptions(gpus=settings.value("gpus"), gpus_origin=settings["gpus"].origin)
        self.selection = select_meters(settings.value("meters"), options, settings["meters"].origin)
        self.meter_set = MeterSet(self.selection.meters)
        self.meter_set.start()
        cpu = read_cpuinfo()
        self.attributor: Attributor | None = self.make_attributor(cpu.vcpus)
        if self.attributor is not None:
            self.ledger = Ledger(self.attributor.read, len(self.meter_set.channels))
        else:
            self.ledger = Ledger(self.meter_set.fast_read, len(self.meter_set.channels), self.meter_set.recover)
        self.facts = report_record.RunFacts(
            channels=self.meter_set.channels,
            meter_descriptions={m.name: m.describe() for m in self.meter_set.meters},
            meter_measured={m.name: m.measured for m in self.meter_set.meters},
            dropped=self.meter_set.dropped,
            estimated_components=self.selection.estimated,
            model=self.model,
            cpu_model=cpu.model_name,
            vcpus=cpu.vcpus,
            start_wall=dt.datetime.now(dt.timezone.utc),
            action=self.action,
            warnings=self.meter_set.warnings,
            notes=[note for m in self.meter_set.meters for note in getattr(m, "notes", ())],
            scope=self.scope,
        )
        self.facts.warnings.extend(self.model.warnings)
        self.budgets: dict[str, Budget] = {}
        self.report: dict[str, Any] | None = None
        self.session_verdict: Verdict | None = None
        # Extension points: called with each finished test's record, and with the final report.
        self.test_listeners: list[Callable[[TestRecord, pytest.TestReport], None]] = []
        self.report_writers: list[Callable[[dict[str, Any]], None]] = []
        gpu_flags = interpolation_flags(self.meter_set)
        if gpu_flags is not None:
            self.test_listeners.append(gpu_flags.test_finished)
            config.pluginmanager.register(gpu_flags, "carbon-gpu-interpolation")
        self._tearing_down: dict[int, object] = {}
        self._running: int | None = None  # index of the test whose reports are arriving
        self._running_id: str | None = None
        self._closed = False
        if role != "worker":  # workers hand their results to the controller, which reports
            self.report_writers.extend(report_writers(settings, config.rootpath))
        if getattr(config.option, "xmlpath", None):
            self.test_listeners.append(JUnitProperties(self.model, self.budgets))
        # Read before the placeholder JSON is written: the baseline may be the same file.
        compare_path = settings.value("compare")
        self.baseline: Baseline | None = None
        if compare_path:
            from pytest_carbon.verdicts.compare import load_baseline

            self.baseline = load_baseline(Path(config.rootpath, compare_path))
        if self.baseline is not None and self.baseline.warning:
            self.facts.warnings.append(self.baseline.warning)
        json_path = settings.value("json") if role != "worker" else None
        if json_path:
            self.json_path: Path | None = Path(config.rootpath, json_path) if not Path(json_path).is_absolute() else Path(json_path)
            self._write_placeholder()
        else:
            self.json_path = None

    def make_attributor(self, vcpus: int) -> Attributor | None:
        """Serial runs in process scope: this process is the only worker."""
        if self.scope != "process":
            return None
        return Attributor(self.meter_set.read, self.meter_set.meters, vcpus, ActiveWorkers(1, None), gpu_exclusive=True)

    # -- header ------------------------------------------------------------------------

    def header_session(self) -> dict[str, Any]:
        intensity = self.model.intensity
        return {
            "meters": [{"description": m.describe(), "measured": m.measured} for m in self.meter_set.meters],
            "intensity_g_per_kwh": intensity.g_per_kwh,
            "intensity_source": intensity.label,
            "intensity_note": intensity.note,
            "intensity_origin": intensity.origin,
            "pue": self.model.pue,
            "pue_source": self.model.pue_origin,
            "embodied_label": self.model.embodied_label,
        }

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [header_line(self.header_session())]

    # -- end of session (shared) -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.meter_set.settle()
        self.ledger.finish()
        self.meter_set.close()
        self.facts.end_wall = dt.datetime.now(dt.timezone.utc)
        if self.role == "worker":
            self.hand_over()
            return
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
            self.report = self.build_report(complete=interrupted is None, interrupted=interrupted)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.report["session"]["settings"] = settings_record(self.settings)
        if self.baseline is not None and self.baseline.report is not None:
            from pytest_carbon.verdicts.compare import compare

            self.report["comparison"] = compare(
                self.baseline.report, self.report, baseline=self.baseline.path,
                fail_pct=self.settings.value("compare_fail"), minimum=self.settings.value("compare_min"),
            ).to_dict()
        self.judge_session(session)
        self.write_reports()

    def hand_over(self) -> None:
        """Workers only: put the session's data where the controller can read it."""

    def attribution_fields(self) -> dict[str, Any]:
        """The session fields describing attribution: machine total versus attributed."""
        if self.attributor is None:
            return {"scope": self.scope}
        machine = sum(self.attributor.machine_totals())
        attributed = sum(self.ledger.session_channels())
        return {
            "scope": self.scope,
            "machine_energy_j": machine,
            "attributed_energy_j": attributed,
            "unattributed_energy_j": machine - attributed,
        }

    def build_report(self, complete: bool, interrupted: str | None) -> dict[str, Any]:
        facts = self.facts
        budget = self.settings["budget"]
        session_channels = self.ledger.session_channels()
        duration = self.ledger.session_duration
        if budget.value is not None:
            energy = sum(session_channels)
            self.session_verdict = judge(Budget(budget.value, budget.origin), energy, self.model.co2e_g(energy, duration))
        extra = self.attribution_fields()
        if self.needs_every_test():
            records = list(self.ledger.tests.values())
            tests_energy = sum(r.total_energy for r in records)
        else:
            # Only the terminal reads this report: it shows the costliest tests and the
            # verdicts, so only those become records and dicts (the rest are counted).
            energies, durations = self.ledger.test_totals()
            tests_energy = sum(energies)
            extra["test_count"] = len(energies)
            records = self.terminal_subset(energies, durations)
        tests = [report_record.test_dict(r, facts) for r in records]
        fixtures = [report_record.fixture_dict(r, facts) for r in self.ledger.fixtures.values()]
        overhead = report_record.overhead_dict(self.ledger.overhead, facts)
        if "machine_energy_j" in extra:
            extra["summary_lines"] = attribution_lines(extra)
        return report_record.build_report(
            tests, fixtures, overhead, session_channels, duration, facts, self.session_verdict, complete, interrupted,
            extra_session=extra, tests_energy=tests_energy,
        )

    def needs_every_test(self) -> bool:
        return bool(
            self.json_path is not None
            or self.report_writers
            or self.baseline is not None
            or self.role != "serial"
            or self.config.get_verbosity() > 0
        )

    def terminal_subset(self, energies: list[float], durations: list[float]) -> list[TestRecord]:
        co2e = self.model.co2e_g_each(energies, durations)
        top = heapq.nlargest(self.settings.value("top"), range(len(co2e)), key=co2e.__getitem__)
        chosen = set(top).union(self.ledger.records_with_verdicts())
        return [self.ledger.record(index) for index in sorted(chosen)]

    def judge_session(self, session: pytest.Session) -> None:
        verdict = self.session_verdict
        regressed = bool(self.report and self.report.get("comparison", {}).get("failed"))
        if (verdict is not None and verdict.exceeded or regressed) and self.action == "fail":
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def write_reports(self) -> None:
        assert self.report is not None
        if self.json_path is not None:
            try:
                write_json(self.json_path, self.report)
            except OSError as error:
                self.report["session"]["warnings"].append(f"could not write the JSON report to {self.json_path}: {error}")
        for writer in self.report_writers:
            try:
                writer(self.report)
            except Exception as error:  # a reporter must never break the run
                self.report["session"]["warnings"].append(f"{getattr(writer, '__name__', writer)} failed: {error}")

    def _write_placeholder(self) -> None:
        """A valid, incomplete report from the start, so a killed run still leaves one."""
        assert self.json_path is not None
        try:
            report = self.build_report(complete=False, interrupted="the run did not finish (killed or still running)")
            write_json(self.json_path, report)
        except OSError as error:
            self.meter_set.warnings.append(f"could not write the JSON report to {self.json_path}: {error}")

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if self.report is None:
            return
        terminalreporter.write_sep("=", "carbon footprint")
        for line in render(self.report, config.get_verbosity(), self.settings.value("top")):
            write_line(terminalreporter, line)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.meter_set.close()
            if self.attributor is not None:
                self.attributor.close()
            # Let go of per-test data before pytest's final garbage collection passes.
            self.report = None
            self.ledger.clear()


class CarbonPlugin(CarbonSession):
    """Measures every test: serial runs, and each pytest-xdist worker."""

    def __init__(self, config: pytest.Config, settings: Settings, role: str = "serial") -> None:
        super().__init__(config, settings, role)
        if role == "worker":
            from pytest_carbon.session.controller import WorkerShipping

            self.shipping = WorkerShipping(config, self)
            self.test_listeners.append(self.shipping.ship)
            config.pluginmanager.register(TestStarts(self.ledger), "carbon-test-starts")

    def make_attributor(self, vcpus: int) -> Attributor | None:
        if self.role == "worker" and self.scope == "process":
            from pytest_carbon.session.controller import worker_attributor

            return worker_attributor(self.config, self.meter_set, vcpus)
        return super().make_attributor(vcpus)

    def hand_over(self) -> None:
        self.shipping.hand_over()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        try:
            return (yield)
        finally:
            # After the last test: what remains until the session ends is its finish.
            self.ledger.enter_overhead(FINISH)

    # -- collection and budgets ----------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> Any:
        self.ledger.enter_overhead(COLLECTION)
        try:
            return (yield)
        finally:
            self.ledger.close(PENDING)  # until the first test's setup report claims it

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        default = self.settings["test_budget"]
        patterns = self.settings.patterns
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
    # Each phase ends as its report is logged, right after pytest makes it. A test's setup
    # runs from the end of the one before (or of collection) to its setup report.

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
        index = self._running
        if index is None or report.nodeid != self._running_id:
            return
        if when == "call":
            if hasattr(report, "context"):
                return  # a subtest's report, logged while the call phase goes on
            ledger.close(3 * index + TEARDOWN)
            if self.budgets:
                self._judge(index, report)
                passed = report.outcome == "passed"
            if passed and not hasattr(report, "wasxfail"):
                ledger.outcomes[index] = "passed"  # the common case, without the general fold
            else:
                ledger.outcomes[index] = combine(ledger.outcomes[index], report)
            return
        ledger.close(PENDING)
        self._running = self._running_id = None
        if not passed:
            ledger.outcomes[index] = combine(ledger.outcomes[index], report)
        listeners = self.test_listeners
        if listeners:
            record = ledger.running_record(index)
            for listener in listeners:
                listener(record, report)

    def _judge(self, index: int, report: pytest.TestReport) -> None:
        budget = self.budgets.get(report.nodeid)
        if budget is None or (report.skipped and not hasattr(report, "wasxfail")):
            return
        record = self.ledger.running_record(index)
        energy = record.part_energy(SETUP) + record.part_energy(CALL)
        duration = record.durations[SETUP] + record.durations[CALL]
        verdict = judge(budget, energy, self.model.co2e_g(energy, duration))
        record.verdict = verdict
        if not verdict.exceeded:
            return
        message = verdict.message()
        details = self._verdict_details(record, verdict, energy, duration)
        if self.action == "warn":
            report.sections.append(("carbon budget exceeded (warning only)", message + "\n" + details))
            return
        if report.failed:
            report.sections.append(("carbon budget", message + "\n" + details))
            return
        was_xfail = getattr(report, "wasxfail", None)
        if was_xfail is not None:
            del report.wasxfail
            details += f"\nthe test is marked xfail ({was_xfail or 'no reason'}): xfail excuses its assertions, not its carbon"
        path, lineno = record.location
        report.outcome = "failed"
        report.longrepr = BudgetFailure(message, details, path or record.nodeid, lineno or 0)

    def _verdict_details(self, record: TestRecord, verdict: Verdict, energy: float, duration: float) -> str:
        lines = [f"counted: setup + call = {format_energy(energy)} over {duration:.3f}s -> {format_mass(self.model.co2e_g(energy, duration))}"]
        for index in (SETUP, CALL):
            lines.append(f"  {PHASES[index]:<8} {format_energy(record.part_energy(index)):>10}  {record.durations[index]:.3f}s")
        lines.append("  (teardown is measured and reported but not counted against the budget)")
        meters: dict[str, float] = {}
        for index in (SETUP, CALL):
            for channel, value in zip(self.meter_set.channels, record.part_channels(index)):
                key = f"{channel.meter}/{channel.name}"
                meters[key] = meters.get(key, 0.0) + value
        kinds = {m.name: ("measured" if m.measured else "estimated") for m in self.meter_set.meters}
        lines.append("by meter: " + ", ".join(f"{k} {format_energy(v)} [{kinds.get(k.split('/')[0], '?')}]" for k, v in meters.items()))
        lines.append(self.model.describe())
        lines.append(f"budget: {verdict.budget.limit.describe()} from {verdict.budget.source}")
        return "\n".join(lines)

    # -- shared fixtures ---------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
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

    def _fixture_teardown_starts(self, fixturedef: pytest.FixtureDef[Any], record: Any) -> None:
        # Added after the fixture's own finalizers, so it runs first (they pop in reverse).
        self.ledger.push(record, 1)
        self._tearing_down[id(fixturedef)] = record

    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
        if self._tearing_down.pop(id(fixturedef), None) is not None:
            self.ledger.pop()


class TestStarts:
    """xdist workers only: a reading as each test starts. A worker waits for the
    controller between tests; this keeps that wait out of the next test's setup (and its
    budget). Serial runs go without it: there the gap is pytest's own bookkeeping."""

    __test__ = False

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.ledger.test_starts()


def closest_carbon_marker(item: pytest.Item, inherited: dict[int, pytest.Mark | None]) -> pytest.Mark | None:
    """item.get_closest_marker("carbon"), with what each parent node (module, class)
    passes down worked out once: this runs for every collected test."""
    for mark in item.own_markers:
        if mark.name == "carbon":
            return mark
    return _inherited_marker(item.parent, inherited)


def _inherited_marker(node: Any, inherited: dict[int, pytest.Mark | None]) -> pytest.Mark | None:
    if node is None:
        return None
    key = id(node)
    if key in inherited:
        return inherited[key]
    found = next((mark for mark in node.own_markers if mark.name == "carbon"), None)
    if found is None:
        found = _inherited_marker(node.parent, inherited)
    inherited[key] = found
    return found


def write_line(terminalreporter: Any, line: Line) -> None:
    markup = {"red": {"red": True, "bold": True}, "yellow": {"yellow": True}, "green": {"green": True}, "bold": {"bold": True}}
    terminalreporter.write_line(line.text, **markup.get(line.style, {}))


@pytest.fixture
def carbon(request: pytest.FixtureRequest) -> CarbonMeasurer:
    """Measure a block inside a test: `with carbon.measure() as m: ...`, then `m.energy_j`, `m.co2e_g`."""
    plugin = request.config.stash.get(PLUGIN_KEY, None)
    if plugin is None:
        pytest.skip("pytest-carbon is not measuring this run")
    from pytest_carbon.session.block import CarbonMeasurer

    return CarbonMeasurer(plugin.meter_set.read if plugin.attributor is None else plugin.attributor.read, plugin.meter_set.channels, plugin.facts.meter_measured, plugin.model)
