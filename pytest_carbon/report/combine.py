"""Combine the reports of a suite's shards (CI jobs, machines) into one report of the same schema.

Each shard keeps its own figures: energy adds up, and so do emissions, each made with its
shard's own intensity, PUE and embodied setting. A test present in two shards counts once:
the report that ended later wins, and the earlier shard's figures lose that test. A combined
report lists its shards (`session.shards`) and tags each test with its shard, so combining it
again with more shards gives the same figures as combining every shard at once.

Works on report records only: reading the files is report/reading.py, the command is
cli/combine.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pytest_carbon.ledger import OVERHEAD_PARTS
from pytest_carbon.report.sums import merge_fixtures, sum_overheads
from pytest_carbon.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    MeterRecord,
    ReplacedRecord,
    Report,
    SessionRecord,
    SettingRecord,
    ShardMeterRecord,
    ShardRecord,
    TestRecordDict,
)

INTENSITY_KEYS = (
    "intensity_g_per_kwh",
    "intensity_source",
    "intensity_kind",
    "intensity_zone",
    "intensity_provider",
    "intensity_origin",
    "intensity_note",
)
PUE_KEYS = ("pue", "pue_source")
EMBODIED_KEYS = ("embodied_included", "embodied_label", "embodied")
MODEL_KEYS = INTENSITY_KEYS + PUE_KEYS + EMBODIED_KEYS


class CombineError(Exception):
    """Reports that cannot be combined (the same run given twice)."""


@dataclass
class Source:
    """One report file to combine: a run's report, or an earlier combined report."""

    path: str
    report: Report


@dataclass
class _Shard:
    record: ShardRecord
    base: str  # the name before duplicates are told apart
    order: int  # position among all shards: a later one wins a tie of end times
    end: dt.datetime
    source: int
    old_name: str  # its name in its source (a combined report's), for its tests' tags


@dataclass
class _Pool:
    shards: list[_Shard] = field(default_factory=list)
    tests: list[tuple[_Shard, TestRecordDict]] = field(default_factory=list)


def shard_from_run(report: Report, path: str) -> ShardRecord:
    """A run's report as one shard of a combined report."""
    session = report["session"]
    info = session.get("shard")
    shard: ShardRecord = {
        "name": "",
        "label": info["label"] if info else None,
        "report": path,
        "ci": dict(info["ci"]) if info else {},
        "host": str(session["platform"].get("hostname") or "unknown host"),
        "cpu_model": session["cpu_model"],
        "vcpus": session["vcpus"],
        "platform": dict(session["platform"]),
        "start": session["start"],
        "end": session["end"],
        "duration_s": session["duration_s"],
        "complete": report["complete"],
        "interrupted": report["interrupted"],
        "tests": len(report["tests"]),
        "energy_j": session["energy_j"],
        "co2e_g": session["co2e_g"],
        "operational_g": session["operational_g"],
        "embodied_g": session["embodied_g"],
        "sci_total_g": float(session["sci"]["total_g"]),
        "replaced": [],
        "replaced_energy_j": 0.0,
        "meters": [
            {
                "name": m["name"],
                "description": m["description"],
                "measured": m["measured"],
                "energy_j": m["energy_j"],
                "dropped": m["dropped"],
            }
            for m in session["meters"]
        ],
        "scope": session["scope"],
        **{key: session[key] for key in MODEL_KEYS},  # type: ignore[typeddict-item, literal-required]
        "budget": session["budget"],
        "warnings": list(session["warnings"]),
        "notes": list(session["notes"]),
    }
    if "machine_energy_j" in session:
        shard["machine_energy_j"] = session["machine_energy_j"]
    if "workers" in session:
        shard["workers"] = len(session["workers"])
    return shard


def _pool(sources: Sequence[Source]) -> _Pool:
    pool = _Pool()
    seen: dict[tuple[str, str, str, str], str] = {}
    for index, source in enumerate(sources):
        session = source.report["session"]
        if "shards" in session:
            records = [cast(ShardRecord, dict(s)) for s in session["shards"]]
        else:
            records = [shard_from_run(source.report, source.path)]
        mine: dict[str, _Shard] = {}
        for record in records:
            identity = (record["host"], record["start"], record["end"], record["label"] or "")
            if identity in seen:
                raise CombineError(
                    f"{source.path}: the run of {record['host']} from {record['start']} to {record['end']} "
                    f"is already included through {seen[identity]}; give each shard's report once"
                )
            seen[identity] = source.path
            shard = _Shard(
                record=record,
                base=record["label"] or Path(record["report"]).name,
                order=len(pool.shards),
                end=dt.datetime.fromisoformat(record["end"]),
                source=index,
                old_name=record["name"],
            )
            record["replaced"] = list(record["replaced"])
            record["meters"] = [cast(ShardMeterRecord, dict(m)) for m in record["meters"]]
            pool.shards.append(shard)
            mine[record["name"]] = shard
        only = pool.shards[-1]
        for test in source.report["tests"]:
            owner = mine.get(test.get("shard", ""), only) if len(records) > 1 else only
            pool.tests.append((owner, test))
    _name_shards(pool.shards)
    return pool


