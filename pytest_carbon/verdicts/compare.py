"""Compare a run with a baseline report: per-test and session growth, new and removed tests.

Works on two report records (the dicts of `report.record`), so the plugin and the
`python -m pytest_carbon compare` command share it. Nothing here runs per test.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_carbon.schema import SCHEMA, SCHEMA_VERSION, ChangeRecord, ComparisonRecord
from pytest_carbon.values.numbers import non_negative
from pytest_carbon.values.quantities import Quantity
from pytest_carbon.values.text import printable

Status = Literal["regressed", "grew", "shrank", "same"]

# Changes smaller than this never count: estimated energy of short tests moves with
# scheduling noise, so a floor in absolute terms keeps them from flapping.
DEFAULT_MIN = Quantity(1.0, "energy", "1 J")
NOT_COMPARED = ("skipped", "xfailed")
METRICS = ("energy_j", "co2e_g")  # what the comparison reads, from the session and each test
# What the comparability notes read from a baseline's session, and their documented types.
NOTE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "cpu_model": (str, type(None)),
    "intensity_g_per_kwh": (int, float),
    "pue": (int, float),
    "embodied_included": bool,
}
NOTE_FIELD_TEXT = {
    "cpu_model": "a string or null",
    "intensity_g_per_kwh": "a number",
    "pue": "a number",
    "embodied_included": "true or false",
}


@dataclass(frozen=True)
class Baseline:
    path: str
    report: dict[str, Any] | None
    warning: str | None = None
    missing: bool = False  # no file at all (a first run), as opposed to a file that cannot be used


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline report; any problem becomes a warning naming the path, never an error."""
    shown = printable(os.fspath(path), 300)
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except FileNotFoundError:
        return Baseline(
            shown, None, f"no baseline to compare with: {shown} does not exist (normal on a first run)", missing=True
        )
    except RecursionError:
        return Baseline(shown, None, f"cannot read the baseline {shown}: its JSON is nested too deeply")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return Baseline(shown, None, f"cannot read the baseline {shown}: {printable(str(error), 200)}")
    problem = baseline_problem(report)
    if problem:
        return Baseline(shown, None, f"cannot use the baseline {shown}: {problem}")
    if not report.get("complete", False):
        reason = printable(str(report.get("interrupted") or "incomplete"), 200)
        return Baseline(shown, None, f"cannot use the baseline {shown}: that run did not finish ({reason})")
    return Baseline(shown, report)


def _shown(value: object) -> str:
    return printable(repr(value), 60) if not isinstance(value, (dict, list)) else type(value).__name__


def baseline_problem(report: object) -> str | None:
    """The first thing in `report` the comparison cannot use, in words; None when it is
    a pytest-carbon report with every figure the comparison reads (docs/json-report.md)."""
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        return f'it is not a pytest-carbon report (no "schema": "{SCHEMA}")'
    version = report.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"its schema_version {_shown(version)} is not a whole number >= 1"
    if version > SCHEMA_VERSION:
        return f"its schema_version {version} is newer than this pytest-carbon reads ({SCHEMA_VERSION})"
    if not isinstance(report.get("complete", False), bool):
        return f"its complete {_shown(report['complete'])} is not true or false"
    session, tests = report.get("session"), report.get("tests")
    if not isinstance(session, dict):
        return f"its session {_shown(session)} is not an object"
    if not isinstance(tests, list):
        return f"its tests {_shown(tests)} is not a list"
    for key in METRICS:
        if non_negative(session.get(key)) is None:
            return f"its session.{key} {_shown(session.get(key))} is not a number >= 0"
    problem = _session_fields_problem(session)
    if problem:
        return problem
    for index, test in enumerate(tests):
        problem = _test_problem(test)
        if problem:
            return f"tests[{index}] {problem}"
    return None


def _session_fields_problem(session: dict[str, Any]) -> str | None:
    """What the comparability notes read: each optional, but of its documented type."""
    meters = session.get("meters", [])
    if not isinstance(meters, list):
        return f"its session.meters {_shown(meters)} is not a list"
    for index, meter in enumerate(meters):
        if not isinstance(meter, dict) or not isinstance(meter.get("name"), str):
            return f"its session.meters[{index}] {_shown(meter)} is not a meter with a name"
    for key, kinds in NOTE_FIELDS.items():
        if key in session and not (isinstance(session[key], kinds) and not _bad_number(session[key])):
            return f"its session.{key} {_shown(session[key])} is not {NOTE_FIELD_TEXT[key]}"
    return None


def _bad_number(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _test_problem(test: object) -> str | None:
    if not isinstance(test, dict):
        return f"{_shown(test)} is not a test record"
    nodeid = test.get("nodeid")
    if not isinstance(nodeid, str):
        return f"has no nodeid (a string): {_shown(nodeid)}"
    for key in METRICS:
        if non_negative(test.get(key)) is None:
            return f"({printable(nodeid, 120)}) has {key} {_shown(test.get(key))}, not a number >= 0"
    if not isinstance(test.get("outcome", ""), str):
        return f"({printable(nodeid, 120)}) has outcome {_shown(test.get('outcome'))}, not a string"
    return None


@dataclass(frozen=True)
class Change:
    name: str
    before: float
    after: float
    status: Status

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def percent(self) -> float | None:
        """Growth in percent; None when the baseline figure is zero (any growth is infinite)."""
        if self.before == 0:
            return 0.0 if self.after == 0 else None
        return 100.0 * (self.after - self.before) / self.before

    def to_dict(self) -> ChangeRecord:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "change": self.change,
            "change_pct": self.percent,
            "status": self.status,
        }


