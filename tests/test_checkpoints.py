"""A run stopped from outside keeps what it measured: SIGTERM, and SIGKILL after a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ONE_JOULE_ONE_MG

# Two tests that burn known joules, then one that waits to be stopped.
SUITE = """
import time
from pathlib import Path
from energy import burn


def test_first():
    burn(2)


def test_second():
    time.sleep({pause})
    burn(3)


def test_waits_to_be_stopped():
    Path("started").write_text("")
    time.sleep(60)
"""


def start(suite, pause: float, *env: tuple[str, str]) -> subprocess.Popen[bytes]:
    suite.makepyfile(test_a=SUITE.format(pause=pause))
    environ = dict(os.environ, **dict(env))
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", *ONE_JOULE_ONE_MG, "--carbon-json=out.json"]
    return subprocess.Popen(
        [*command, "test_a.py"],
        cwd=suite.path,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_when_started(suite, process: subprocess.Popen[bytes], signum: int) -> int:
    deadline = time.monotonic() + 60
    while not (suite.path / "started").exists():
        assert process.poll() is None, "pytest ended before the last test started"
        assert time.monotonic() < deadline, "the last test never started"
        time.sleep(0.05)
    process.send_signal(signum)
    return process.wait(timeout=60)


def measured(suite) -> tuple[dict[str, object], dict[str, dict[str, object]]]:
    report = json.loads((suite.path / "out.json").read_text())
    return report, {t["nodeid"].split("::")[1]: t for t in report["tests"]}


def test_sigterm_writes_what_was_measured(energy_suite):
    process = start(energy_suite, 0)
    assert stop_when_started(energy_suite, process, signal.SIGTERM) == -signal.SIGTERM
    report, tests = measured(energy_suite)
    assert report["complete"] is False
    assert "SIGTERM" in report["interrupted"]
    assert tests["test_first"]["outcome"] == "passed"
    assert 2 <= tests["test_first"]["energy_j"] < 2.1
    assert tests["test_second"]["outcome"] == "passed"
    assert 3 <= tests["test_second"]["energy_j"] < 3.1
    assert report["session"]["energy_j"] >= 5


def test_sigkill_leaves_the_last_checkpoint(energy_suite):
    # The second test ends after the checkpoint interval: its end writes the report.
    process = start(energy_suite, 0.6, ("PYTEST_CARBON_JSON_FLUSH", "0.5"))
    assert stop_when_started(energy_suite, process, signal.SIGKILL) == -signal.SIGKILL
    report, tests = measured(energy_suite)
    assert report["complete"] is False
    assert "last checkpoint" in report["interrupted"]
    assert 2 <= tests["test_first"]["energy_j"] < 2.1
    assert 3 <= tests["test_second"]["energy_j"] < 3.1
    assert tests["test_second"]["outcome"] == "passed"


def test_without_a_checkpoint_sigkill_leaves_the_placeholder(energy_suite):
    process = start(energy_suite, 0)
    assert stop_when_started(energy_suite, process, signal.SIGKILL) == -signal.SIGKILL
    report, tests = measured(energy_suite)
    assert report["complete"] is False
    assert tests == {}


def test_a_sigterm_handler_of_the_suite_is_left_alone(energy_suite):
    energy_suite.makeconftest(
        """
        import signal, sys

        def pytest_configure(config):
            signal.signal(signal.SIGTERM, lambda *args: sys.exit(7))
        """
    )
    process = start(energy_suite, 0)
    assert stop_when_started(energy_suite, process, signal.SIGTERM) != -signal.SIGTERM
    report, tests = measured(energy_suite)
    assert "SIGTERM" not in (report["interrupted"] or "")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_checkpoint_interval_is_a_usage_error(energy_suite, monkeypatch, value):
    monkeypatch.setenv("PYTEST_CARBON_JSON_FLUSH", value)
    energy_suite.makepyfile(test_a="def test_it(): pass")
    result = energy_suite.runpytest("--carbon-json=out.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*environment variable PYTEST_CARBON_JSON_FLUSH: '{value}'*Accepted:*'off'*"])


def test_sigterm_under_xdist_keeps_the_records_that_arrived(energy_suite):
    """The controller writes the tests whose records its workers had sent."""
    energy_suite.makepyfile(test_a=SUITE.format(pause=0.5))
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", *ONE_JOULE_ONE_MG, "--carbon-json=out.json"]
    process = subprocess.Popen(
        [*command, "-n", "2", "test_a.py"],
        cwd=energy_suite.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the workers too are ended below
    )
    try:
        deadline = time.monotonic() + 60
        report = energy_suite.path / "out.json"
        # Wait until the two quick tests' records have reached the controller: the last
        # test has started and the placeholder is still what the file holds.
        while not (energy_suite.path / "started").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # test_second ends 0.5 s after it started
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == -signal.SIGTERM
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    data = json.loads(report.read_text())
    assert data["complete"] is False and "SIGTERM" in data["interrupted"]
    names = {t["nodeid"] for t in data["tests"]}
    assert {"test_a.py::test_first", "test_a.py::test_second"} <= names
