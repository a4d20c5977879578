"""pytest-xdist: workers measure and judge their tests; the controller gathers one report.

Workers send each finished test's record with its teardown report (plain data, as
execnet requires) and their session data (shared fixtures, start-up and collection
overhead) in `workeroutput`. The controller measures the machine for the whole session,
adds its own share, and reports the attributed total beside the machine total.
"""

from __future__ import annotations

import dataclasses
import os
from array import array
from typing import TYPE_CHECKING, Any

import pytest

from pytest_carbon.meters.attribution import ActiveWorkers, Attributor, gpu_split_note
from pytest_carbon.verdicts.budgets import Budget, judge
from pytest_carbon.ledger import TestRecord
from pytest_carbon.meters.meter_set import MeterSet
from pytest_carbon.meters.base import Channel
from pytest_carbon.plugin import CarbonSession
from pytest_carbon.report import record as report_record
from pytest_carbon.report.terminal import attribution_lines

if TYPE_CHECKING:
    from pytest_carbon.plugin import CarbonPlugin

RECORD_ATTRIBUTE = "carbon_record"
OUTPUT_KEY = "carbon"
CONTROLLER_CUDA = "carbon_controller_cuda_visible_devices"


def worker_id(config: pytest.Config) -> str:
    return str(getattr(config, "workerinput", {}).get("workerid", os.environ.get("PYTEST_XDIST_WORKER", "gw?")))


def gpu_exclusive(config: pytest.Config) -> bool:
    """A worker owns its GPUs when CUDA_VISIBLE_DEVICES was set for it, differently from the
    controller (the usual way of pinning one GPU per worker)."""
    mine = os.environ.get("CUDA_VISIBLE_DEVICES")
    controllers = getattr(config, "workerinput", {}).get(CONTROLLER_CUDA)
    return mine is not None and mine != controllers


def worker_attributor(config: pytest.Config, meter_set: MeterSet, vcpus: int) -> Attributor:
    total = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    workers = ActiveWorkers(total, os.getppid())
    return Attributor(meter_set.read, meter_set.meters, vcpus, workers, gpu_exclusive(config))


def channel_dicts(channels: tuple[Channel, ...]) -> list[dict[str, Any]]:
    return [{"meter": c.meter, "name": c.name, "component": c.component, "details": dict(c.details)} for c in channels]


def channels_from(data: list[dict[str, Any]]) -> tuple[Channel, ...]:
    return tuple(Channel(d["meter"], d["name"], d["component"], tuple(d.get("details", {}).items())) for d in data)


class WorkerShipping:
    """Worker side: attach records to reports, leave session data in workeroutput."""

    def __init__(self, config: pytest.Config, plugin: CarbonPlugin) -> None:
        self.config = config
        self.plugin = plugin
        self.worker = worker_id(config)
        self._sent_channels = False

    def ship(self, record: TestRecord, report: pytest.TestReport) -> None:
        verdict = record.verdict
        data: dict[str, Any] = {
            "worker": self.worker,
            "nodeid": record.nodeid,
            "location": list(record.location),
            "outcome": record.outcome,
            "energy": record.energy.tolist(),
            "durations": record.durations.tolist(),
            "verdict": verdict.to_dict() if verdict is not None else None,  # type: ignore[attr-defined]
            "flags": list(record.flags),
        }
        if not self._sent_channels:
            data["channels"] = channel_dicts(self.plugin.meter_set.channels)
            self._sent_channels = True
        setattr(report, RECORD_ATTRIBUTE, data)

    def hand_over(self) -> None:
        plugin = self.plugin
        facts = plugin.facts
        output: dict[str, Any] = {
            "worker": self.worker,
            "channels": channel_dicts(plugin.meter_set.channels),
            "session_channels": plugin.ledger.session_channels(),
            "duration_s": plugin.ledger.session_duration,
            "fixtures": [report_record.fixture_dict(r, facts) for r in plugin.ledger.fixtures.values()],
            "overhead": report_record.overhead_dict(plugin.ledger.overhead, facts),
            "attribution": plugin.attribution_fields(),
            "warnings": list(facts.warnings),
            "notes": list(facts.notes),
            "meters": {m.name: {"description": m.describe(), "measured": m.measured} for m in plugin.meter_set.meters},
            "dropped": dict(plugin.meter_set.dropped),
        }
        if plugin.attributor is not None:
            output["gpu_note"] = gpu_split_note(plugin.attributor)
        self.config.workeroutput[OUTPUT_KEY] = output  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class ShippedVerdict:
    """A verdict as it arrived from a worker: enough for the report record."""

    data: dict[str, Any]

    @property
    def exceeded(self) -> bool:
        return bool(self.data["exceeded"])

    def to_dict(self) -> dict[str, Any]:
        return self.data