def classify(before: float, after: float, minimum: float, fail_pct: float | None, band: float = 0.0) -> Status:
    """A change counts only beyond the noise floor and beyond the two figures' resolution
    together (`band`): a test whose figure is mostly resolution cannot flap."""
    change = after - before
    if abs(change) < max(minimum, band) or change == 0:
        return "same"
    if change < 0:
        return "shrank"
    if fail_pct is not None and (before == 0 or 100.0 * change / before > fail_pct):
        return "regressed"
    return "grew"


@dataclass
class Comparison:
    baseline: str
    metric: str  # "energy_j" or "co2e_g"
    minimum: Quantity
    fail_pct: float | None
    session: Change
    tests: list[Change]
    new: list[str]
    removed: list[str]
    not_compared: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[Change]:
        return [t for t in self.tests if t.status == "regressed"]

    @property
    def failed(self) -> bool:
        return bool(self.regressed) or self.session.status == "regressed"

    def to_dict(self) -> ComparisonRecord:
        return {
            "baseline": self.baseline,
            "metric": self.metric,
            "unit": unit_of(self.metric),
            "min_change": self.minimum.amount,
            "min_change_text": self.minimum.text,
            "fail_pct": self.fail_pct,
            "failed": self.failed,
            "session": self.session.to_dict(),
            "tests": [t.to_dict() for t in sorted(self.tests, key=lambda t: t.change, reverse=True)],
            "regressed": [t.name for t in self.regressed],
            "new": self.new,
            "removed": self.removed,
            "not_compared": self.not_compared,
            "notes": self.notes,
        }


def unit_of(metric: str) -> str:
    return "J" if metric == "energy_j" else "gCO2e"


def compare(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    baseline: str,
    fail_pct: float | None = None,
    minimum: Quantity | None = None,
) -> Comparison:
    """Compare two report records. The noise floor's dimension picks the figure compared:
    energy (the default, independent of grid intensity) or gCO2e."""
    floor = minimum or DEFAULT_MIN
    metric = "energy_j" if floor.dimension == "energy" else "co2e_g"
    old_tests = {t["nodeid"]: t for t in old["tests"]}
    new_tests = {t["nodeid"]: t for t in new["tests"]}
    changes: list[Change] = []
    not_compared: list[str] = []
    for nodeid, test in new_tests.items():
        before_test = old_tests.get(nodeid)
        if before_test is None:
            continue
        if test.get("outcome") in NOT_COMPARED or before_test.get("outcome") in NOT_COMPARED:
            not_compared.append(nodeid)
            continue
        before, after = float(before_test[metric]), float(test[metric])
        band = _resolution(before_test, metric) + _resolution(test, metric)
        changes.append(Change(nodeid, before, after, classify(before, after, floor.amount, fail_pct, band)))
    before_total, after_total = float(old["session"][metric]), float(new["session"][metric])
    session_band = _resolution(old["session"], metric) + _resolution(new["session"], metric)
    session = Change(
        "session", before_total, after_total, classify(before_total, after_total, floor.amount, fail_pct, session_band)
    )
    return Comparison(
        baseline=baseline,
        metric=metric,
        minimum=floor,
        fail_pct=fail_pct,
        session=session,
        tests=changes,
        new=[n for n in new_tests if n not in old_tests],
        removed=[n for n in old_tests if n not in new_tests],
        not_compared=not_compared,
        notes=comparability_notes(old, new, metric),
    )


def _resolution(figure: Mapping[str, Any], metric: str) -> float:
    """A report figure's resolution in the compared metric (0 where a report has none)."""
    uncertainty = figure.get("uncertainty")
    if not isinstance(uncertainty, Mapping):
        return 0.0
    resolution = uncertainty.get("resolution_j")
    if not isinstance(resolution, (int, float)) or not resolution > 0 or resolution == float("inf"):
        return 0.0
    if metric == "energy_j":
        return float(resolution)
    energy, mass = figure.get("energy_j"), figure.get(metric)
    if isinstance(energy, (int, float)) and isinstance(mass, (int, float)) and energy > 0:
        return float(resolution) * float(mass) / float(energy)
    return 0.0


def comparability_notes(old: Mapping[str, Any], new: Mapping[str, Any], metric: str) -> list[str]:
    """Differences between the two runs that make their figures less comparable."""
    notes = []
    old_session, new_session = old["session"], new["session"]
    old_meters = sorted(printable(m.get("name", "?"), 40) for m in old_session.get("meters", []))
    new_meters = sorted(printable(m.get("name", "?"), 40) for m in new_session.get("meters", []))
    if old_meters != new_meters:
        notes.append(
            f"the runs used different meters ({', '.join(old_meters) or 'none'} before, {', '.join(new_meters) or 'none'} now)"
        )
    if old_session.get("cpu_model") != new_session.get("cpu_model"):
        notes.append(
            f"the runs ran on different CPUs ({_text(old_session.get('cpu_model'))} before, "
            f"{_text(new_session.get('cpu_model'))} now)"
        )
    if metric == "co2e_g":
        for key, label in (
            ("intensity_g_per_kwh", "grid intensity"),
            ("pue", "PUE"),
            ("embodied_included", "embodied emissions"),
        ):
            if old_session.get(key) != new_session.get(key):
                notes.append(f"the {label} differs ({old_session.get(key)} before, {new_session.get(key)} now)")
    if not new.get("complete", True):
        notes.append("this run did not finish, so tests it did not reach are listed as removed")
    return notes


def _text(value: object) -> str:
    return printable(str(value), 100)
