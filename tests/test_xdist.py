"""pytest-xdist: the same verdicts as a serial run, one report, honest attribution."""

from __future__ import annotations

import json
import os

import pytest
from conftest import PowercapTree

pytest.importorskip("xdist")

# Heavy tests burn known joules on a fake RAPL counter, light ones burn none. Each worker has
# a counter of its own (like a pinned GPU), so a light test is charged exactly nothing whatever
# runs beside it. Attribution charges a heavy test its CPU share of what it burned: 1 kJ is
# 20 000 times its budget, a margin no load on the machine comes near as long as the test
# does CPU work of its own, as a test that spends a CPU package's energy does (10 ms here:
# this process's CPU time is read at most once a millisecond, so a phase of a few
# microseconds could see its CPU time counted in the phase before it).
SUITE = {
    "conftest": """
        import os

        import pytest

        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            os.environ["PYTEST_CARBON_POWERCAP_ROOT"] += "-" + worker

        from energy import burn

        @pytest.fixture(scope="session")
        def model():
            burn(1)
            return "model"
    """,
    "test_marker": """
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_j=0.05)
        def test_marker_heavy(model):
            burn(1000, cpu_s=0.01)

        @pytest.mark.carbon(max_j=0.05)
        def test_marker_light(model):
            pass
    """,
    "test_pattern": """
        from energy import burn

        def test_pattern_heavy():
            burn(1000, cpu_s=0.01)

        def test_pattern_light():
            pass
    """,
    "test_default": """
        from energy import burn

        def test_default_heavy():
            burn(1000, cpu_s=0.01)

        def test_default_light():
            pass
    """,
    "test_plain": """
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_many(n):
            assert n >= 0
    """,
}
PYPROJECT = """
[tool.pytest_carbon]
test_budget = "50 J"
meters = "estimate"

[tool.pytest_carbon.budgets]
"test_pattern.py::*" = "0.05 J"
"test_default.py::*" = "0.05 J"
"""
EXPECTED_FAILURES = {
    "test_marker.py::test_marker_heavy",
    "test_pattern.py::test_pattern_heavy",
    "test_default.py::test_default_heavy",
}


# The runs that judge verdicts read the fake counters; the others keep the real estimate.
RAPL = "--carbon-meters=rapl"


@pytest.fixture
def suite(energy_suite, tmp_path, monkeypatch):
    # The default (process) scope: what these tests are about.
    monkeypatch.setenv("PYTEST_ADDOPTS", os.environ["PYTEST_ADDOPTS"].replace("--carbon-scope=machine", ""))
    for worker in ("gw0", "gw1"):
        PowercapTree(tmp_path / f"powercap-{worker}").zone("intel-rapl:0", "package-0")
    energy_suite.makepyprojecttoml(PYPROJECT)
    for name, text in SUITE.items():
        energy_suite.makepyfile(**{name: text})
    return energy_suite


def run(pytester, *args):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--carbon-json=report.json", *args)
    report = json.loads((pytester.path / "report.json").read_text())
    return result, report


def failed_ids(report):
    return {t["nodeid"] for t in report["tests"] if t["outcome"] == "failed"}


def test_verdicts_are_the_same_serial_and_with_two_workers(suite):
    serial, serial_report = run(suite, RAPL)
    parallel, parallel_report = run(suite, RAPL, "-n", "2")
    serial.assert_outcomes(passed=9, failed=3)
    parallel.assert_outcomes(passed=9, failed=3)
    assert failed_ids(serial_report) == failed_ids(parallel_report) == EXPECTED_FAILURES
    parallel.stdout.fnmatch_lines(
        [
            "FAILED test_default.py::test_default_heavy - carbon budget exceeded: * > 50.0 mJ (from [[]tool.pytest_carbon.budgets[]] 'test_default.py::[*]')"
        ]
    )
    verdicts = {t["nodeid"]: t["verdict"] for t in parallel_report["tests"]}
    assert verdicts["test_marker.py::test_marker_light"] == "ok"
    assert verdicts["test_plain.py::test_many[0]"] == "ok"  # the 50 J default applies


def test_session_budget_is_judged_once_on_the_controller(suite):
    result, report = run(suite, "-n", "2", "--carbon-budget=1 mJ", "-k", "light or many")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["session carbon budget exceeded: * > 1.00 mJ (from --carbon-budget)"])
    assert report["session"]["budget"]["exceeded"] is True
    result, report = run(suite, "-n", "2", "--carbon-budget=1 MJ", "-k", "light or many")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["session within carbon budget: *"])


def test_one_report_with_every_test_worker_overhead_and_merged_fixtures(suite):
    result, report = run(suite, "-n", "2")
    session = report["session"]
    assert {t["nodeid"] for t in report["tests"]} == {
        *EXPECTED_FAILURES,
        "test_marker.py::test_marker_light",
        "test_pattern.py::test_pattern_light",
        "test_default.py::test_default_light",
        *(f"test_plain.py::test_many[{n}]" for n in range(6)),
    }
    assert all(t["worker"] in ("gw0", "gw1") for t in report["tests"])
    assert session["scope"] == "process"
    assert [w["worker"] for w in session["workers"]] == ["gw0", "gw1"]
    for worker in session["workers"]:
        assert worker["complete"] and not worker["crashed"]
        assert worker["overhead"]["startup"] > 0 and worker["overhead"]["collection"] > 0
    (model,) = [f for f in report["fixtures"] if f["name"] == "model"]
    assert model["workers"] in (1, 2) and model["setups"] == model["workers"]
    assert session["missing_tests"] == []
    result.stdout.fnmatch_lines(
        ["  attributed to this run * of the machine's *", "  workers: gw0: * tests, *; gw1: * tests, *"]
    )


