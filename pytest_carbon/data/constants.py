"""Named constants of the model, read from the bundled `constants.csv` (each with its source)."""

from __future__ import annotations

from typing import NamedTuple

from pytest_carbon.data.tables import load_table


class Constant(NamedTuple):
    key: str
    value: float
    unit: str
    source: str
    year: str


def constant(key: str) -> Constant:
    for row in load_table("constants.csv").rows:
        if row["key"] == key:
            return Constant(key, float(row["value"]), row["unit"], row["source"], row["year"])
    raise KeyError(key)
