"""A small suite whose one test burns as many joules as a file says, to make real growth.

Its tests spend known joules on the fake RAPL counter of the `energy_suite` fixture, the
run's only meter, so every figure is exact whatever else runs on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = """
import pathlib

import pytest
from energy import burn


def test_grows():
    burn(float(pathlib.Path(__file__).with_name("work.txt").read_text()))


def test_steady():
    burn(0.002)


@pytest.mark.carbon("100 J")
def test_budgeted():
    burn(0.003)
"""
LITTLE = 0.001  # joules
MUCH = 0.5


def make_suite(pytester: pytest.Pytester, work: float = LITTLE, **extra: str) -> None:
    """In the directory of `energy_suite`, which the calling test must use."""
    pytester.makeini("[pytest]\ncarbon_meters = rapl\n")
    pytester.makepyfile(test_work=SUITE, **extra)
    set_work(pytester, work)


def set_work(pytester: pytest.Pytester, work: float) -> None:
    (pytester.path / "work.txt").write_text(str(work))


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