def _name_shards(shards: list[_Shard]) -> None:
    """Each shard's name: its label (else its report's file name), numbered when two share one."""
    counts: dict[str, int] = {}
    for shard in shards:
        counts[shard.base] = counts.get(shard.base, 0) + 1
    taken: dict[str, int] = {}
    for shard in shards:
        if counts[shard.base] == 1:
            shard.record["name"] = shard.base
        else:
            taken[shard.base] = taken.get(shard.base, 0) + 1
            shard.record["name"] = f"{shard.base} ({taken[shard.base]})"


def _drop(shard: _Shard, test: TestRecordDict) -> None:
    """Take a replaced test out of its shard's figures."""
    record = shard.record
    record["tests"] -= 1
    record["energy_j"] -= test["energy_j"]
    record["co2e_g"] -= test["co2e_g"]
    record["operational_g"] -= test["operational_g"]
    record["embodied_g"] -= test["embodied_g"]
    record["sci_total_g"] -= test["sci_g"]
    record["replaced"].append(test["nodeid"])
    record["replaced_energy_j"] += test["energy_j"]
    for meter in record["meters"]:
        meter["energy_j"] -= test["by_meter"].get(meter["name"], 0.0)


def _keep_latest(pool: _Pool) -> tuple[list[TestRecordDict], list[tuple[_Shard, TestRecordDict]]]:
    """Every test once, from the shard that ended last; the records that lost."""
    latest: dict[str, tuple[_Shard, TestRecordDict]] = {}
    dropped: list[tuple[_Shard, TestRecordDict]] = []
    for shard, test in pool.tests:
        held = latest.get(test["nodeid"])
        if held is None:
            latest[test["nodeid"]] = (shard, test)
        elif (shard.end, shard.order) >= (held[0].end, held[0].order):
            dropped.append(held)
            latest[test["nodeid"]] = (shard, test)
        else:
            dropped.append((shard, test))
    for shard, test in dropped:
        _drop(shard, test)
    winners = {id(test) for _, test in latest.values()}
    kept = []
    for shard, test in pool.tests:
        if id(test) in winners:
            kept.append(cast(TestRecordDict, {**test, "shard": shard.record["name"]}))
    return kept, dropped


def _replaced(shards: list[ShardRecord], tests: list[TestRecordDict]) -> list[ReplacedRecord]:
    owner = {t["nodeid"]: t.get("shard", "") for t in tests}
    found: dict[str, ReplacedRecord] = {}
    for shard in shards:
        for nodeid in shard["replaced"]:
            entry = found.setdefault(nodeid, {"nodeid": nodeid, "kept": owner.get(nodeid, ""), "replaced": []})
            entry["replaced"].append(shard["name"])
    return list(found.values())


def _meters(sources: Sequence[Source], shards: list[ShardRecord], dropped: list[TestRecordDict]) -> list[MeterRecord]:
    merged: dict[str, MeterRecord] = {}
    for source in sources:
        for meter in source.report["session"]["meters"]:
            into = merged.setdefault(
                meter["name"],
                {
                    "name": meter["name"],
                    "measured": False,
                    "description": "",
                    "energy_j": 0.0,
                    "channels": [],
                    "dropped": None,
                },
            )
            into["energy_j"] += meter["energy_j"]
            channels = {c["name"]: c for c in into["channels"]}
            for channel in meter["channels"]:
                if channel["name"] in channels:
                    channels[channel["name"]]["energy_j"] += channel["energy_j"]
                else:
                    copy = {**channel, "details": dict(channel["details"])}
                    into["channels"].append(copy)  # type: ignore[arg-type]
                    channels[channel["name"]] = copy  # type: ignore[assignment]
    for test in dropped:
        for key, value in test["by_channel"].items():
            name, _, channel_name = key.partition("/")
            if name in merged:
                merged[name]["energy_j"] -= value
                for channel in merged[name]["channels"]:
                    if channel["name"] == channel_name:
                        channel["energy_j"] -= value
    for name, meter in merged.items():
        own = [(s["name"], m) for s in shards for m in s["meters"] if m["name"] == name]
        meter["measured"] = any(m["measured"] for _, m in own)
        meter["description"] = " / ".join(dict.fromkeys(m["description"] for _, m in own)) or name
        drops = [f"shard {shard}: {m['dropped']}" for shard, m in own if m["dropped"]]
        meter["dropped"] = "; ".join(drops) or None
    return list(merged.values())


