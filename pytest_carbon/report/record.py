"""The report record: built once at the end of the session from the session's figures.

Nothing here runs per test. The shape is `pytest_carbon.schema` (docs/json-report.md).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import pytest

from pytest_carbon import __version__
from pytest_carbon.ledger import FIXTURE_PARTS, OVERHEAD_PARTS, PHASES, EnergyRecord, FixtureRecord, TestRecord
from pytest_carbon.meters.base import Channel
from pytest_carbon.meters.clocks import CLOCKS
from pytest_carbon.report.facts import RunFacts
from pytest_carbon.report.hosted import hosted_notes
from pytest_carbon.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    AttributionRecord,
    BudgetRecord,
    FixtureRecordDict,
    GroupEntryRecord,
    GroupsRecord,
    LlmRecord,
    LlmSessionRecord,
    MeterRecord,
    PartRecord,
    Report,
    SessionRecord,
    SettingRecord,
    TestRecordDict,
    UncertaintyRecord,
    WorkerRecord,
)
from pytest_carbon.verdicts.budgets import Verdict

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "RunFacts",
    "SessionFigures",
    "build_report",
    "test_dict",
    "fixture_dict",
    "overhead_dict",
]


@dataclass
class Attribution:
    """Process scope: the machine's total beside what this run is charged."""

    machine_energy_j: float
    attributed_energy_j: float

    @property
    def unattributed_energy_j(self) -> float:
        return self.machine_energy_j - self.attributed_energy_j


@dataclass
class XdistFigures:
    """What only a pytest-xdist controller knows."""

    controller_energy_j: float
    workers: list[WorkerRecord]
    missing_tests: list[str]
    attribution: AttributionRecord
    remote_energy_j: float | None = None  # workers on other machines; None when every worker shared this one


@dataclass
class SessionFigures:
    """The session's numbers, from the ledger of a serial run or from the workers of an
    xdist run: everything the record needs that is not a fact of the run's set-up."""

    tests: list[TestRecordDict]
    fixtures: list[FixtureRecordDict]
    overhead: dict[str, PartRecord]
    channels: Sequence[float]  # per channel: what the session's meters show
    energy_j: float  # what the session is charged, and its budget judges
    duration_s: float
    tests_energy_j: float
    test_count: int | None = None  # set when `tests` holds only some of the tests
    attribution: Attribution | None = None
    xdist: XdistFigures | None = None
    llm: LlmSessionRecord | None = None  # hosted-model calls, when they are charged
    unplaced_j: float = 0.0  # beyond the meters' maximum power, not charged


def channel_key(channel: Channel) -> str:
    return f"{channel.meter}/{channel.name}"


