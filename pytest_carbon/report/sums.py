"""Adding up the records of several runs: the workers of an xdist session, the shards of a suite."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from pytest_carbon.ledger import OVERHEAD_PARTS
from pytest_carbon.schema import FixtureRecordDict, LlmRecord, PartRecord


def _add_part(target: PartRecord, values: PartRecord) -> None:
    target["duration_s"] += values["duration_s"]
    target["energy_j"] += values["energy_j"]
    target["co2e_g"] += values["co2e_g"]
    if "by_meter" in values:
        by_meter = target.setdefault("by_meter", {})
        for meter, value in values["by_meter"].items():
            by_meter[meter] = by_meter.get(meter, 0.0) + value


def sum_overheads(overheads: Iterable[dict[str, PartRecord]]) -> dict[str, PartRecord]:
    """The overhead accounts of several runs (shards, xdist workers), part by part."""
    total: dict[str, PartRecord] = {
        part: {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0, "by_meter": {}} for part in OVERHEAD_PARTS
    }
    for overhead in overheads:
        for part, values in overhead.items():
            _add_part(total.setdefault(part, {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0}), values)
    return total


def merge_fixtures(
    fixtures: Iterable[FixtureRecordDict], count_key: Literal["workers", "shards"]
) -> list[FixtureRecordDict]:
    """One entry per fixture definition, summed over the runs that set it up (each xdist
    worker and each shard sets up its own session fixtures); `count_key` counts those runs."""
    merged: dict[tuple[str, str, str], FixtureRecordDict] = {}
    for fixture in fixtures:
        key = (fixture["name"], fixture["scope"], fixture["baseid"])
        runs = fixture.get(count_key, 1)
        if key not in merged:
            parts = {name: cast(PartRecord, dict(values)) for name, values in fixture["parts"].items()}
            for copied in parts.values():
                if "by_meter" in copied:
                    copied["by_meter"] = dict(copied["by_meter"])
            merged[key] = {**fixture, "parts": parts, "by_meter": dict(fixture["by_meter"])}
            merged[key][count_key] = runs
            continue
        into = merged[key]
        into[count_key] = into.get(count_key, 0) + runs
        if "workers" in fixture and count_key != "workers":
            into["workers"] = into.get("workers", 0) + fixture["workers"]
        into["setups"] += fixture["setups"]
        if "llm" in fixture:
            into["llm"] = merge([into["llm"], fixture["llm"]]) if "llm" in into else fixture["llm"]
        into["duration_s"] += fixture["duration_s"]
        into["energy_j"] += fixture["energy_j"]
        into["co2e_g"] += fixture["co2e_g"]
        for part, values in fixture["parts"].items():
            _add_part(into["parts"].setdefault(part, {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0}), values)
        for meter, value in fixture["by_meter"].items():
            into["by_meter"][meter] = into["by_meter"].get(meter, 0.0) + value
    return list(merged.values())


# Hosted-model records (tests, fixtures, sessions, workers, shards) add up field by field.
def empty_record() -> LlmRecord:
    return {
        "calls": 0,
        "replayed": 0,
        "not_charged": 0,
        "output_tokens": 0,
        "energy_j": 0.0,
        "energy_j_min": 0.0,
        "energy_j_max": 0.0,
        "co2e_g": 0.0,
        "co2e_g_min": 0.0,
        "co2e_g_max": 0.0,
        "models": {},
    }


SUMMED = (
    "calls",
    "replayed",
    "not_charged",
    "output_tokens",
    "energy_j",
    "energy_j_min",
    "energy_j_max",
    "co2e_g",
    "co2e_g_min",
    "co2e_g_max",
)


def merge(records: Iterable[LlmRecord]) -> LlmRecord:
    """Several accounts' (or workers') records as one."""
    total = empty_record()
    for record in records:
        for name in SUMMED:
            total[name] += record[name]  # type: ignore[literal-required]
        for key, model in record["models"].items():
            into = total["models"].get(key)
            if into is None:
                total["models"][key] = {
                    **model,
                    "hosts": list(model["hosts"]),
                    "unmapped_hosts": list(model["unmapped_hosts"]),
                }
                if "warnings" in model:
                    total["models"][key]["warnings"] = list(model["warnings"])
                continue
            for name in SUMMED:
                into[name] += model[name]  # type: ignore[literal-required]
            into["hosts"] += [h for h in model["hosts"] if h not in into["hosts"]]
            into["unmapped_hosts"] += [h for h in model["unmapped_hosts"] if h not in into["unmapped_hosts"]]
            if model.get("charged_as") and not into.get("charged_as"):
                into["charged_as"] = model["charged_as"]
            if "problem" in model:
                into["problem"] = model["problem"]
            for warning in model.get("warnings", []):
                listed = into.setdefault("warnings", [])
                if warning not in listed:
                    listed.append(warning)
    return total