def _sum_breakdown(sources: Sequence[Source], tests: list[TestRecordDict]) -> dict[str, float]:
    breakdown: dict[str, float] = {"tests_j": 0.0, "fixtures_j": 0.0}
    for source in sources:
        for key, value in source.report["session"]["breakdown"].items():
            breakdown[key] = breakdown.get(key, 0.0) + value
    breakdown["tests_j"] = sum(t["energy_j"] for t in tests)
    for part in OVERHEAD_PARTS:
        breakdown.setdefault(f"{part}_j", 0.0)
    return breakdown


# -- what the shards' settings make of the whole ---------------------------------------------


def _same(shards: list[ShardRecord], keys: Sequence[str]) -> bool:
    first = [shards[0][k] for k in keys]  # type: ignore[literal-required]
    return all([s[k] for k in keys] == first for s in shards[1:])  # type: ignore[literal-required]


def _model_fields(shards: list[ShardRecord]) -> dict[str, Any]:
    """The session's intensity, PUE and embodied fields: the shards' own when they agree,
    else what makes the shards' figures add up (energy-weighted), labelled as mixed."""
    first = shards[0]
    fields: dict[str, Any] = {key: first[key] for key in MODEL_KEYS}  # type: ignore[literal-required]
    energy = sum(s["energy_j"] for s in shards)

    def weighted(values: list[float], weights: list[float]) -> float:
        total = sum(weights)
        return sum(v * w for v, w in zip(values, weights)) / total if total > 0 else sum(values) / len(values)

    if not _same(shards, PUE_KEYS):
        fields["pue"] = weighted([s["pue"] for s in shards], [s["energy_j"] for s in shards])
        fields["pue_source"] = "energy-weighted mean of the shards' PUE (they differ: see the shards)"
    if not _same(shards, INTENSITY_KEYS):
        values = [s["intensity_g_per_kwh"] for s in shards]
        fields["intensity_g_per_kwh"] = weighted(values, [s["energy_j"] * s["pue"] for s in shards])
        shown = ", ".join(dict.fromkeys(f"{s['intensity_g_per_kwh']:g} ({s['intensity_source']})" for s in shards))
        fields["intensity_source"] = f"energy-weighted mean of the shards' intensities: {shown}"
        fields["intensity_kind"] = "mixed"
        fields["intensity_zone"] = None
        fields["intensity_provider"] = None
        fields["intensity_origin"] = "the shards' settings"
        fields["intensity_note"] = "each shard's emissions use its own intensity" if energy > 0 else None
    if not _same(shards, EMBODIED_KEYS):
        included = any(s["embodied_included"] for s in shards)
        fields["embodied_included"] = included
        fields["embodied_label"] = "embodied emissions differ by shard (each shard's own setting applies)"
        fields["embodied"] = {"included": included, "source": "differs by shard: see session.shards"}
    return fields


def _differences(shards: list[ShardRecord]) -> list[str]:
    """Settings that differ between shards, each with which shard had what."""

    def grouped(label: str, value_of: Any) -> str | None:
        groups: dict[str, list[str]] = {}
        for shard in shards:
            groups.setdefault(value_of(shard), []).append(shard["name"])
        if len(groups) < 2:
            return None
        return f"{label}: " + "; ".join(f"{value} ({', '.join(names)})" for value, names in groups.items())

    found = [
        grouped("grid intensity", lambda s: f"{s['intensity_g_per_kwh']:g} gCO2e/kWh, {s['intensity_source']}"),
        grouped("PUE", lambda s: f"{s['pue']:g}"),
        grouped("embodied", lambda s: s["embodied_label"]),
        grouped("meters", lambda s: ", ".join(sorted({m["name"] for m in s["meters"]})) or "none"),
        grouped("scope", lambda s: s["scope"]),
    ]
    return [line for line in found if line]


