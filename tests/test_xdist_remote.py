"""A pytest-xdist worker on another machine is measured against that machine, not the controller's.

The "remote" worker is a local process that sees another hostname and meters a fake RAPL
counter of its own (as a second machine would): what it burns never reaches the
controller's counter, so the controller's machine total must not be compared with it.
"""

from __future__ import annotations

import json
import platform

import pytest
from conftest import PowercapTree

pytest.importorskip("xdist")

CONFTEST = """
import os
import platform

if os.environ.get("FAKE_HOST"):  # this worker plays a machine of its own
    platform.node = lambda: os.environ["FAKE_HOST"]
"""
TESTS = """
import os

import pytest
from energy import burn

# A worker on the other machine burns a lot there: counted against the controller's machine,
# it would exceed everything that machine used.
JOULES = 1000.0 if os.environ.get("FAKE_HOST") else 1.0


@pytest.mark.parametrize("n", range(6))
def test_work(n):
    burn(JOULES)
"""


def test_a_remote_worker_counts_against_its_own_machine(energy_suite: pytest.Pytester, tmp_path) -> None:
    remote_root = tmp_path / "remote-powercap"
    PowercapTree(remote_root).zone("intel-rapl:0", "package-0")
    energy_suite.makeconftest(CONFTEST)
    energy_suite.makepyfile(test_work=TESTS)
    result = energy_suite.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--carbon-meters=rapl",
        "--carbon-json=report.json",
        "--dist=load",
        "--tx=popen",
        f"--tx=popen//env:PYTEST_CARBON_POWERCAP_ROOT={remote_root}//env:FAKE_HOST=elsewhere",
    )
    result.assert_outcomes(passed=6)
    session = json.loads((energy_suite.path / "report.json").read_text())["session"]
    workers = {w["worker"]: w for w in session["workers"]}
    assert (workers["gw0"]["host"], workers["gw0"]["remote"]) == (platform.node(), False)
    assert (workers["gw1"]["host"], workers["gw1"]["remote"]) == ("elsewhere", True)
    # each machine's total is what was burned on it, by the tests that ran there
    assert session["machine_energy_j"] == pytest.approx(1.0 * workers["gw0"]["tests"], abs=1e-6)
    assert workers["gw1"]["machine_energy_j"] == pytest.approx(1000.0 * workers["gw1"]["tests"], abs=1e-6)
    # the remote worker is part of the session, not of the controller machine's figures
    assert session["remote_energy_j"] == pytest.approx(workers["gw1"]["energy_j"])
    assert session["attributed_energy_j"] <= session["machine_energy_j"] * 1.01
    assert session["unattributed_energy_j"] == pytest.approx(
        session["machine_energy_j"] - session["attributed_energy_j"]
    )
    assert session["energy_j"] == pytest.approx(session["attributed_energy_j"] + session["remote_energy_j"])
    output = result.stdout.str()
    assert "more is attributed than the machine used" not in output
    assert "workers on other machines " in output and "each measured against its own machine" in output
    assert "gw1 on elsewhere: " in output
