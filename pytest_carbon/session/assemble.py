"""Build a session from its parts: the one place that knows which role gets which collaborators.

Every role measures (the controller measures the machine for the whole session); the
serial run and the workers measure tests; the serial run and the controller report;
the workers hand their figures over. No role subclasses another.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pytest

from pytest_carbon.carbon.build import build_model
from pytest_carbon.carbon.embodied import TABLE as HARDWARE_TABLE
from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.config.settings import Settings
from pytest_carbon.ledger import Ledger
from pytest_carbon.meters.attribution import ActiveWorkers, Attributor
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.meters.cpuinfo import read_cpuinfo
from pytest_carbon.meters.discovery import MeterOptions, Selection, select_meters
from pytest_carbon.meters.estimate import EstimateMeter
from pytest_carbon.meters.meter_set import MeterSet
from pytest_carbon.meters.proctree import IncludeSpec, TreeCpuTime
from pytest_carbon.meters.uncertainty import UncertaintyModel, counter_band, estimate_band
from pytest_carbon.report.facts import RunFacts
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.verdicts.budgets import Budget

if TYPE_CHECKING:
    from pytest_carbon.remote.config import RemoteConfig
    from pytest_carbon.remote.tracker import RemoteTracker
    from pytest_carbon.session.manager import CarbonSession

Role = Literal["serial", "worker", "controller"]
CONTROLLER_CUDA = "carbon_controller_cuda_visible_devices"  # in each worker's workerinput
CONTROLLER_HOST = "carbon_controller_host"  # in each worker's workerinput: the controller's hostname
HOST_WORKERS = "carbon_host_workers"  # in each worker's workerinput: workers sent to the same host


def run_role(config: pytest.Config) -> Role:
    """serial, or under pytest-xdist: worker (runs tests) or controller (gathers results)."""
    if hasattr(config, "workerinput"):
        return "worker"
    if (
        config.pluginmanager.hasplugin("xdist")
        and getattr(config.option, "dist", "no") != "no"
        and not config.option.collectonly
    ):
        return "controller"
    return "serial"


@dataclass
class SessionParts:
    """What every role shares: the settings, the carbon model, the meters and the ledger."""

    config: pytest.Config
    settings: Settings
    role: Role
    scope: str
    model: CarbonModel
    selection: Selection
    meter_set: MeterSet
    attributor: Attributor
    ledger: Ledger
    facts: RunFacts
    budgets: dict[str, Budget] = field(default_factory=dict)  # node id -> budget, from collection
    llm: RemoteConfig | None = None  # hosted-model calls are charged (--carbon-llm)
    remote: RemoteTracker | None = None  # the calls this process observes (not on the xdist controller)

    @property
    def read(self) -> Callable[[], list[float]]:
        """What a measurement inside a test reads: the meters, or this run's share of them."""
        return self.attributor.read


