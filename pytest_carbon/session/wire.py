"""What a pytest-xdist worker sends its controller, and how it is read back: side by side.

execnet carries plain data only. A finished test travels as a `WireTest` attached to its
teardown report; a worker's session data (shared fixtures, overhead, attribution) as a
`WireHandover` in `workeroutput` when the worker finishes.
"""

from __future__ import annotations

import dataclasses
from array import array
from typing import Any, TypedDict, cast

from pytest_carbon.carbon.model import Intensity
from pytest_carbon.ledger import Attempt, TestNotes, TestRecord
from pytest_carbon.meters.base import Channel, Component
from pytest_carbon.schema import BudgetRecord, FixtureRecordDict, LlmRecord, PartRecord, budget_dimension
from pytest_carbon.values.quantities import Quantity
from pytest_carbon.verdicts.budgets import Budget, Verdict

RECORD_ATTRIBUTE = "carbon_record"  # on the teardown report
OUTPUT_KEY = "carbon"  # in workeroutput
INTENSITY_KEY = "carbon_controller_intensity"  # in each worker's workerinput


class WireChannel(TypedDict):
    meter: str
    name: str
    component: str
    details: dict[str, str]


class WireTest(TypedDict, total=False):
    worker: str
    nodeid: str
    location: list[Any]  # [path, 1-based line or None]
    outcome: str
    energy: list[float]
    durations: list[float]
    verdict: BudgetRecord | None
    flags: list[str]
    channels: list[WireChannel]  # with a worker's first test only
    subtests: dict[str, int]
    attempts: list[list[Any]]  # [outcome, duration_s, energy_j]
    llm: LlmRecord  # hosted-model calls, when the test made any


class WireMeter(TypedDict):
    description: str
    measured: bool


class WireAttribution(TypedDict, total=False):
    scope: str
    machine_energy_j: float
    attributed_energy_j: float


class WireHandover(TypedDict):
    worker: str
    channels: list[WireChannel]
    session_channels: list[float]
    duration_s: float
    fixtures: list[FixtureRecordDict]
    overhead: dict[str, PartRecord]
    attribution: WireAttribution
    warnings: list[str]
    notes: list[str]
    meters: dict[str, WireMeter]
    dropped: dict[str, str]
    gpu_note: str
    host: str  # the worker's machine (its hostname): another host is not part of the controller's total
    cpu_model: str
    vcpus: int
    llm_other: LlmRecord | None  # calls outside tests and shared fixtures; None when not charged


def channels_to_wire(channels: tuple[Channel, ...]) -> list[WireChannel]:
    return [{"meter": c.meter, "name": c.name, "component": c.component, "details": dict(c.details)} for c in channels]


def channels_from_wire(data: list[WireChannel]) -> tuple[Channel, ...]:
    return tuple(
        Channel(d["meter"], d["name"], cast(Component, d["component"]), tuple(d.get("details", {}).items()))
        for d in data
    )


def verdict_from_wire(data: BudgetRecord) -> Verdict:
    limit = Quantity(float(data["limit"]), budget_dimension(data), data["limit_text"])
    return Verdict(
        Budget(limit, data["source"]),
        float(data["measured"]),
        bool(data["exceeded"]),
        float(data.get("band", 0.0)),
        str(data.get("rule", "band")),
    )


def test_to_wire(
    record: TestRecord, worker: str, channels: tuple[Channel, ...] | None, llm: LlmRecord | None = None
) -> WireTest:
    verdict = record.verdict
    data: WireTest = {
        "worker": worker,
        "nodeid": record.nodeid,
        "location": list(record.location),
        "outcome": record.outcome,
        "energy": record.energy.tolist(),
        "durations": record.durations.tolist(),
        "verdict": verdict.to_dict() if isinstance(verdict, Verdict) else None,
        "flags": list(record.flags),
    }
    if channels is not None:
        data["channels"] = channels_to_wire(channels)
    notes = record.notes
    if notes is not None:
        data["subtests"] = dict(notes.subtests)
        data["attempts"] = [list(attempt) for attempt in notes.attempts]
    if llm is not None:
        data["llm"] = llm
    return data


def test_from_wire(data: WireTest, channel_count: int, worker: str) -> TestRecord:
    path, line = data["location"]
    record = TestRecord(data["nodeid"], channel_count, (path, line - 1 if line is not None else None, ""))
    record.energy = array("d", data["energy"])
    record.durations = array("d", data["durations"])
    record.outcome = data["outcome"]
    record.flags = tuple(data["flags"])
    shipped = data.get("verdict")
    record.verdict = verdict_from_wire(shipped) if shipped else None
    record.worker = worker
    if "subtests" in data or "attempts" in data:
        record.notes = TestNotes()
        record.notes.subtests = dict(data.get("subtests", {}))
        record.notes.attempts = [Attempt(str(o), float(d), float(e)) for o, d, e in data.get("attempts", [])]
    return record


def handover_to_wire(
    worker: str,
    channels: tuple[Channel, ...],
    session_channels: list[float],
    duration_s: float,
    fixtures: list[FixtureRecordDict],
    overhead: dict[str, PartRecord],
    attribution: WireAttribution,
    facts_warnings: list[str],
    facts_notes: list[str],
    meters: dict[str, WireMeter],
    dropped: dict[str, str],
    gpu_note: str,
    host: str,
    cpu_model: str,
    vcpus: int,
    llm_other: LlmRecord | None = None,
) -> WireHandover:
    return {
        "worker": worker,
        "channels": channels_to_wire(channels),
        "session_channels": session_channels,
        "duration_s": duration_s,
        "fixtures": fixtures,
        "overhead": overhead,
        "attribution": attribution,
        "warnings": list(facts_warnings),
        "notes": list(facts_notes),
        "meters": meters,
        "dropped": dict(dropped),
        "gpu_note": gpu_note,
        "host": host,
        "cpu_model": cpu_model,
        "vcpus": vcpus,
        "llm_other": llm_other,
    }


def handover_from_wire(workeroutput: dict[str, Any]) -> WireHandover | None:
    data = workeroutput.get(OUTPUT_KEY)
    return cast(WireHandover, data) if isinstance(data, dict) else None


def intensity_to_wire(intensity: Intensity) -> dict[str, Any]:
    """The controller's intensity for its workers: a live value is looked up once per
    session, by the controller (its warning, if any, is the controller's to report)."""
    return dataclasses.asdict(dataclasses.replace(intensity, warning=None))


def intensity_from_wire(data: object) -> Intensity | None:
    if not isinstance(data, dict):
        return None
    try:
        return Intensity(**data)
    except TypeError:
        return None
