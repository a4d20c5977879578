"""A small suite whose one test does as much work as a file says, to make real growth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = """
import pathlib

import pytest


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def test_grows():
    work(int(pathlib.Path(__file__).with_name("work.txt").read_text()))


def test_steady():
    work(1000)


@pytest.mark.carbon("100 J")
def test_budgeted():
    work(1000)
"""
LITTLE = 1_000
MUCH = 5_000_000  # ~0.25 s of CPU: tenths of a joule even when estimated, well above what
# another process on the machine (a second xdist worker) adds to a session meanwhile


def make_suite(pytester: pytest.Pytester, work: int = LITTLE, **extra: str) -> None:
    pytester.makepyfile(test_work=SUITE, **extra)
    set_work(pytester, work)


def set_work(pytester: pytest.Pytester, work: int) -> None:
    (pytester.path / "work.txt").write_text(str(work))


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