class CarbonController(CarbonSession):
    """The xdist controller: measures the machine, gathers the workers' records, reports once."""

    def __init__(self, config: pytest.Config, settings: Any, role: str = "controller") -> None:
        # Set before the base class runs: it may write the placeholder report already.
        self.worker_channels: dict[str, tuple[Channel, ...]] = {}
        self.worker_records: list[tuple[str, TestRecord]] = []
        self.worker_outputs: dict[str, dict[str, Any]] = {}
        self.workers_down: dict[str, str | None] = {}
        self.seen_tests: dict[str, str] = {}  # nodeid -> worker, for every test a report arrived for
        super().__init__(config, settings, role)

    def make_attributor(self, vcpus: int) -> Attributor | None:
        # The controller's own process: its share of the dynamic energy, no share of idle.
        if self.scope != "process":
            return None
        return Attributor(self.meter_set.read, self.meter_set.meters, vcpus, None, gpu_exclusive=False)

    # -- hooks ---------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[CONTROLLER_CUDA] = os.environ.get("CUDA_VISIBLE_DEVICES")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        worker = getattr(report.node, "gateway", None)
        worker_name = getattr(worker, "id", None) or "gw?"
        self.seen_tests.setdefault(report.nodeid, worker_name)
        data = getattr(report, RECORD_ATTRIBUTE, None)
        if not isinstance(data, dict):
            return
        name = data.get("worker", worker_name)
        if "channels" in data:
            self.worker_channels[name] = channels_from(data["channels"])
        channels = self.worker_channels.get(name, self.meter_set.channels)
        path, line = data["location"]
        record = TestRecord(data["nodeid"], len(channels), (path, line - 1 if line is not None else None, ""))
        record.energy = array("d", data["energy"])
        record.durations = array("d", data["durations"])
        record.outcome = data["outcome"]
        record.flags = tuple(data["flags"])
        record.verdict = ShippedVerdict(data["verdict"]) if data["verdict"] else None
        record.extra = {"worker": name}
        self.worker_records.append((name, record))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        name = node.gateway.id
        output = getattr(node, "workeroutput", {}) or {}
        if OUTPUT_KEY in output:
            self.worker_outputs[name] = output[OUTPUT_KEY]
            self.worker_channels.setdefault(name, channels_from(output[OUTPUT_KEY]["channels"]))
        self.workers_down[name] = None if error is None else str(error)

    # -- the one report ------------------------------------------------------------------

    def build_report(self, complete: bool, interrupted: str | None) -> dict[str, Any]:
        facts = self.facts
        duration = self.ledger.session_duration
        machine_channels = (
            self.attributor.machine_totals() if self.attributor is not None else self.ledger.session_channels()
        )
        machine = sum(machine_channels)
        controller_share = sum(self.ledger.session_channels()) if self.attributor is not None else 0.0
        tests = []
        for name, record in self.worker_records:
            worker_facts = dataclasses.replace(facts, channels=self.worker_channels.get(name, facts.channels))
            tests.append(report_record.test_dict(record, worker_facts))
        fixtures = merge_fixtures([f for output in self.worker_outputs.values() for f in output["fixtures"]])
        overhead = sum_overheads([output["overhead"] for output in self.worker_outputs.values()], facts)
        workers = self.worker_summaries()
        attributed_workers = sum(w["energy_j"] for w in workers)
        missing_tests = sorted(set(self.seen_tests) - {record.nodeid for _, record in self.worker_records})
        if self.scope == "process":
            attributed = attributed_workers + controller_share
        else:
            # Machine scope: every worker claims the whole machine; kept for comparison only.
            attributed = attributed_workers
        extra: dict[str, Any] = {
            "scope": self.scope,
            "machine_energy_j": machine,
            "attributed_energy_j": attributed,
            "unattributed_energy_j": machine - attributed,
            "controller_energy_j": controller_share,
            "workers": workers,
            "missing_tests": missing_tests,
            "attribution": {
                "definition": "per interval: E x (u x s + (1 - u) / n) for CPU and memory; GPU whole or split evenly",
                "gpu": sorted({o.get("gpu_note", "") for o in self.worker_outputs.values()} - {""}),
            },
        }
        extra["summary_lines"] = attribution_lines(extra) + worker_lines(workers, missing_tests)
        for output in self.worker_outputs.values():
            for warning in output.get("warnings", []):
                if warning not in facts.warnings:
                    facts.warnings.append(warning)
        for name, error in self.workers_down.items():
            if error is not None:
                facts.warnings.append(
                    f"worker {name} went down ({error.splitlines()[0] if error else 'no reason given'}): "
                    "its shared fixtures and session overhead were not received; their energy counts as unattributed"
                )
        energy = attributed if self.scope == "process" else machine
        budget = self.settings["budget"]
        if budget.value is not None:
            self.session_verdict = judge(Budget(budget.value, budget.origin), energy, self.model.co2e_g(energy, duration))
        report = report_record.build_report(
            tests, fixtures, overhead, machine_channels, duration, facts, self.session_verdict, complete, interrupted,
            extra_session=extra,
        )
        session = report["session"]
        session["energy_j"] = energy
        session["operational_g"] = self.model.operational_g(energy)
        session["embodied_g"] = self.model.embodied_g(duration)
        session["co2e_g"] = self.model.co2e_g(energy, duration)
        session["breakdown"]["controller_j"] = controller_share
        if self.scope != "process":
            facts_line = "machine scope under pytest-xdist: per-test figures each include every worker's energy"
            if facts_line not in facts.warnings:
                session["warnings"].append(facts_line)
        return report

    def worker_summaries(self) -> list[dict[str, Any]]:
        names = sorted(set(self.workers_down) | set(self.worker_outputs) | {n for n, _ in self.worker_records})
        summaries = []
        for name in names:
            output = self.worker_outputs.get(name)
            tests = [r for n, r in self.worker_records if n == name]
            summary: dict[str, Any] = {
                "worker": name,
                "tests": len(tests),
                "crashed": self.workers_down.get(name) is not None,
                "complete": output is not None,
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


def merge_fixtures(fixtures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per fixture definition: each worker sets up its own session fixtures."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for fixture in fixtures:
        key = (fixture["name"], fixture["scope"], fixture["baseid"])
        if key not in merged:
            merged[key] = {**fixture, "workers": 1, "by_meter": dict(fixture["by_meter"])}
            continue
        into = merged[key]
        into["workers"] += 1
        for field in ("setups", "duration_s", "energy_j", "co2e_g"):
            into[field] += fixture[field]
        for part, values in fixture["parts"].items():
            target = into["parts"].setdefault(part, {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0})
            for field in ("duration_s", "energy_j", "co2e_g"):
                target[field] += values[field]
        for meter, value in fixture["by_meter"].items():
            into["by_meter"][meter] = into["by_meter"].get(meter, 0.0) + value
    return list(merged.values())


def sum_overheads(overheads: list[dict[str, dict[str, Any]]], facts: Any) -> dict[str, dict[str, Any]]:
    from pytest_carbon.ledger import OVERHEAD_PARTS

    total: dict[str, dict[str, Any]] = {
        part: {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0, "by_meter": {}} for part in OVERHEAD_PARTS
    }
    for overhead in overheads:
        for part, values in overhead.items():
            target = total[part]
            for field in ("duration_s", "energy_j", "co2e_g"):
                target[field] += values[field]
            for meter, value in values.get("by_meter", {}).items():
                target["by_meter"][meter] = target["by_meter"].get(meter, 0.0) + value
    return total


def worker_lines(workers: list[dict[str, Any]], missing_tests: list[str]) -> list[str]:
    parts = []
    for worker in workers:
        state = "crashed" if worker["crashed"] else ("incomplete" if not worker["complete"] else "")
        overhead = worker.get("overhead")
        start_up = f", start-up and collection {sum(overhead[p] for p in ('startup', 'collection')):.3g} J" if overhead else ""
        parts.append(f"{worker['worker']}: {worker['tests']} tests, {worker['energy_j']:.3g} J{start_up}{' [' + state + ']' if state else ''}")
    lines = ["workers: " + "; ".join(parts)] if parts else []
    if missing_tests:
        shown = ", ".join(missing_tests[:5]) + (f" and {len(missing_tests) - 5} more" if len(missing_tests) > 5 else "")
        lines.append(f"missing: no carbon record arrived for {len(missing_tests)} tests (their worker went down): {shown}")
    return lines


__all__ = ["CarbonController", "WorkerShipping", "worker_attributor"]
