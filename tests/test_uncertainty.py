"""How sure a figure is: the arithmetic, budgets within their band, the comparison's
bands, the rendering, and a budget that holds while a neighbour keeps the CPUs busy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_carbon.meters.uncertainty import MeterBand, UncertaintyModel, counter_band, estimate_band
from pytest_carbon.report.wording import plus_minus, verdict_message
from pytest_carbon.values.quantities import Quantity
from pytest_carbon.verdicts.budgets import Budget, judge
from pytest_carbon.verdicts.compare import classify, compare


def model() -> UncertaintyModel:
    return UncertaintyModel(
        {
            "estimate": MeterBand("estimated", 0.3, 0.0, 0.002),
            "rapl": MeterBand("measured: rapl", 0.05, 0.001, 0.0),
        }
    )


def test_resolution_is_two_readings_and_the_relative_error_is_energy_weighted():
    bands = model()
    bands.set_power("rapl", 40.0)  # a 1 ms update at 40 W: 40 mJ a reading
    found = bands.of({"estimate": 1.0, "rapl": 3.0})
    assert found.resolution_j == pytest.approx(2 * 0.002 + 2 * 0.04)
    assert found.relative == pytest.approx((0.3 * 1.0 + 0.05 * 3.0) / 4.0)
    assert found.band_j == pytest.approx(found.resolution_j + 0.3 * 1.0 + 0.05 * 3.0)
    assert not found.mostly_resolution
    tiny = bands.of({"estimate": 0.003})
    assert tiny.mostly_resolution and tiny.resolution_j == pytest.approx(0.004)


def test_bands_of_each_method():
    process = estimate_band(2.0, 1.5, 2, "process", ticks=False)
    assert process.step_j == pytest.approx(0.001 * 2.0)
    assert estimate_band(2.0, 1.5, 2, "process", ticks=True).step_j == pytest.approx(0.021 * 2.0)
    machine = estimate_band(2.0, 1.5, 2, "machine", ticks=False)
    assert machine.step_j == pytest.approx(0.001 * 2.0 + 2 * 0.01 * 2 * 1.5)
    assert counter_band("nvml", "process").period_s == pytest.approx(0.1)
    assert counter_band("rapl", "machine").period_s == pytest.approx(0.001)


def budget(text: str, amount: float, dimension: str = "energy") -> Budget:
    return Budget(Quantity(amount, dimension, text), "@pytest.mark.carbon")  # type: ignore[arg-type]


def test_a_figure_over_its_limit_by_less_than_its_resolution_passes_and_says_so():
    limit = budget("10 mJ", 0.010)
    near = judge(limit, 0.0105, 1e-6, resolution_j=0.002)
    assert not near.exceeded and near.within_uncertainty
    assert verdict_message(near.to_dict()) == (
        "within carbon budget: 10.5 mJ ± 2.00 mJ > 10.0 mJ but within uncertainty (from @pytest.mark.carbon)"
    )
    over = judge(limit, 0.0125, 1e-6, resolution_j=0.002)
    assert over.exceeded and not over.within_uncertainty
    strict = judge(limit, 0.0105, 1e-6, resolution_j=0.002, rule="strict")
    assert strict.exceeded and strict.to_dict()["rule"] == "strict"
    under = judge(limit, 0.009, 1e-6, resolution_j=0.002)
    assert not under.exceeded and not under.within_uncertainty


def test_a_mass_budget_takes_the_resolution_in_grams():
    verdict = judge(budget("1 mg", 0.001, "mass"), energy_j=2.0, co2e_g=0.00105, resolution_j=0.2)
    assert verdict.band == pytest.approx(0.2 * 0.00105 / 2.0)
    assert verdict.within_uncertainty


def test_plus_minus_marks_figures_that_are_mostly_resolution():
    record = {"method": "m", "relative": 0.3, "resolution_j": 0.004, "band_j": 0.005, "mostly_resolution": True}
    assert plus_minus(record) == "± 5.00 mJ (mostly resolution)"
    assert plus_minus({**record, "mostly_resolution": False, "band_j": 0.2}) == "± 200 mJ"
    assert plus_minus(None) == ""


def test_the_comparison_counts_a_change_only_beyond_both_resolutions():
    assert classify(0.010, 0.030, 0.001, 10.0) == "regressed"
    assert classify(0.010, 0.030, 0.001, 10.0, band=0.025) == "same"

    def report(energy: float, resolution: float) -> dict:
        uncertainty = {"method": "m", "relative": 0.3, "resolution_j": resolution, "band_j": resolution}
        test = {
            "nodeid": "t::tiny",
            "outcome": "passed",
            "energy_j": energy,
            "co2e_g": energy,
            "uncertainty": uncertainty,
        }
        session = {"energy_j": energy, "co2e_g": energy, "uncertainty": uncertainty}
        return {"tests": [test], "session": session, "complete": True}

    minimum = Quantity(0.001, "energy", "1 mJ")
    flapping = compare(report(0.004, 0.004), report(0.009, 0.004), baseline="b", fail_pct=10, minimum=minimum)
    assert not flapping.failed and flapping.tests[0].status == "same"
    real = compare(report(0.004, 0.004), report(0.020, 0.004), baseline="b", fail_pct=10, minimum=minimum)
    assert real.failed


NEAR_SUITE = """
import pytest
from energy import burn

@pytest.mark.carbon("10 J")
def test_near():
    burn(10.006)
"""


@pytest.mark.parametrize(("rule", "outcome"), [("band", "passed"), ("strict", "failed")])
def test_a_budget_within_its_band_through_pytest(energy_suite, rule, outcome):
    energy_suite.makepyfile(test_near=NEAR_SUITE)
    result = energy_suite.runpytest(
        "--carbon-meters=rapl", f"--carbon-budget-rule={rule}", "--carbon-json=r.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(**{outcome: 1})
    (test,) = json.loads((energy_suite.path / "r.json").read_text())["tests"]
    # The counter's 1 ms step at this suite's made-up power (about 10 J over the run's
    # wall time, so above 6 mJ unless the run takes longer than a second).
    assert test["uncertainty"]["resolution_j"] * 1.5 > 0.006
    if rule == "band":
        assert test["budget"]["within_uncertainty"] is True
        result.stdout.fnmatch_lines(["  test_near.py::test_near: 10.01 J ± * > 10.00 J but within uncertainty"])
    else:
        assert test["budget"]["exceeded"] is True


FIXED_WORK = """
import time
import pytest

def work():
    total = 0
    for i in range(3_000_000):
        total += i * i
    return total

def test_fixed_work():
    assert work() > 0
"""

NEIGHBOUR = "while True:\n    pass\n"


def fixed_work_joules(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    result = pytester.runpytest_subprocess(
        "--carbon-meters=estimate", "--carbon-json=r.json", "-p", "no:cacheprovider", *args
    )
    (test,) = json.loads((pytester.path / "r.json").read_text())["tests"]
    return result, test["energy_j"]


def test_a_budget_at_one_and_a_half_times_the_quiet_figure_holds_beside_a_busy_neighbour(pytester):
    pytester.makepyfile(test_fixed=FIXED_WORK)
    _, quiet = fixed_work_joules(pytester)
    assert quiet > 0
    neighbours = [subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) for _ in range(2)]
    try:
        result, busy = fixed_work_joules(pytester, f"--carbon-test-budget={quiet * 1.5} J")
    finally:
        for neighbour in neighbours:
            neighbour.kill()
            neighbour.wait()
    result.assert_outcomes(passed=1)
    assert busy < quiet * 1.5
