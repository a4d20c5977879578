"""Plugins and pytest features that change how tests run: the records stay right.

Every figure here is a known number of joules burnt on the fake RAPL counter (at 3600
gCO2e/kWh one joule is one milligram), so a record is right or wrong, not close.
"""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG


def report_of(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "r.json").read_text())


def records_by_id(pytester: pytest.Pytester) -> dict[str, dict]:
    return {t["nodeid"]: t for t in report_of(pytester)["tests"]}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=r.json", *args)


@pytest.fixture
def plugins_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs load every installed plugin (the suite's default leaves some out)."""
    import os
    import re

    monkeypatch.setenv("PYTEST_ADDOPTS", re.sub(r"-p no:\S+", "", os.environ.get("PYTEST_ADDOPTS", "")))


# -- pytest-rerunfailures --------------------------------------------------------------

RERUN_SUITE = """
import pytest
from energy import burn

ATTEMPTS = []


@pytest.fixture
def slow_teardown():
    yield
    burn(1.0)  # teardown work: measured, not counted against the budget


@pytest.mark.carbon(max_j=0.5)
def test_cheap_call_costly_teardown(slow_teardown):
    burn(0.1)


@pytest.mark.carbon(max_j=1.5)
def test_flaky():
    ATTEMPTS.append(1)
    burn(1.0)
    assert len(ATTEMPTS) > 1, "fails on its first attempt"
"""


def test_reruns_charge_each_phase_to_itself_and_judge_the_last_attempt(energy_suite: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    energy_suite.makepyfile(test_r=RERUN_SUITE)
    outcomes = run(energy_suite, "--reruns", "1", "-p", "rerunfailures").parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("rerun"), outcomes.get("failed")) == (2, 1, None)
    tests = records_by_id(energy_suite)
    cheap = tests["test_r.py::test_cheap_call_costly_teardown"]
    assert cheap["phases"]["call"]["energy_j"] == pytest.approx(0.1)
    assert cheap["phases"]["teardown"]["energy_j"] == pytest.approx(1.0)
    assert cheap["verdict"] == "ok" and cheap["budget"]["measured"] == pytest.approx(0.1)  # joules: a J budget
    assert "attempts" not in cheap
    flaky = tests["test_r.py::test_flaky"]
    assert flaky["outcome"] == "passed"
    assert flaky["energy_j"] == pytest.approx(2.0)  # the figure holds both attempts
    assert flaky["verdict"] == "ok"  # the budget judges the last attempt: 1 J <= 1.5 J
    assert flaky["budget"]["measured"] == pytest.approx(1.0)
    assert [(a["outcome"], round(a["energy_j"], 6)) for a in flaky["attempts"]] == [("rerun", 1.0), ("passed", 1.0)]


def test_without_reruns_the_same_suite_is_judged_the_same(energy_suite: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    energy_suite.makepyfile(test_r=RERUN_SUITE)
    run(energy_suite, "-p", "rerunfailures").assert_outcomes(passed=1, failed=1)
    cheap = records_by_id(energy_suite)["test_r.py::test_cheap_call_costly_teardown"]
    assert cheap["phases"]["teardown"]["energy_j"] == pytest.approx(1.0)
    assert cheap["verdict"] == "ok"


FLAKY_CLASS_SUITE = """
import pytest
from energy import burn

ATTEMPTS = []


def test_steady():
    burn(0.2)


@pytest.mark.flaky(reruns=1)
class TestFlaky:
    def test_flaky(self):
        ATTEMPTS.append(1)
        burn(1.0)
        assert len(ATTEMPTS) > 1, "fails on its first attempt"
"""


def test_a_flaky_marker_on_a_class_is_seen_without_reruns_on_the_command_line(energy_suite: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    energy_suite.makepyfile(test_f=FLAKY_CLASS_SUITE)
    outcomes = run(energy_suite, "-p", "rerunfailures").parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("rerun")) == (2, 1)
    flaky = records_by_id(energy_suite)["test_f.py::TestFlaky::test_flaky"]
    assert [(a["outcome"], round(a["energy_j"], 6)) for a in flaky["attempts"]] == [("rerun", 1.0), ("passed", 1.0)]


# -- pytest's subtests ---------------------------------------------------------------------

SUBTEST_SUITE = """
import pytest
from energy import burn


def test_blocks(subtests):
    for index in range(3):
        with subtests.test(index=index):
            burn(0.1)
            assert index != 1


@pytest.mark.carbon(max_j=0.1)
def test_blocks_over_budget(subtests):
    for index in range(3):
        with subtests.test(index=index):
            burn(0.1)
            assert index != 1
"""


def test_failed_subtests_fail_the_record_and_keep_pytests_failure_first(energy_suite: pytest.Pytester) -> None:
    pytest.importorskip("_pytest.subtests")
    energy_suite.makepyfile(test_s=SUBTEST_SUITE)
    result = run(energy_suite, "-rA")
    result.stdout.fnmatch_lines(
        [
            "FAILED test_s.py::test_blocks - contains 1 failed subtest",
            "FAILED test_s.py::test_blocks_over_budget - contains 1 failed subtest",
        ]
    )
    result.stdout.fnmatch_lines(["*carbon budget exceeded*", "*carbon budget exceeded: 300 mJ > 100 mJ*"])
    tests = records_by_id(energy_suite)
    for nodeid in ("test_s.py::test_blocks", "test_s.py::test_blocks_over_budget"):
        assert tests[nodeid]["outcome"] == "failed"
        assert tests[nodeid]["subtests"] == {"passed": 2, "failed": 1}
    assert tests["test_s.py::test_blocks_over_budget"]["verdict"] == "exceeded"
    markdown = energy_suite.path / "s.md"
    run(energy_suite, f"--carbon-md={markdown}")
    assert "test_blocks" in markdown.read_text()


# -- plugins that worked before: each keeps working --------------------------------------


def test_pytest_repeat_gives_each_repetition_its_record(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("pytest_repeat")
    energy_suite.makepyfile(test_x="from energy import burn\ndef test_a():\n    burn(0.2)\n")
    run(energy_suite, "--count", "3").assert_outcomes(passed=3)
    tests = records_by_id(energy_suite)
    assert sorted(tests) == [f"test_x.py::test_a[{i}-3]" for i in (1, 2, 3)]
    assert [t["energy_j"] for t in tests.values()] == pytest.approx([0.2, 0.2, 0.2])


def test_unittest_setupclass_is_charged_to_its_class_fixture(energy_suite: pytest.Pytester) -> None:
    energy_suite.makepyfile(
        test_u="""
        import unittest
        from energy import burn

        class TestCase(unittest.TestCase):
            @classmethod
            def setUpClass(cls):
                burn(5.0)

            def test_one(self):
                burn(0.1)

            def test_two(self):
                burn(0.2)
        """
    )
    run(energy_suite).assert_outcomes(passed=2)
    report = report_of(energy_suite)
    assert [t["energy_j"] for t in report["tests"]] == pytest.approx([0.1, 0.2])
    (setup_class,) = [f for f in report["fixtures"] if f["scope"] == "class"]
    assert setup_class["energy_j"] == pytest.approx(5.0)


def test_doctests_are_measured(energy_suite: pytest.Pytester) -> None:
    energy_suite.makepyfile(
        lib='''
        def double(x):
            """
            >>> from energy import burn; burn(0.3); double(2)
            4
            """
            return 2 * x
        '''
    )
    run(energy_suite, "--doctest-modules", "lib.py").assert_outcomes(passed=1)
    (test,) = report_of(energy_suite)["tests"]
    assert test["nodeid"] == "lib.py::lib.double"
    assert test["energy_j"] == pytest.approx(0.3)


def test_pytest_asyncio_tests_are_measured(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("pytest_asyncio")
    energy_suite.makepyfile(
        test_a="""
        import asyncio
        import pytest
        from energy import burn

        @pytest.mark.asyncio
        async def test_async():
            await asyncio.sleep(0)
            burn(0.4)
        """
    )
    run(energy_suite, "-o", "asyncio_default_fixture_loop_scope=function").assert_outcomes(passed=1)
    assert records_by_id(energy_suite)["test_a.py::test_async"]["energy_j"] == pytest.approx(0.4)


def test_hypothesis_examples_add_up_to_one_test(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("hypothesis")
    energy_suite.makepyfile(
        test_h="""
        from hypothesis import given, settings, strategies as st, Phase
        from energy import burn

        @settings(max_examples=10, database=None, phases=[Phase.generate], derandomize=True)
        @given(st.integers())
        def test_examples(n):
            burn(0.01)
        """
    )
    run(energy_suite).assert_outcomes(passed=1)
    energy = records_by_id(energy_suite)["test_h.py::test_examples"]["energy_j"]
    assert energy == pytest.approx(0.01 * round(energy / 0.01))  # whole examples only
    assert energy >= 0.01


def test_pytest_benchmark_tests_are_measured(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("pytest_benchmark")
    energy_suite.makepyfile(
        test_b="""
        from energy import burn

        def test_bench(benchmark):
            burn(0.5)
            benchmark.pedantic(lambda: None, rounds=2, iterations=1)
        """
    )
    run(energy_suite, "--benchmark-disable-gc").assert_outcomes(passed=1)
    assert records_by_id(energy_suite)["test_b.py::test_bench"]["energy_j"] == pytest.approx(0.5)


def test_pytest_randomly_shuffles_but_each_test_keeps_its_figure(
    energy_suite: pytest.Pytester, plugins_on: None
) -> None:
    pytest.importorskip("pytest_randomly")
    body = "".join(f"def test_{i}():\n    burn({i} / 10)\n\n" for i in range(1, 6))
    energy_suite.makepyfile(test_r="from energy import burn\n\n" + body)
    run(energy_suite, "-p", "randomly", "-p", "no:cacheprovider", "--randomly-seed=3").assert_outcomes(passed=5)
    tests = records_by_id(energy_suite)
    for i in range(1, 6):
        assert tests[f"test_r.py::test_{i}"]["energy_j"] == pytest.approx(i / 10)


def test_pytest_cov_leaves_the_figures_alone(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("pytest_cov")
    energy_suite.makepyfile(test_c="from energy import burn\ndef test_a():\n    burn(0.7)\n")
    run(energy_suite, "--cov=energy", "--cov-report=").assert_outcomes(passed=1)
    assert records_by_id(energy_suite)["test_c.py::test_a"]["energy_j"] == pytest.approx(0.7)


def test_pytest_timeout_failure_is_recorded(energy_suite: pytest.Pytester, plugins_on: None) -> None:
    pytest.importorskip("pytest_timeout")
    energy_suite.makepyfile(
        test_t="""
        import time
        from energy import burn

        def test_quick():
            burn(0.1)

        def test_hangs():
            burn(0.2)
            time.sleep(30)
        """
    )
    run(energy_suite, "--timeout=1", "--timeout-method=signal").assert_outcomes(passed=1, failed=1)
    tests = records_by_id(energy_suite)
    assert tests["test_t.py::test_quick"]["energy_j"] == pytest.approx(0.1)
    assert tests["test_t.py::test_hangs"]["outcome"] == "failed"
    assert tests["test_t.py::test_hangs"]["energy_j"] == pytest.approx(0.2)