def by_meter_totals(values: Sequence[float], channels: tuple[Channel, ...]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for value, channel in zip(values, channels):
        totals[channel.meter] = totals.get(channel.meter, 0.0) + value
    return totals


def _by_channel(values: Sequence[float], channels: tuple[Channel, ...]) -> dict[str, float]:
    return {channel_key(c): v for c, v in zip(channels, values)}


def _part(record: EnergyRecord, part: int, facts: RunFacts) -> PartRecord:
    values = record.part_channels(part)
    energy = sum(values)
    duration = record.durations[part]
    return {
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": facts.model.co2e_g(energy, duration),
        "by_meter": by_meter_totals(values, facts.channels),
    }


def uncertainty_record(facts: RunFacts, by_meter: dict[str, float]) -> UncertaintyRecord:
    found = facts.uncertainty.of(by_meter)
    return {
        "method": found.method,
        "relative": found.relative,
        "resolution_j": found.resolution_j,
        "band_j": found.band_j,
        "mostly_resolution": found.mostly_resolution,
    }


def verdict_record(verdict: object) -> BudgetRecord | None:
    """A ledger record's verdict (opaque to the ledger) as its record."""
    return verdict.to_dict() if isinstance(verdict, Verdict) else None


def test_dict(record: TestRecord, facts: RunFacts, llm: LlmRecord | None = None) -> TestRecordDict:
    # Runs once per test at the end of the session: kept lean, it is most of the report's cost.
    model = facts.model
    channels = facts.channels
    count = record.channels
    energy_array = record.energy
    durations = record.durations
    totals = [0.0] * count
    phases: dict[str, PartRecord] = {}
    for index, name in enumerate(PHASES):
        start = index * count
        phase_energy = 0.0
        for c in range(count):
            value = energy_array[start + c]
            totals[c] += value
            phase_energy += value
        phase_duration = durations[index]
        phases[name] = {
            "duration_s": phase_duration,
            "energy_j": phase_energy,
            "co2e_g": model.co2e_g(phase_energy, phase_duration),
        }
    energy = sum(totals)
    duration = sum(durations)
    budget = verdict_record(record.verdict)
    by_meter = by_meter_totals(totals, channels)
    result: TestRecordDict = {
        "nodeid": record.nodeid,
        "location": {"path": record.location[0], "line": record.location[1]},
        "outcome": record.outcome,
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": model.co2e_g(energy, duration),
        "operational_g": model.operational_g(energy),
        "embodied_g": model.embodied_g(duration),
        "sci_g": model.sci_g(energy, duration),
        "phases": phases,
        "by_meter": by_meter,
        "by_channel": _by_channel(totals, channels),
        "budget": budget,
        "verdict": None if budget is None else ("exceeded" if budget["exceeded"] else "ok"),
        "flags": list(record.flags),
        "uncertainty": uncertainty_record(facts, by_meter),
    }
    if record.worker is not None:
        result["worker"] = record.worker
    notes = record.notes
    if notes is not None:
        if notes.subtests:
            result["subtests"] = dict(notes.subtests)
        if notes.attempts:
            result["attempts"] = [
                {
                    "outcome": attempt.outcome,
                    "duration_s": attempt.duration_s,
                    "energy_j": attempt.energy_j,
                    "co2e_g": model.co2e_g(attempt.energy_j, attempt.duration_s),
                }
                for attempt in notes.attempts
            ]
    if llm is not None:
        result["llm"] = llm
    return result


def fixture_dict(record: FixtureRecord, facts: RunFacts, llm: LlmRecord | None = None) -> FixtureRecordDict:
    energy = record.total_energy
    duration = record.total_duration
    result: FixtureRecordDict = {
        "name": record.key.name,
        "scope": record.key.scope,
        "baseid": record.key.baseid,
        "label": record.key.label,
        "setups": record.setups,
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": facts.model.co2e_g(energy, duration),
        "parts": {name: _part(record, i, facts) for i, name in enumerate(FIXTURE_PARTS)},
        "by_meter": by_meter_totals(record.channel_totals(), facts.channels),
    }
    if llm is not None:
        result["llm"] = llm
    return result


def overhead_dict(record: EnergyRecord, facts: RunFacts) -> dict[str, PartRecord]:
    return {name: _part(record, i, facts) for i, name in enumerate(OVERHEAD_PARTS)}


def _meters(facts: RunFacts, channels: Sequence[float]) -> list[MeterRecord]:
    meters: list[MeterRecord] = []
    for name in dict.fromkeys(c.meter for c in facts.channels):
        own = [(c, v) for c, v in zip(facts.channels, channels) if c.meter == name]
        meters.append(
            {
                "name": name,
                "measured": facts.meter_measured.get(name, False),
                "description": facts.meter_descriptions.get(name, name),
                "energy_j": sum(v for _, v in own),
                "channels": [
                    {"name": c.name, "component": c.component, "energy_j": v, "details": dict(c.details)}
                    for c, v in own
                ],
                "dropped": facts.dropped.get(name),
            }
        )
    return meters


def sessionby_meter_totals(figures: SessionFigures, facts: RunFacts, meters: list[MeterRecord]) -> dict[str, float]:
    """What the session is charged, by meter: the meters' share when the session is the
    run's share of the machine."""
    machine = {m["name"]: m["energy_j"] for m in meters}
    total = sum(machine.values())
    if total <= 0:
        return machine
    return {name: value * figures.energy_j / total for name, value in machine.items()}


def _platform() -> dict[str, object]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "python": sys.version.split()[0],
        "pytest": pytest.__version__,
        "pytest_carbon": __version__,
        "ci": bool(os.environ.get("CI")),
    }