def test_attributed_parts_add_up_and_stay_within_the_machine_total(suite):
    _, report = run(suite, "-n", "2")
    session = report["session"]
    parts = (
        sum(t["energy_j"] for t in report["tests"])
        + sum(f["energy_j"] for f in report["fixtures"])
        + sum(p["energy_j"] for p in session["overhead"].values())
        + session["controller_energy_j"]
    )
    assert parts == pytest.approx(session["attributed_energy_j"], rel=1e-9)
    assert session["attributed_energy_j"] + session["unattributed_energy_j"] == pytest.approx(
        session["machine_energy_j"]
    )
    assert 0 < session["attributed_energy_j"] <= session["machine_energy_j"] * 1.01
    assert session["energy_j"] == session["attributed_energy_j"]
    assert sum(w["energy_j"] for w in session["workers"]) + session["controller_energy_j"] == pytest.approx(
        session["attributed_energy_j"]
    )


def test_machine_scope_under_xdist_is_flagged(suite):
    result, report = run(suite, "-n", "2", "--carbon-scope=machine", "-k", "many")
    assert report["session"]["scope"] == "machine"
    result.stdout.fnmatch_lines(["warning: machine scope under pytest-xdist*"])


def test_a_crashed_worker_loses_nothing_already_measured(suite):
    suite.makepyfile(
        test_crash="""
        import os
        import time

        def test_before():
            pass

        def test_crash():
            time.sleep(0.2)
            os._exit(3)
        """
    )
    result, report = run(suite, "-n", "2", "-k", "many or crash or before")
    result.assert_outcomes(passed=7, failed=1)
    session = report["session"]
    assert session["missing_tests"] == ["test_crash.py::test_crash"]
    recorded = {t["nodeid"] for t in report["tests"]}
    assert "test_crash.py::test_before" in recorded and len(recorded) == 7
    crashed = [w for w in session["workers"] if w["crashed"]]
    assert len(crashed) == 1 and "missing" in crashed[0]
    result.stdout.fnmatch_lines(
        ["*missing: no carbon record arrived for 1 tests (their worker went down): test_crash.py::test_crash*"]
    )
    assert any("went down" in w for w in session["warnings"])


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "loadgroup", "worksteal"])
def test_every_distribution_mode(suite, dist):
    result, report = run(suite, RAPL, "-n", "2", f"--dist={dist}")
    result.assert_outcomes(passed=9, failed=3)
    assert failed_ids(report) == EXPECTED_FAILURES
    assert len(report["tests"]) == 12


@pytest.mark.parametrize("args", [["-n", "0"], ["-p", "no:xdist"]])
def test_without_workers_the_run_is_serial(suite, args):
    result, report = run(suite, RAPL, *args)
    result.assert_outcomes(passed=9, failed=3)
    assert report["session"]["scope"] == "process"  # the default, serial runs included
    assert "workers" not in report["session"]


def test_process_scope_in_a_serial_run_reports_the_remainder(suite):
    result, report = run(suite, "--carbon-scope=process", "-k", "many")
    session = report["session"]
    assert session["scope"] == "process"
    assert session["attributed_energy_j"] + session["unattributed_energy_j"] == pytest.approx(
        session["machine_energy_j"]
    )
    assert 0 < session["attributed_energy_j"] <= session["machine_energy_j"] * 1.01
    result.stdout.fnmatch_lines(["  attributed to this run * of the machine's *"])


CRASH_SUITE = {
    "test_crash.py": (
        "import os, time\n\n"
        "def test_burns_then_dies():\n"
        "    start = time.process_time()\n"
        "    while time.process_time() - start < 1.5:  # 1.5 CPU-seconds, however busy the machine\n"
        "        pass\n"
        "    os._exit(3)\n"
    ),
    "test_light.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
}


def test_a_crashed_workers_energy_counts_towards_the_session_budget(pytester) -> None:
    """The worker spends 1.5 CPU-seconds and dies before shipping its record: the
    controller charges it what the machine used that no record claimed (the estimate:
    at least the CPU's maximum power for those 1.5 s, over 1 J on any row of its table),
    and the session, within 2 J without it, fails its budget."""
    for name, body in CRASH_SUITE.items():
        (pytester.path / name).write_text(body)
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--carbon-meters=estimate",
        "--carbon-scope=process",
        "--carbon-intensity=3600",  # 1 J is 1 mg
        "--carbon-budget=2 mg",
        "--carbon-json=r.json",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    session = json.loads((pytester.path / "r.json").read_text())["session"]
    (crashed,) = [w for w in session["workers"] if w["crashed"]]
    assert crashed["lost_energy_j"] > 1.0
    assert crashed["energy_j"] >= crashed["lost_energy_j"]
    assert session["budget"]["exceeded"] is True
    assert session["energy_j"] - crashed["lost_energy_j"] < 2.0  # without the lost part it would pass
    result.stdout.fnmatch_lines(["*session carbon budget exceeded*"])
    assert any("an upper bound" in w for w in session["warnings"])
