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
from typing import Any

import pytest

from pytest_carbon.ledger import OVERHEAD_PARTS, TestRecord
from pytest_carbon.meters.base import Channel
from pytest_carbon.report.record import Attribution, RunFacts, SessionFigures, XdistFigures, test_dict
from pytest_carbon.schema import FixtureRecordDict, PartRecord, WorkerRecord
from pytest_carbon.session.assemble import CONTROLLER_CUDA, SessionParts
from pytest_carbon.session.wire import (
    RECORD_ATTRIBUTE,
    WireHandover,
    WireTest,
    channels_from_wire,
    handover_from_wire,
    test_from_wire,
)

ATTRIBUTION_RULE = "per interval: E x (u x s + (1 - u) / n) for CPU and memory; GPU whole or split evenly"


class Controller:
    """Gathers what the workers send; a figures source for the report."""

    def __init__(self, parts: SessionParts) -> None:
        self.parts = parts
        self.worker_channels: dict[str, tuple[Channel, ...]] = {}
        self.worker_records: list[tuple[str, TestRecord]] = []
        self.worker_outputs: dict[str, WireHandover] = {}
        self.workers_down: dict[str, str | None] = {}
        self.seen_tests: dict[str, str] = {}  # nodeid -> worker, for every test a report arrived for

    # -- hooks ---------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[CONTROLLER_CUDA] = os.environ.get("CUDA_VISIBLE_DEVICES")

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
        self.worker_records.append((name, test_from_wire(data, len(channels), name)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        name = node.gateway.id
        output = handover_from_wire(getattr(node, "workeroutput", None) or {})
        if output is not None:
            self.worker_outputs[name] = output
            self.worker_channels.setdefault(name, channels_from_wire(output["channels"]))
        self.workers_down[name] = None if error is None else str(error)

    # -- the session's figures -----------------------------------------------------------

    def figures(self, every_test: bool) -> SessionFigures:
        parts = self.parts
        facts = parts.facts
        ledger = parts.ledger
        machine_channels = parts.attributor.machine_totals()
        machine = sum(machine_channels)
        controller_share = sum(ledger.session_channels()) if parts.scope == "process" else 0.0
        tests = []
        for name, record in self.worker_records:
            worker_facts = dataclasses.replace(facts, channels=self.worker_channels.get(name, facts.channels))
            tests.append(test_dict(record, worker_facts))
        workers = self.worker_summaries()
        attributed = sum(w["energy_j"] for w in workers)
        if parts.scope == "process":
            attributed += controller_share
        self._gather_warnings(facts)
        return SessionFigures(
            tests=tests,
            fixtures=merge_fixtures([f for output in self.worker_outputs.values() for f in output["fixtures"]]),
            overhead=sum_overheads([output["overhead"] for output in self.worker_outputs.values()]),
            channels=machine_channels,
            energy_j=attributed if parts.scope == "process" else machine,
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
            ),
        )

    def _gather_warnings(self, facts: RunFacts) -> None:
        found = [warning for output in self.worker_outputs.values() for warning in output.get("warnings", [])]
        for name, error in self.workers_down.items():
            if error is not None:
                found.append(
                    f"worker {name} went down ({error.splitlines()[0] if error else 'no reason given'}): "
                    "its shared fixtures and session overhead were not received; their energy counts as unattributed"
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
            else:
                # Only what arrived with the reports: the worker's own overhead is missing.
                summary["energy_j"] = sum(r.total_energy for r in tests)
                summary["missing"] = "session overhead and shared fixtures (the worker did not finish)"
            summaries.append(summary)
        return summaries


def merge_fixtures(fixtures: list[FixtureRecordDict]) -> list[FixtureRecordDict]:
    """One entry per fixture definition: each worker sets up its own session fixtures."""
    merged: dict[tuple[str, str, str], FixtureRecordDict] = {}
    for fixture in fixtures:
        key = (fixture["name"], fixture["scope"], fixture["baseid"])
        if key not in merged:
            merged[key] = {**fixture, "workers": 1, "by_meter": dict(fixture["by_meter"])}
            continue
        into = merged[key]
        into["workers"] = into.get("workers", 1) + 1
        into["setups"] += fixture["setups"]
        into["duration_s"] += fixture["duration_s"]
        into["energy_j"] += fixture["energy_j"]
        into["co2e_g"] += fixture["co2e_g"]
        for part, values in fixture["parts"].items():
            target = into["parts"].setdefault(part, {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0})
            _add_part(target, values)
        for meter, value in fixture["by_meter"].items():
            into["by_meter"][meter] = into["by_meter"].get(meter, 0.0) + value
    return list(merged.values())


def _add_part(target: PartRecord, values: PartRecord) -> None:
    target["duration_s"] += values["duration_s"]
    target["energy_j"] += values["energy_j"]
    target["co2e_g"] += values["co2e_g"]


def sum_overheads(overheads: list[dict[str, PartRecord]]) -> dict[str, PartRecord]:
    total: dict[str, PartRecord] = {
        part: {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0, "by_meter": {}} for part in OVERHEAD_PARTS
    }
    for overhead in overheads:
        for part, values in overhead.items():
            target = total[part]
            _add_part(target, values)
            by_meter = target.setdefault("by_meter", {})
            for meter, value in values.get("by_meter", {}).items():
                by_meter[meter] = by_meter.get(meter, 0.0) + value
    return total