def _platform(shards: list[ShardRecord]) -> dict[str, Any]:
    """Per key: the shards' common value, or their distinct values joined."""
    keys = list(dict.fromkeys(k for s in shards for k in s["platform"]))
    platform: dict[str, Any] = {}
    for key in keys:
        values = [s["platform"].get(key) for s in shards]
        distinct = list(dict.fromkeys(str(v) for v in values))
        platform[key] = values[0] if len(distinct) == 1 else ", ".join(distinct)
    return platform


def _by_shard(messages: Iterable[tuple[str, str]]) -> list[str]:
    """(shard, message) pairs as one line per message naming its shards."""
    groups: dict[str, list[str]] = {}
    for shard, message in messages:
        groups.setdefault(message, []).append(shard)
    return [f"shard{'s' if len(names) > 1 else ''} {', '.join(names)}: {message}" for message, names in groups.items()]


def _incomplete(shards: list[ShardRecord]) -> str | None:
    unfinished = [s for s in shards if not s["complete"]]
    if not unfinished:
        return None
    listed = "; ".join(f"{s['name']} ({s['interrupted'] or 'interrupted'})" for s in unfinished)
    return f"{len(unfinished)} of {len(shards)} shards did not finish: {listed}"


def combine(
    sources: Sequence[Source],
    action: str = "fail",
    settings: dict[str, SettingRecord] | None = None,
    warnings: Sequence[str] = (),
) -> Report:
    """One report of every shard in `sources`, in the same schema. The session budget and
    the comparison with a baseline are the caller's (cli/combine.py), judged on this record."""
    if not sources:
        raise CombineError("no reports to combine")
    pool = _pool(sources)
    tests, dropped = _keep_latest(pool)
    shards = [s.record for s in pool.shards]
    energy = sum(s["energy_j"] for s in shards)
    operational = sum(s["operational_g"] for s in shards)
    embodied = sum(s["embodied_g"] for s in shards)
    duration = sum(s["duration_s"] for s in shards)
    sci_total = sum(s["sci_total_g"] for s in shards)
    meters = _meters(sources, shards, [test for _, test in dropped])
    cpu_models = list(dict.fromkeys(s["cpu_model"] for s in shards))
    vcpus = {s["vcpus"] for s in shards}
    scopes = {s["scope"] for s in shards}
    first_sci = sources[0].report["session"]["sci"]
    replaced = _replaced(shards, tests)
    combine_warnings = list(warnings)
    incomplete = _incomplete(shards)
    if incomplete:
        combine_warnings.append(f"{incomplete}: their figures cover only what they measured before they stopped")
    session: SessionRecord = {
        "start": min(shards, key=lambda s: dt.datetime.fromisoformat(s["start"]))["start"],
        "end": max(pool.shards, key=lambda s: s.end).record["end"],
        "duration_s": duration,
        "energy_j": energy,
        "co2e_g": operational + embodied,
        "operational_g": operational,
        "embodied_g": embodied,
        **_model_fields(shards),  # type: ignore[typeddict-item]
        "sci": {
            "functional_unit": first_sci.get("functional_unit", "one test"),
            "tests": len(tests),
            "total_g": sci_total,
            "g_per_test": sci_total / len(tests) if tests else None,
            "formula": first_sci.get("formula", ""),
        },
        "measured": any(m["measured"] for m in meters),
        "estimated_components": sorted(
            {c for source in sources for c in source.report["session"]["estimated_components"]}
        ),
        "meters": meters,
        "by_meter": {m["name"]: m["energy_j"] for m in meters},
        "breakdown": _sum_breakdown(sources, tests),
        "overhead": sum_overheads(source.report["session"]["overhead"] for source in sources),
        "scope": scopes.pop() if len(scopes) == 1 else "mixed",
        "action": action,
        "budget": None,
        "tests_over_budget": sum(1 for t in tests if t["verdict"] == "exceeded"),
        "platform": _platform(shards),
        "cpu_model": cpu_models[0] if len(cpu_models) == 1 else " / ".join(cpu_models),
        "vcpus": vcpus.pop() if len(vcpus) == 1 else max(vcpus),
        "warnings": combine_warnings + _by_shard((s["name"], w) for s in shards for w in s["warnings"]),
        "notes": _by_shard((s["name"], n) for s in shards for n in s["notes"]),
        "shards": shards,
        "shard_differences": _differences(shards),
        "replaced_tests": replaced,
    }
    if settings is not None:
        session["settings"] = settings
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "complete": incomplete is None,
        "interrupted": incomplete,
        "session": session,
        "tests": tests,
        "fixtures": sorted(
            merge_fixtures((f for source in sources for f in source.report["fixtures"]), "shards"),
            key=lambda f: f["energy_j"],
            reverse=True,
        ),
    }
