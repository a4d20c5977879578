"""Helpers for the accounting tests: run pytest through pytester and read the JSON report."""

from __future__ import annotations

import json
from typing import Any

import pytest

# Third-party plugins that would otherwise be re-imported by every in-process run.
QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:xdist")

# A test that burns some CPU, so the estimate gives it non-zero energy.
BUSY_TEST = """
def test_busy():
    total = 0
    for i in range(200_000):
        total += i * i
    assert total > 0
"""


def run_json(
    pytester: pytest.Pytester, *args: str, subprocess: bool = False
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the suite in `pytester` with a JSON report; return the result and the report."""
    if not list(pytester.path.glob("test_*.py")):
        pytester.makepyfile(test_busy=BUSY_TEST)
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(*QUIET_PLUGINS, "--carbon-json=carbon.json", *args)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    report = json.loads((pytester.path / "carbon.json").read_text(encoding="utf-8"))
    return result, report


def operational(energy_j: float, session: dict[str, Any]) -> float:
    """gCO2e = kWh x PUE x intensity, from the figures the report states."""
    return energy_j / 3.6e6 * session["pue"] * session["intensity_g_per_kwh"]
