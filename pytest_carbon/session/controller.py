"""The pytest-xdist controller: gathers the workers' records and session data, and hands
the session's figures to the report.

The controller measures the machine for the whole session and adds its own share; the
workers' records arrive with their teardown reports and their session data when they
finish (session/wire.py). Machine scope: every worker claims the whole machine, so the
attributed figure is kept for comparison only and the session is the machine's total.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from typing import TYPE_CHECKING, Any

import pytest

from pytest_carbon.ledger import TestRecord
from pytest_carbon.meters.base import Channel
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.remote.tracker import session_record
from pytest_carbon.report.facts import RunFacts
from pytest_carbon.report.record import Attribution, SessionFigures, XdistFigures, test_dict
from pytest_carbon.report.sums import merge_fixtures, sum_overheads
from pytest_carbon.schema import FixtureRecordDict, LlmRecord, LlmSessionRecord, WorkerRecord
from pytest_carbon.session.assemble import CONTROLLER_CUDA, CONTROLLER_HOST, HOST_WORKERS, SessionParts
from pytest_carbon.session.wire import (
    INTENSITY_KEY,
    RECORD_ATTRIBUTE,
    WireHandover,
    WireTest,
    channels_from_wire,
    handover_from_wire,
    intensity_to_wire,
    test_from_wire,
)
from pytest_carbon.values.quantities import format_energy

if TYPE_CHECKING:
    from pytest_carbon.session.checkpoints import Checkpoints

ATTRIBUTION_RULE = "per interval: E x (u x s + (1 - u) / n) for CPU and memory; GPU whole or split evenly"


class Controller:
    """Gathers what the workers send; a figures source for the report."""

    def __init__(self, parts: SessionParts) -> None:
        self.parts = parts
        self.worker_channels: dict[str, tuple[Channel, ...]] = {}
        self.worker_records: list[tuple[str, TestRecord]] = []
        self.worker_llm: dict[int, LlmRecord] = {}  # index in worker_records -> its hosted-model calls
        self.worker_outputs: dict[str, WireHandover] = {}
        self.workers_down: dict[str, str | None] = {}
        self.seen_tests: dict[str, str] = {}  # nodeid -> worker, for every test a report arrived for
        self.host = platform.node()
        # A worker that goes down takes its last figures with it: what the machine used
        # meanwhile is charged to it (see _lost).
        self.lost_j: dict[str, float] = {}
        self._shipped_j = 0.0  # every record's energy, as they arrive
        self._marks: dict[str, tuple[float, float]] = {}  # worker -> (machine J, shipped J) at its last record
        self._machine_start = sum(parts.meter_set.read()[1:])
        self.checkpoints: Checkpoints | None = None  # with a JSON report: written as records arrive
        self.flush_due = 0.0

    # -- hooks ---------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[CONTROLLER_CUDA] = os.environ.get("CUDA_VISIBLE_DEVICES")
        node.workerinput[CONTROLLER_HOST] = self.host
        specs = getattr(getattr(node, "nodemanager", None), "specs", None) or [node.gateway.spec]
        mine = spec_host(node.gateway.spec)
        node.workerinput[HOST_WORKERS] = sum(1 for spec in specs if spec_host(spec) == mine)
        node.workerinput[INTENSITY_KEY] = intensity_to_wire(self.parts.model.intensity)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        worker_name = getattr(gateway, "id", None) or "gw?"
        self.seen_tests.setdefault(report.nodeid, worker_name)
        data: WireTest | None = getattr(report, RECORD_ATTRIBUTE, None)
        if not isinstance(data, dict):
            return
        name = data.get("worker", worker_name)
        if "channels" in data:
            self.worker_channels[name] = channels_from_wire(data["channels"])
        channels = self.worker_channels.get(name, self.parts.meter_set.channels)
        if "llm" in data:
            self.worker_llm[len(self.worker_records)] = data["llm"]
        record = test_from_wire(data, len(channels), name)
        self.worker_records.append((name, record))
        self._shipped_j += record.total_energy
        self._marks[name] = (self._machine_j(), self._shipped_j)
        checkpoints = self.checkpoints
        if checkpoints is not None:
            now = CLOCKS.now()
            if now >= self.flush_due:
                self.flush_due = checkpoints.flush(now)

    def _machine_j(self) -> float:
        """Joules the machine's meters have seen since the session began."""
        reading = self.parts.meter_set.read()
        return sum(reading[1:]) - self._machine_start

    def _lost(self, name: str) -> float:
        """A worker went down: what the machine used since its last record arrived (or
        since the session began) that no record shipped meanwhile claims. An upper bound:
        other processes' energy in that window is in it too."""
        machine_then, shipped_then = self._marks.get(name, (0.0, 0.0))
        window = self._machine_j() - machine_then
        return max(0.0, window - (self._shipped_j - shipped_then))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        name = node.gateway.id
        output = handover_from_wire(getattr(node, "workeroutput", None) or {})
        if output is not None:
            self.worker_outputs[name] = output
            self.worker_channels.setdefault(name, channels_from_wire(output["channels"]))
        self.workers_down[name] = None if error is None else str(error)
        if error is not None and output is None:
            self.lost_j[name] = self._lost(name)

    # -- the session's figures -----------------------------------------------------------

    def figures(self, every_test: bool) -> SessionFigures:
        parts = self.parts
        facts = parts.facts
        ledger = parts.ledger
        machine_channels = parts.attributor.machine_totals()
        machine = sum(machine_channels)
        controller_share = sum(ledger.session_channels()) if parts.scope == "process" else 0.0
        tests = []
        for at, (name, record) in enumerate(self.worker_records):
            worker_facts = dataclasses.replace(facts, channels=self.worker_channels.get(name, facts.channels))
            tests.append(test_dict(record, worker_facts, self.worker_llm.get(at)))
        fixtures = merge_fixtures((f for output in self.worker_outputs.values() for f in output["fixtures"]), "workers")
        workers = self.worker_summaries()
        # A worker on another machine was measured against that machine: it is part of the
        # session, but not of this machine's total, so it is kept out of the comparison with it.
        remote = [w for w in workers if w.get("remote")]
        remote_energy = sum(w["energy_j"] for w in remote)
        attributed = sum(w["energy_j"] for w in workers if not w.get("remote"))
        if parts.scope == "process":
            attributed += controller_share
        self._gather_warnings(facts)
        return SessionFigures(
            tests=tests,
            fixtures=fixtures,
            overhead=sum_overheads(output["overhead"] for output in self.worker_outputs.values()),
            channels=machine_channels,
            energy_j=(attributed if parts.scope == "process" else machine) + remote_energy,
            duration_s=ledger.session_duration,
            tests_energy_j=sum(t["energy_j"] for t in tests),
            attribution=Attribution(machine, attributed),
            xdist=XdistFigures(
                controller_energy_j=controller_share,
                workers=workers,
                missing_tests=sorted(set(self.seen_tests) - {record.nodeid for _, record in self.worker_records}),
                attribution={
                    "definition": ATTRIBUTION_RULE,
                    "gpu": sorted({o.get("gpu_note", "") for o in self.worker_outputs.values()} - {""}),
                },
                remote_energy_j=remote_energy if remote else None,
            ),
            llm=self._llm(fixtures),
        )

    def _llm(self, fixtures: list[FixtureRecordDict]) -> LlmSessionRecord | None:
        """Every worker's hosted-model calls: its tests', its fixtures' and the rest."""
        config = self.parts.llm
        if config is None:
            return None
        accounts = list(self.worker_llm.values()) + [f["llm"] for f in fixtures if "llm" in f]
        accounts += [o["llm_other"] for o in self.worker_outputs.values() if o.get("llm_other")]  # type: ignore[misc]
        return session_record(config, bool(self.parts.settings.value("embodied")), accounts)

    def _gather_warnings(self, facts: RunFacts) -> None:
        found = [warning for output in self.worker_outputs.values() for warning in output.get("warnings", [])]
        for name, error in self.workers_down.items():
            if error is not None:
                found.append(
                    f"worker {name} went down ({error.splitlines()[0] if error else 'no reason given'}): "
                    "its shared fixtures and session overhead were not received; it is charged the machine's energy "
                    "that no record claimed between its last report and going down "
                    f"({format_energy(self.lost_j.get(name, 0.0))}, an upper bound)"
                )
        for warning in found:
            if warning not in facts.warnings:
                facts.warnings.append(warning)

    def worker_summaries(self) -> list[WorkerRecord]:
        names = sorted(set(self.workers_down) | set(self.worker_outputs) | {n for n, _ in self.worker_records})
        summaries: list[WorkerRecord] = []
        for name in names:
            output = self.worker_outputs.get(name)
            tests = [r for n, r in self.worker_records if n == name]
            summary: WorkerRecord = {
                "worker": name,
                "tests": len(tests),
                "crashed": self.workers_down.get(name) is not None,
                "complete": output is not None,
                "energy_j": 0.0,
            }
            if output is not None:
                summary["energy_j"] = sum(output["session_channels"])
                summary["duration_s"] = output["duration_s"]
                summary["overhead"] = {part: values["energy_j"] for part, values in output["overhead"].items()}
                summary["machine_energy_j"] = output["attribution"].get("machine_energy_j")
                summary["host"] = output.get("host", self.host)
                summary["remote"] = summary["host"] != self.host
            else:
                # Only what arrived with the reports: the worker's own overhead is missing.
                summary["energy_j"] = sum(r.total_energy for r in tests)
                summary["missing"] = "session overhead and shared fixtures (the worker did not finish)"
                lost = self.lost_j.get(name)
                if lost is not None:
                    summary["lost_energy_j"] = lost
                    summary["energy_j"] += lost
            summaries.append(summary)
        return summaries


def spec_host(spec: Any) -> str:
    """The machine an execnet gateway spec starts its worker on: this one for popen."""
    for kind in ("ssh", "socket", "vagrant_ssh"):
        value = getattr(spec, kind, None)
        if value:
            return f"{kind}:{value.rsplit(':', 1)[0] if kind == 'socket' else value}"
    return "local"
