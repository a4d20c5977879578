"""Tests that patch the clock change nobody's figures: freezegun, monkeypatched CPU clocks."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pytest_carbon.meters.cpuinfo import read_cpuinfo
from pytest_carbon.meters.estimate import cpu_power_model

pytest.importorskip("freezegun")

# The tests' 50 J budgets catch a clock that jumps (years between two readings are
# megajoules); in machine scope a legitimate figure is the whole machine's, up to its
# maximum power for as long as a phase takes on a loaded machine, so a tighter budget
# would judge the load, not the clock.

FROZEN_FIXTURE = """
import time

import pytest
from freezegun import freeze_time


@pytest.fixture
def frozen():
    with freeze_time("2020-01-01"):
        yield


@pytest.mark.carbon("50 J")
def test_frozen(frozen):
    time.sleep(0.05)


def test_plain():
    time.sleep(0.05)
"""

FROZEN_AT_SESSION_START = """
from freezegun import freeze_time


def pytest_sessionstart(session):
    freeze_time("2020-01-01").start()
"""

PATCHED_CLOCKS = """
import os
import time

import pytest


@pytest.mark.carbon("50 J")
def test_process_time(monkeypatch):
    monkeypatch.setattr(time, "process_time", lambda: 1e6)
    time.sleep(0.02)


@pytest.mark.carbon("50 J")
def test_os_times(monkeypatch):
    monkeypatch.setattr(os, "times", lambda: os.times_result((1e6, 1e6, 1e6, 1e6, 1e9)))
    time.sleep(0.02)


@pytest.mark.carbon("50 J")
def test_perf_counter(monkeypatch):
    monkeypatch.setattr(time, "perf_counter", lambda: 5.0)
    time.sleep(0.02)


def test_after():
    time.sleep(0.02)
"""

TESTS_PER_SUITE = {"frozen": 2, "session": 2, "patched": 4}


def check_figures(report: dict) -> None:
    """Never negative, never above the model's maximum power, a session that ends after it starts."""
    model = cpu_power_model(read_cpuinfo())
    max_w = model.vcpus * model.max_w + 64  # CPU at full power, and up to 160 GB of memory
    session = report["session"]
    assert 0 < session["duration_s"] < 120
    assert dt.datetime.fromisoformat(session["start"]) <= dt.datetime.fromisoformat(session["end"])
    assert dt.datetime.fromisoformat(session["start"]).year > 2020
    assert 0 <= session["energy_j"] <= max_w * session["duration_s"]
    for test in report["tests"]:
        assert test["duration_s"] >= 0
        for phase in test["phases"].values():
            assert phase["energy_j"] >= 0 and phase["duration_s"] >= 0
            assert phase["energy_j"] <= max_w * phase["duration_s"] + 1e-9
    for part in session["overhead"].values():
        assert 0 <= part["energy_j"] <= max_w * part["duration_s"] + 1e-9
    assert not [w for w in session["warnings"] if "backwards" in w]


@pytest.mark.parametrize("suite", ["frozen", "session", "patched"])
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
@pytest.mark.parametrize("scope", ["process", "machine"])
def test_patched_clocks_change_no_figure(pytester, suite, workers, scope):
    if workers:
        pytest.importorskip("xdist")
    if suite == "frozen":
        pytester.makepyfile(test_clock=FROZEN_FIXTURE)
    elif suite == "session":
        pytester.makeconftest(FROZEN_AT_SESSION_START)
        pytester.makepyfile(test_clock=FROZEN_FIXTURE.replace("(frozen)", "()"))
    else:
        pytester.makepyfile(test_clock=PATCHED_CLOCKS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--carbon-meters=estimate", f"--carbon-scope={scope}",
        "--carbon-json=r.json", "--carbon-budget=5g", *workers,
    )  # fmt: skip
    result.assert_outcomes(passed=TESTS_PER_SUITE[suite])
    assert "session within carbon budget" in result.stdout.str()
    check_figures(json.loads((pytester.path / "r.json").read_text()))
