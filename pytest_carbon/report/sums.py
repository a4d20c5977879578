"""Adding up the records of several runs: the workers of an xdist session, the shards of a suite."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast

from pytest_carbon.ledger import OVERHEAD_PARTS
from pytest_carbon.schema import FixtureRecordDict, PartRecord


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
        into["duration_s"] += fixture["duration_s"]
        into["energy_j"] += fixture["energy_j"]
        into["co2e_g"] += fixture["co2e_g"]
        for part, values in fixture["parts"].items():
            _add_part(into["parts"].setdefault(part, {"duration_s": 0.0, "energy_j": 0.0, "co2e_g": 0.0}), values)
        for meter, value in fixture["by_meter"].items():
            into["by_meter"][meter] = into["by_meter"].get(meter, 0.0) + value
    return list(merged.values())
