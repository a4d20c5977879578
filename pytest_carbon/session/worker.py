"""A pytest-xdist worker: measures and judges its tests like a serial run, then ships.

Each finished test's record travels with its teardown report; the worker's session data
(shared fixtures, start-up and collection overhead, attribution) goes into
`workeroutput` when the worker finishes. The wire format is session/wire.py.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_carbon.ledger import FixtureKey, Ledger, TestRecord
from pytest_carbon.meters.attribution import gpu_split_note
from pytest_carbon.session.assemble import CONTROLLER_CUDA, SessionParts
from pytest_carbon.session.wire import OUTPUT_KEY, RECORD_ATTRIBUTE, WireAttribution, handover_to_wire, test_to_wire

if TYPE_CHECKING:
    from pytest_carbon.schema import LlmRecord, Report


def worker_id(config: pytest.Config) -> str:
    return str(getattr(config, "workerinput", {}).get("workerid", os.environ.get("PYTEST_XDIST_WORKER", "gw?")))


def worker_gpu_exclusive(config: pytest.Config) -> bool:
    """A worker owns its GPUs when CUDA_VISIBLE_DEVICES was set for it, differently from the
    controller (the usual way of pinning one GPU per worker)."""
    mine = os.environ.get("CUDA_VISIBLE_DEVICES")
    controllers = getattr(config, "workerinput", {}).get(CONTROLLER_CUDA)
    return mine is not None and mine != controllers


class WorkerShipping:
    """A test listener: attaches each finished test's record to its teardown report."""

    def __init__(self, config: pytest.Config, parts: SessionParts) -> None:
        self.parts = parts
        self.worker = worker_id(config)
        self._sent_channels = False

    def ship(self, record: TestRecord, report: pytest.TestReport) -> None:
        channels = None
        if not self._sent_channels:
            channels = self.parts.meter_set.channels
            self._sent_channels = True
        llm = None
        remote = self.parts.remote
        if remote is not None and remote.calls:
            index = self.parts.ledger.index_of(record.nodeid)
            llm = remote.test_record(index) if index is not None else None
        setattr(report, RECORD_ATTRIBUTE, test_to_wire(record, self.worker, channels, llm))


class Handover:
    """The end of a worker's session: its session data into workeroutput; no report."""

    def __init__(self, config: pytest.Config, parts: SessionParts, worker: str) -> None:
        self.config = config
        self.parts = parts
        self.worker = worker
        self.written: list[Path] = []  # a worker writes no report: the controller does

    def finish(self, session: pytest.Session, exitstatus: int) -> Report | None:
        from pytest_carbon.report.record import fixture_dict, overhead_dict

        parts = self.parts
        facts = parts.facts
        ledger = parts.ledger
        attributor = parts.attributor
        attribution: WireAttribution = {"scope": parts.scope}
        fixtures_llm: dict[FixtureKey, LlmRecord] = {}
        other_llm = None
        if parts.remote is not None:
            _, fixtures_llm, other_llm = parts.remote.accounts()
        # What its machine's meters saw, and what the worker charged (the same in machine scope).
        attribution["machine_energy_j"] = sum(attributor.machine_totals())
        attribution["attributed_energy_j"] = sum(ledger.session_channels())
        output = handover_to_wire(
            worker=self.worker,
            channels=parts.meter_set.channels,
            session_channels=ledger.session_channels(),
            duration_s=ledger.session_duration,
            fixtures=[fixture_dict(r, facts, fixtures_llm.get(key)) for key, r in ledger.fixtures.items()],
            overhead=overhead_dict(ledger.overhead, facts),
            attribution=attribution,
            facts_warnings=facts.warnings,
            facts_notes=facts.notes,
            meters={m.name: {"description": m.describe(), "measured": m.measured} for m in parts.meter_set.meters},
            dropped=parts.meter_set.dropped,
            gpu_note=gpu_split_note(attributor) if parts.scope == "process" else "",
            host=platform.node(),
            cpu_model=facts.cpu_model,
            vcpus=facts.vcpus,
            llm_other=other_llm,
        )
        self.config.workeroutput[OUTPUT_KEY] = output  # type: ignore[attr-defined]
        return None


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
