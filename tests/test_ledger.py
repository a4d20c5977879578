"""Boundaries tile the timeline; shared fixtures are charged to themselves."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG

SUITE = {
    "conftest": """
        import pytest
        from energy import burn

        @pytest.fixture(scope="session")
        def tokenizer():
            burn(5)
            yield "tok"
            burn(2)

        @pytest.fixture(scope="session")
        def model(tokenizer):
            burn(50)
            yield "model"
            burn(7)
    """,
    "test_one": """
        import pytest
        from energy import burn

        @pytest.fixture(scope="module")
        def dataset():
            burn(20)
            return [1, 2, 3]

        @pytest.fixture
        def batch(dataset):
            burn(0.5)
            yield dataset[:2]
            burn(0.25)

        def test_uses_model(model, batch):
            burn(1)

        def test_uses_dataset(dataset):
            burn(2)

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            burn(n)

        def test_fails():
            burn(3)
            assert False

        @pytest.mark.skip(reason="not now")
        def test_skipped():
            burn(1000)
    """,
    "test_two": """
        import pytest
        from energy import burn

        @pytest.fixture(scope="module")
        def dataset():
            burn(20)
            return [4]

        class TestGroup:
            @pytest.fixture(scope="class")
            def index(self, dataset):
                burn(4)
                return {}

            def test_a(self, index, model):
                burn(1)

            def test_b(self, index):
                burn(1)
    """,
}


def run_suite(pytester, *args):
    for name, text in SUITE.items():
        pytester.makepyfile(**{name: text})
    result = pytester.runpytest(*args, "--carbon-json=report.json")
    report = json.loads((pytester.path / "report.json").read_text())
    return result, report


def accounted(report) -> float:
    session = report["session"]
    return (
        sum(t["energy_j"] for t in report["tests"])
        + sum(f["energy_j"] for f in report["fixtures"])
        + sum(part["energy_j"] for part in session["overhead"].values())
    )


def test_tests_fixtures_and_overhead_add_up_to_the_session_total(energy_suite):
    result, report = run_suite(energy_suite, *ONE_JOULE_ONE_MG)
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    session = report["session"]
    expected = 5 + 2 + 50 + 7 + 20 + 20 + 4 + 0.5 + 0.25 + 1 + 2 + 1 + 2 + 3 + 1 + 1
    assert session["energy_j"] == pytest.approx(expected)
    assert accounted(report) == pytest.approx(session["energy_j"], rel=1e-12)
    breakdown = session["breakdown"]
    parts = (
        breakdown["tests_j"]
        + breakdown["fixtures_j"]
        + sum(v for k, v in breakdown.items() if k not in ("tests_j", "fixtures_j"))
    )
    assert parts == pytest.approx(session["energy_j"], rel=1e-12)


def test_conservation_holds_with_the_estimate_and_real_time(pytester):
    pytester.makepyfile(
        conftest="""
        import pytest, time

        @pytest.fixture(scope="module")
        def warm():
            sum(range(200_000))
            yield
            time.sleep(0.01)
        """,
        test_x="""
        import time
        def test_busy(warm):
            sum(range(300_000))
        def test_sleep(warm):
            time.sleep(0.02)
        """,
    )
    result = pytester.runpytest("--carbon-meters=estimate", "--carbon-json=report.json")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["session"]["energy_j"] > 0
    assert accounted(report) == pytest.approx(report["session"]["energy_j"], rel=1e-9)
    durations = sum(t["duration_s"] for t in report["tests"]) + sum(f["duration_s"] for f in report["fixtures"])
    durations += sum(p["duration_s"] for p in report["session"]["overhead"].values())
    assert durations == pytest.approx(report["session"]["duration_s"], rel=1e-9)


def test_shared_fixtures_are_charged_to_the_fixture_not_the_test(energy_suite):
    _, report = run_suite(energy_suite, *ONE_JOULE_ONE_MG)
    tests = {t["nodeid"]: t for t in report["tests"]}
    # function-scoped fixture energy belongs to the test; wider scopes do not
    assert tests["test_one.py::test_uses_model"]["phases"]["setup"]["energy_j"] == pytest.approx(0.5)
    assert tests["test_one.py::test_uses_model"]["phases"]["call"]["energy_j"] == pytest.approx(1.0)
    assert tests["test_one.py::test_uses_model"]["phases"]["teardown"]["energy_j"] == pytest.approx(0.25)
    assert tests["test_one.py::test_uses_dataset"]["energy_j"] == pytest.approx(2.0)
    assert tests["test_two.py::TestGroup::test_a"]["energy_j"] == pytest.approx(1.0)
    assert tests["test_two.py::TestGroup::test_b"]["energy_j"] == pytest.approx(1.0)
    assert tests["test_one.py::test_skipped"]["energy_j"] == pytest.approx(0.0)
    fixtures = {(f["name"], f["baseid"]): f for f in report["fixtures"]}
    model = fixtures[("model", "")]
    assert model["scope"] == "session" and model["setups"] == 1
    assert model["parts"]["setup"]["energy_j"] == pytest.approx(50)
    assert model["parts"]["teardown"]["energy_j"] == pytest.approx(7)
    tokenizer = fixtures[("tokenizer", "")]
    assert tokenizer["parts"]["setup"]["energy_j"] == pytest.approx(5)
    assert tokenizer["parts"]["teardown"]["energy_j"] == pytest.approx(2)
    assert fixtures[("dataset", "test_one.py")]["energy_j"] == pytest.approx(20)
    assert fixtures[("dataset", "test_two.py")]["energy_j"] == pytest.approx(20)
    assert fixtures[("index", "test_two.py::TestGroup")]["energy_j"] == pytest.approx(4)
    assert ("batch", "test_one.py") not in fixtures
    # the costliest shared fixture is listed first
    assert report["fixtures"][0]["name"] == "model"


def test_the_summary_lists_costly_fixtures(energy_suite):
    result, _ = run_suite(energy_suite, *ONE_JOULE_ONE_MG)
    result.stdout.fnmatch_lines(
        [
            "costly shared fixtures (charged to the fixture, not to a test):",
            "*57.0 J*57.0 mgCO2e*model (session)  x1",
        ]
    )


def test_parametrized_module_fixture_counts_each_setup(energy_suite):
    energy_suite.makepyfile(
        test_p="""
        import pytest
        from energy import burn

        @pytest.fixture(scope="module", params=[1, 2, 3])
        def size(request):
            burn(request.param)
            return request.param

        def test_it(size):
            burn(0.1)
        """
    )
    energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=r.json").assert_outcomes(passed=3)
    report = json.loads((energy_suite.path / "r.json").read_text())
    # Other plugins may add shared fixtures of their own (pytest-asyncio's event loop policy).
    (size,) = [f for f in report["fixtures"] if f["name"] == "size"]
    assert size["setups"] == 3
    assert size["energy_j"] == pytest.approx(6)
    assert [t["energy_j"] for t in report["tests"]] == pytest.approx([0.1, 0.1, 0.1])


def test_a_failed_setup_has_no_call_and_its_teardown_is_still_measured(energy_suite):
    energy_suite.makepyfile(
        test_e="""
        import pytest
        from energy import burn

        @pytest.fixture
        def broken(request):
            request.addfinalizer(lambda: burn(3))
            burn(2)
            raise RuntimeError("cannot set up")

        def test_it(broken):
            burn(100)
        """
    )
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=r.json")
    result.assert_outcomes(errors=1)
    (test,) = json.loads((energy_suite.path / "r.json").read_text())["tests"]
    assert test["outcome"] == "error"
    assert test["phases"]["setup"]["energy_j"] == pytest.approx(2)
    assert test["phases"]["call"]["energy_j"] == pytest.approx(0)
    assert test["phases"]["teardown"]["energy_j"] == pytest.approx(3)


def test_subtest_reports_do_not_end_the_call_phase(energy_suite):
    """pytest's subtests log a report per block while the call goes on: the whole call,
    before, between and after the blocks, is the call phase, and is what the budget judges."""
    pytest.importorskip("_pytest.subtests")
    energy_suite.makepyfile(
        test_s="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_j=20)
        def test_blocks(subtests):
            burn(1)
            for index in range(2):
                with subtests.test(index=index):
                    burn(2)
            burn(30)
        """
    )
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=r.json")
    result.stdout.fnmatch_lines(["*carbon budget exceeded: 35*J > 20*J*"])
    (test,) = json.loads((energy_suite.path / "r.json").read_text())["tests"]
    assert test["phases"]["call"]["energy_j"] == pytest.approx(35)
    assert test["phases"]["teardown"]["energy_j"] == pytest.approx(0)
    assert test["verdict"] == "exceeded"
    assert test["outcome"] == "failed"
