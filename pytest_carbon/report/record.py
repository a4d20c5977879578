"""The report record: one JSON-ready dict that every reporter renders (schema below).

Built once at the end of the session from the ledger; nothing here runs per test.
See docs/json-report.md for the schema.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_carbon import __version__
from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.verdicts.budgets import Verdict
from pytest_carbon.ledger import FIXTURE_PARTS, OVERHEAD_PARTS, PHASES, EnergyRecord, FixtureRecord, TestRecord
from pytest_carbon.meters.base import Channel

SCHEMA = "pytest-carbon/report"
SCHEMA_VERSION = 1


@dataclass
class RunFacts:
    """What the reporters need besides the ledger's numbers."""

    channels: tuple[Channel, ...]
    meter_descriptions: dict[str, str]
    meter_measured: dict[str, bool]
    dropped: dict[str, str]
    estimated_components: frozenset[str]
    model: CarbonModel
    cpu_model: str
    vcpus: int
    start_wall: dt.datetime
    end_wall: dt.datetime | None = None
    action: str = "fail"
    scope: str = "machine"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def channel_key(channel: Channel) -> str:
    return f"{channel.meter}/{channel.name}"


def _by_meter(values: list[float], channels: tuple[Channel, ...]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for value, channel in zip(values, channels):
        totals[channel.meter] = totals.get(channel.meter, 0.0) + value
    return totals


def _by_channel(values: list[float], channels: tuple[Channel, ...]) -> dict[str, float]:
    return {channel_key(c): v for c, v in zip(channels, values)}


def _part(record: EnergyRecord, part: int, facts: RunFacts) -> dict[str, Any]:
    values = record.part_channels(part)
    energy = sum(values)
    duration = record.durations[part]
    return {
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": facts.model.co2e_g(energy, duration),
        "by_meter": _by_meter(values, facts.channels),
    }


def test_dict(record: TestRecord, facts: RunFacts) -> dict[str, Any]:
    # Runs once per test at the end of the session: kept lean, it is most of the report's cost.
    model = facts.model
    channels = facts.channels
    count = record.channels
    energy_array = record.energy
    durations = record.durations
    totals = [0.0] * count
    phases: dict[str, Any] = {}
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
    verdict: Verdict | None = record.verdict  # type: ignore[assignment]
    result: dict[str, Any] = {
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
        "by_meter": _by_meter(totals, channels),
        "by_channel": _by_channel(totals, channels),
        "budget": verdict.to_dict() if verdict is not None else None,
        "verdict": None if verdict is None else ("exceeded" if verdict.exceeded else "ok"),
        "flags": list(record.flags),
    }
    if record.extra:
        result.update(record.extra)
    return result


def fixture_dict(record: FixtureRecord, facts: RunFacts) -> dict[str, Any]:
    energy = record.total_energy
    duration = record.total_duration
    return {
        "name": record.key.name,
        "scope": record.key.scope,
        "baseid": record.key.baseid,
        "label": record.key.label,
        "setups": record.setups,
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": facts.model.co2e_g(energy, duration),
        "parts": {name: _part(record, i, facts) for i, name in enumerate(FIXTURE_PARTS)},
        "by_meter": _by_meter(record.channel_totals(), facts.channels),
    }


def build_report(
    tests: list[dict[str, Any]],
    fixtures: list[dict[str, Any]],
    overhead: dict[str, dict[str, Any]],
    session_channels: list[float],
    session_duration: float,
    facts: RunFacts,
    session_verdict: Verdict | None,
    complete: bool,
    interrupted: str | None,
    extra_session: dict[str, Any] | None = None,
    tests_energy: float | None = None,
) -> dict[str, Any]:
    model = facts.model
    energy = sum(session_channels)
    operational = model.operational_g(energy)
    embodied = model.embodied_g(session_duration)
    if tests_energy is None:  # given when `tests` holds only some of the tests
        tests_energy = sum(t["energy_j"] for t in tests)
    fixtures_energy = sum(f["energy_j"] for f in fixtures)
    meters = []
    for name in dict.fromkeys(c.meter for c in facts.channels):
        channels = [(c, v) for c, v in zip(facts.channels, session_channels) if c.meter == name]
        meters.append(
            {
                "name": name,
                "measured": facts.meter_measured.get(name, False),
                "description": facts.meter_descriptions.get(name, name),
                "energy_j": sum(v for _, v in channels),
                "channels": [
                    {"name": c.name, "component": c.component, "energy_j": v, "details": dict(c.details)}
                    for c, v in channels
                ],
                "dropped": facts.dropped.get(name),
            }
        )
    session: dict[str, Any] = {
        "start": facts.start_wall.isoformat(),
        "end": (facts.end_wall or dt.datetime.now(dt.timezone.utc)).isoformat(),
        "duration_s": session_duration,
        "energy_j": energy,
        "co2e_g": operational + embodied,
        "operational_g": operational,
        "embodied_g": embodied,
        "embodied_included": model.embodied_g_per_s > 0,
        "embodied_label": model.embodied_label,
        "intensity_g_per_kwh": model.intensity.g_per_kwh,
        "intensity_source": model.intensity.label,
        "intensity_kind": model.intensity.kind,
        "intensity_origin": model.intensity.origin,
        "intensity_note": model.intensity.note,
        "pue": model.pue,
        "pue_source": model.pue_origin,
        "measured": any(m["measured"] for m in meters),
        "estimated_components": sorted(facts.estimated_components),
        "meters": meters,
        "by_meter": {m["name"]: m["energy_j"] for m in meters},
        "breakdown": {
            "tests_j": tests_energy,
            "fixtures_j": fixtures_energy,
            **{f"{name}_j": overhead[name]["energy_j"] for name in OVERHEAD_PARTS},
        },
        "overhead": overhead,
        "scope": facts.scope,
        "action": facts.action,
        "budget": session_verdict.to_dict() if session_verdict else None,
        "tests_over_budget": sum(1 for t in tests if t["verdict"] == "exceeded"),
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "hostname": platform.node(),
            "python": sys.version.split()[0],
            "pytest": pytest.__version__,
            "pytest_carbon": __version__,
            "ci": bool(os.environ.get("CI")),
        },
        "cpu_model": facts.cpu_model,
        "vcpus": facts.vcpus,
        "warnings": list(facts.warnings),
        "notes": list(facts.notes),
        **model.report_fields(energy, session_duration, len(tests)),
    }
    if extra_session:
        session.update(extra_session)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "complete": complete,
        "interrupted": interrupted,
        "session": session,
        "tests": tests,
        "fixtures": sorted(fixtures, key=lambda f: f["energy_j"], reverse=True),
    }


def overhead_dict(record: EnergyRecord, facts: RunFacts) -> dict[str, dict[str, Any]]:
    return {name: _part(record, i, facts) for i, name in enumerate(OVERHEAD_PARTS)}
