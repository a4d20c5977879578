"""A test's overall outcome from its phase reports, in pytest's own words."""

from __future__ import annotations

import pytest


def phase_outcome(report: pytest.TestReport) -> str:
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return "passed"


def combine(current: str, report: pytest.TestReport) -> str:
    """Fold one phase's report into the outcome so far."""
    outcome = phase_outcome(report)
    if report.when == "setup":
        return outcome if outcome != "passed" else "unknown"
    if report.when == "call":
        return outcome
    # teardown: an error there is worth showing unless the call already failed
    if outcome == "error" and current not in ("failed", "error"):
        return "error"
    return current if current != "unknown" else outcome
