"""`python -m pytest_carbon budgets`: budgets from real runs, read back by a real run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import ONE_JOULE_ONE_MG

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUITE = """
import json, pathlib
import pytest
from energy import burn

JOULES = json.loads(pathlib.Path(__file__).with_name("joules.json").read_text())


def test_heavy():
    burn(JOULES["heavy"])


@pytest.mark.parametrize("size", [1, 2])
def test_sized(size):
    burn(JOULES["sized"] * size)


def test_light():
    burn(0.001)
"""


def run_suite(pytester: pytest.Pytester, heavy: float, sized: float, report: str) -> pytest.RunResult:
    (pytester.path / "joules.json").write_text(f'{{"heavy": {heavy}, "sized": {sized}}}')
    return pytester.runpytest(*ONE_JOULE_ONE_MG, f"--carbon-json={report}")


def budgets(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run(sys.executable, "-m", "pytest_carbon", "budgets", *args)


def test_budgets_from_two_runs_hold_for_a_third_and_catch_growth(energy_suite: pytest.Pytester) -> None:
    pytester = energy_suite
    pytester.makepyfile(test_work=SUITE)
    run_suite(pytester, heavy=0.10, sized=0.02, report="one.json").assert_outcomes(passed=4)
    run_suite(pytester, heavy=0.12, sized=0.02, report="two.json").assert_outcomes(passed=4)

    result = budgets(pytester, "one.json", "two.json", "--margin", "25%", "--top", "3", "--files", "1")
    assert result.ret == 0, result.stderr.str()
    text = result.stdout.str()
    assert text.startswith("# Derived by `python -m pytest_carbon budgets` from 2 reports")
    config = tomllib.loads(text)["tool"]["pytest_carbon"]
    # Session: 0.12 + 0.02 + 0.04 + 0.001 J = 181 ug at most, x 1.25 = 226.25 -> 230 ug.
    assert config["budget"] == "230 ug"
    table = config["budgets"]
    assert table["test_work.py::test_heavy"] == "150 ug"  # 120 x 1.25
    assert table["test_work.py::test_sized[[]2[]]"] == "50 ug"  # 40 x 1.25, its id escaped for fnmatch
    assert "test_work.py::test_light" not in table  # --top 3: the light test is not among the costliest
    assert table["test_work.py::*"] == "150 ug"  # the file's costliest test
    assert "spread x1.20" in text  # test_heavy: 0.12 / 0.10

    (pytester.path / "pyproject.toml").write_text(text)
    run_suite(pytester, heavy=0.11, sized=0.02, report="three.json").assert_outcomes(passed=4)
    grown = run_suite(pytester, heavy=0.16, sized=0.02, report="four.json")
    grown.assert_outcomes(passed=3, failed=1)
    grown.stdout.fnmatch_lines(["*test_heavy*carbon budget exceeded*(from *test_work.py::test_heavy*"])


def test_energy_budgets_and_a_folder_of_reports(energy_suite: pytest.Pytester) -> None:
    pytester = energy_suite
    pytester.makepyfile(test_work=SUITE)
    (pytester.path / "reports").mkdir()
    run_suite(pytester, heavy=2.0, sized=0.5, report="reports/a.json")
    result = budgets(pytester, "reports", "--unit", "J", "--margin", "0")
    assert result.ret == 0, result.stderr.str()
    config = tomllib.loads(result.stdout.str())["tool"]["pytest_carbon"]
    assert config["budgets"]["test_work.py::test_heavy"] == "2 J"
    assert config["budget"] == "3.6 J"  # 2 + 0.5 + 1 + 0.001 = 3.501, rounded up to two figures


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "missing.json: no such file"),
        ("{not json", "cannot be read as JSON"),
        ('{"schema": "other"}', "not a pytest-carbon report"),
        (
            '{"schema": "pytest-carbon/report", "session": {"co2e_g": 1}, "tests": [{"nodeid": "t::a", "phases": {"setup": {"co2e_g": "x"}}}]}',
            "tests[0] setup.co2e_g is 'x', not a number >= 0",
        ),
    ],
)
def test_unusable_reports_are_named_with_exit_2(pytester: pytest.Pytester, content: str | None, fragment: str) -> None:
    if content is not None:
        (pytester.path / "missing.json").write_text(content)
    result = budgets(pytester, "missing.json")
    assert result.ret == 2
    assert fragment in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_a_bad_margin_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = budgets(pytester, "r.json", "--margin", "lots")
    assert result.ret == 2
    assert "'lots' is not a percentage" in result.stderr.str()