def _attributor(
    config: pytest.Config, role: Role, scope: str, meter_set: MeterSet, vcpus: int, includes: tuple[IncludeSpec, ...]
) -> Attributor:
    """What a boundary reads: this run's share of what the meters see (process scope), or
    all of it (machine scope); guarded against clocks and counters that run backwards and
    intervals above the meters' maximum power either way."""
    read, recover = meter_set.fast_read, meter_set.recover
    if scope != "process":
        return Attributor(read, meter_set.meters, vcpus, None, True, process=False, recover=recover)
    if role == "controller":
        # Its own process only (the workers are its children and charge themselves);
        # no share of a GPU: the workers use them.
        tree = TreeCpuTime(includes, tree=False)
        return Attributor(read, meter_set.meters, vcpus, None, False, tree=tree, recover=recover)
    if role == "worker":
        from pytest_carbon.session.worker import worker_gpu_exclusive

        workerinput = getattr(config, "workerinput", {})
        total = int(workerinput.get(HOST_WORKERS) or os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
        # A worker on another machine cannot see its siblings there: it counts those sent to its host.
        remote = workerinput.get(CONTROLLER_HOST, platform.node()) != platform.node()
        workers = ActiveWorkers(total, None if remote else os.getppid())
        # Named processes are charged by the controller, once, not by every worker.
        return Attributor(
            read, meter_set.meters, vcpus, workers, worker_gpu_exclusive(config), tree=TreeCpuTime(), recover=recover
        )
    tree = TreeCpuTime(includes)
    return Attributor(read, meter_set.meters, vcpus, ActiveWorkers(1, None), True, tree=tree, recover=recover)


def llm_config(settings: Settings) -> RemoteConfig | None:
    """The hosted-model settings when calls are charged: on, or auto with EcoLogits installed.
    A table in pyproject.toml is checked whatever the mode; without one, nothing of the
    hosted-model code is imported unless calls are charged."""
    where = f"{settings.pyproject.name if settings.pyproject else 'pyproject.toml'} [tool.pytest_carbon]"
    table = settings.raw_table.get("llm")
    parsed = _parse_llm_table(table, where) if table is not None else None
    mode = settings["llm"]
    if mode.value == "off":
        return None
    from importlib.util import find_spec

    if find_spec("ecologits") is None:
        if mode.value == "on":
            raise CarbonConfigError(
                mode.value,
                mode.origin,
                "needs EcoLogits, which is not installed",
                "auto or off, or install it: pip install 'pytest-carbon[llm]'",
            )
        return None
    return parsed if parsed is not None else _parse_llm_table(None, where)


def _parse_llm_table(table: object, where: str) -> RemoteConfig:
    from pytest_carbon.remote.config import parse_remote_config

    return parse_remote_config(table, where)


def build_parts(config: pytest.Config, settings: Settings, role: Role) -> SessionParts:
    scope: str = settings.value("scope")
    cpu = read_cpuinfo()
    intensity = settings.value("intensity")
    if role == "worker" and intensity.live_zone is not None:
        from pytest_carbon.session.wire import INTENSITY_KEY, intensity_from_wire

        # One live lookup per session: the controller's, handed over in workerinput.
        intensity = intensity_from_wire(getattr(config, "workerinput", {}).get(INTENSITY_KEY)) or intensity
    model = build_model(
        intensity,
        settings.value("pue"),
        settings["pue"].origin,
        settings.raw_table.get(HARDWARE_TABLE),
        f"{settings.pyproject.name if settings.pyproject else 'pyproject.toml'} [tool.pytest_carbon]",
        bool(settings.value("embodied")),
        cpu.vcpus,
    )
    options = MeterOptions(gpus=settings.value("gpus"), gpus_origin=settings["gpus"].origin)
    selection = select_meters(settings.value("meters"), options, settings["meters"].origin)
    meter_set = MeterSet(selection.meters)
    meter_set.start()
    attributor = _attributor(config, role, scope, meter_set, cpu.vcpus, settings.value("include"))
    ledger = Ledger(attributor.read, len(meter_set.channels), recorder=attributor if attributor.defers else None)
    facts = RunFacts(
        channels=meter_set.channels,
        meter_descriptions={m.name: m.describe() for m in meter_set.meters},
        meter_measured={m.name: m.measured for m in meter_set.meters},
        dropped=meter_set.dropped,
        estimated_components=selection.estimated,
        model=model,
        cpu_model=cpu.model_name,
        vcpus=cpu.vcpus,
        start_wall=CLOCKS.wall(),
        action=settings.value("action"),
        warnings=meter_set.warnings,
        notes=meter_set.notes,
        scope=scope,
    )
    facts.warnings.extend(model.warnings)
    facts.uncertainty = uncertainty_model(meter_set, scope, ticks=bool(settings.value("include")))
    if role != "worker":  # the report is the serial run's or the controller's
        from pytest_carbon.session.shard import shard_info

        facts.shard = shard_info(config, settings)
    parts = SessionParts(config, settings, role, scope, model, selection, meter_set, attributor, ledger, facts)
    parts.llm = llm_config(settings)
    if parts.llm is not None and role != "controller":
        from pytest_carbon.remote.tracker import RemoteTracker

        parts.remote = RemoteTracker(ledger, parts.llm, bool(settings.value("embodied")))
        parts.remote.start()
    return parts


def uncertainty_model(meter_set: MeterSet, scope: str, ticks: bool) -> UncertaintyModel:
    """Each meter's band (meters/uncertainty.py); counters get their power at the end."""
    bands = {}
    for meter in meter_set.meters:
        if isinstance(meter, EstimateMeter):
            cpu = meter.model
            bands[meter.name] = estimate_band(cpu.max_w, cpu.max_w - cpu.min_w, cpu.vcpus, scope, ticks)
        else:
            bands[meter.name] = counter_band(meter.name, scope)
    return UncertaintyModel(bands, scope)


def refresh_uncertainty(parts: SessionParts) -> None:
    """Counters' steps at their mean power so far; the estimate's, if descendants ticked."""
    model = parts.facts.uncertainty
    for name, watts in parts.attributor.mean_power_by_meter(parts.meter_set.meters).items():
        model.set_power(name, watts)
    if parts.attributor.saw_ticks and parts.scope == "process":
        for meter in parts.meter_set.meters:
            if isinstance(meter, EstimateMeter):
                cpu = meter.model
                model.bands[meter.name] = estimate_band(cpu.max_w, cpu.max_w - cpu.min_w, cpu.vcpus, "process", True)


def assemble(config: pytest.Config, settings: Settings) -> CarbonSession:
    """Build this process's session for its role and register its plugins."""
    from pytest_carbon.session.manager import CarbonSession
    from pytest_carbon.session.outputs import JUnitProperties, report_writers, setting_path
    from pytest_carbon.session.reporting import LocalFigures, Reporting
    from pytest_carbon.session.runner import TestRunner

    role = run_role(config)
    parts = build_parts(config, settings, role)
    plugins = config.pluginmanager
    runner: TestRunner | None = None
    if role != "controller":
        runner = TestRunner(parts)
        plugins.register(runner, "carbon-tests")
        if getattr(config.option, "xmlpath", None):
            runner.test_listeners.append(JUnitProperties(parts.model, parts.budgets, parts.remote, parts.ledger))
        from pytest_carbon.session.gpu_flags import interpolation_flags

        gpu_flags = interpolation_flags(parts.meter_set)
        if gpu_flags is not None:
            runner.test_listeners.append(gpu_flags.test_finished)
            plugins.register(gpu_flags, "carbon-gpu-interpolation")
    if role == "worker":
        from pytest_carbon.session.worker import Handover, TestStarts, WorkerShipping

        assert runner is not None
        shipping = WorkerShipping(config, parts)
        runner.test_listeners.append(shipping.ship)
        plugins.register(TestStarts(parts.ledger), "carbon-test-starts")
        session = CarbonSession(parts, Handover(config, parts, shipping.worker), runner)
    else:
        if role == "controller":
            from pytest_carbon.session.controller import Controller

            controller = Controller(parts)
            plugins.register(controller, "carbon-controller")
            figures: LocalFigures | Controller = controller
        else:
            assert runner is not None
            figures = LocalFigures(parts)
        writers = report_writers(config, settings)
        json_path = setting_path(config, settings, "json")
        if json_path is not None:
            from pytest_carbon.session.checkpoints import Checkpoints, flush_interval

            interval = flush_interval()  # checked before the placeholder report is written
        reporting = Reporting(parts, figures, writers, json_path, setting_path(config, settings, "compare"))
        if json_path is not None:
            # The xdist controller keeps the records that arrived (its workers' session
            # figures come only when they finish).
            checkpoints = Checkpoints(reporting, interval)
            checkpoints.install_sigterm()
            plugins.register(checkpoints, "carbon-checkpoints")
            if runner is not None:
                runner.checkpoints = checkpoints
                runner.flush_due = checkpoints.first_due()
            else:
                controller.checkpoints = checkpoints
                controller.flush_due = checkpoints.first_due()
        session = CarbonSession(parts, reporting, runner)
    plugins.register(session, "carbon-session")
    if runner is not None:  # last: removed when the session closes
        runner.full_collections.install()
    return session