def build_report(
    figures: SessionFigures,
    facts: RunFacts,
    session_verdict: Verdict | None,
    complete: bool,
    interrupted: str | None,
    settings: dict[str, SettingRecord] | None = None,
    group: str | None = None,
) -> Report:
    model = facts.model
    energy = figures.energy_j
    duration = figures.duration_s
    operational = model.operational_g(energy)
    embodied = model.embodied_g(duration)
    meters = _meters(facts, figures.channels)
    breakdown = {
        "tests_j": figures.tests_energy_j,
        "fixtures_j": sum(f["energy_j"] for f in figures.fixtures),
        **{f"{name}_j": figures.overhead[name]["energy_j"] for name in OVERHEAD_PARTS},
    }
    warnings = list(facts.warnings)
    if figures.xdist is not None:
        breakdown["controller_j"] = figures.xdist.controller_energy_j
        if facts.scope != "process":
            warnings.append("machine scope under pytest-xdist: per-test figures each include every worker's energy")
    test_count = figures.test_count if figures.test_count is not None else len(figures.tests)
    session: SessionRecord = {
        "start": facts.start_wall.isoformat(),
        "end": (facts.end_wall or CLOCKS.wall()).isoformat(),
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": operational + embodied,
        "operational_g": operational,
        "embodied_g": embodied,
        "embodied_included": model.embodied_g_per_s > 0,
        "embodied_label": model.embodied_label,
        "embodied": model.embodied_record(),
        "sci": model.sci_record(energy, duration, test_count),
        "intensity_g_per_kwh": model.intensity.g_per_kwh,
        "intensity_source": model.intensity.label,
        "intensity_kind": model.intensity.kind,
        "intensity_zone": model.intensity.zone,
        "intensity_provider": model.intensity.provider,
        "intensity_origin": model.intensity.origin,
        "intensity_note": model.intensity.note,
        "pue": model.pue,
        "pue_source": model.pue_origin,
        "measured": any(m["measured"] for m in meters),
        "estimated_components": sorted(facts.estimated_components),
        "meters": meters,
        "by_meter": {m["name"]: m["energy_j"] for m in meters},
        "breakdown": breakdown,
        "overhead": figures.overhead,
        "scope": facts.scope,
        "action": facts.action,
        "budget": session_verdict.to_dict() if session_verdict else None,
        "tests_over_budget": sum(1 for t in figures.tests if t["verdict"] == "exceeded"),
        "platform": _platform(),
        "cpu_model": facts.cpu_model,
        "vcpus": facts.vcpus,
        "warnings": warnings,
        "notes": list(facts.notes) + (hosted_notes(figures.llm) if figures.llm is not None else []),
        "uncertainty": uncertainty_record(facts, sessionby_meter_totals(figures, facts, meters)),
    }
    if figures.unplaced_j > 0:
        session["unplaced_energy_j"] = figures.unplaced_j
    if figures.test_count is not None:
        session["test_count"] = figures.test_count
    if figures.attribution is not None:
        session["machine_energy_j"] = figures.attribution.machine_energy_j
        session["attributed_energy_j"] = figures.attribution.attributed_energy_j
        session["unattributed_energy_j"] = figures.attribution.unattributed_energy_j
    if figures.xdist is not None:
        session["controller_energy_j"] = figures.xdist.controller_energy_j
        session["workers"] = figures.xdist.workers
        session["missing_tests"] = figures.xdist.missing_tests
        session["attribution"] = figures.xdist.attribution
        if figures.xdist.remote_energy_j is not None:
            session["remote_energy_j"] = figures.xdist.remote_energy_j
    if facts.shard is not None:
        session["shard"] = facts.shard
    if settings is not None:
        session["settings"] = settings
    if figures.llm is not None:
        session["llm"] = figures.llm
    report: Report = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "complete": complete,
        "interrupted": interrupted,
        "session": session,
        "tests": figures.tests,
        "fixtures": sorted(figures.fixtures, key=lambda f: f["energy_j"], reverse=True),
    }
    if group is not None:
        report["groups"] = group_record(figures.tests, group)
    return report


def group_name(nodeid: str, by: str) -> str:
    """The file, dotted module or directory a test belongs to, from its node id."""
    path = nodeid.split("::", 1)[0]
    if by == "file":
        return path
    if by == "module":
        return path.removesuffix(".py").replace("/", ".")
    head, _, _ = path.rpartition("/")
    return head or "."


def group_record(tests: list[TestRecordDict], by: str) -> GroupsRecord:
    entries: dict[str, GroupEntryRecord] = {}
    for test in tests:
        name = group_name(test["nodeid"], by)
        entry = entries.get(name)
        if entry is None:
            entry = entries[name] = {
                "name": name,
                "tests": 0,
                "duration_s": 0.0,
                "energy_j": 0.0,
                "co2e_g": 0.0,
                "over_budget": 0,
            }
        entry["tests"] += 1
        entry["duration_s"] += test["duration_s"]
        entry["energy_j"] += test["energy_j"]
        entry["co2e_g"] += test["co2e_g"]
        entry["over_budget"] += test["verdict"] == "exceeded"
    ranked = sorted(entries.values(), key=lambda e: e["co2e_g"], reverse=True)
    return {"by": cast(Literal["file", "module", "dir"], by), "entries": ranked}
