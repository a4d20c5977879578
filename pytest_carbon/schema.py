"""The JSON report's shape, as typed records: one TypedDict per object of docs/json-report.md.

Built once at the end of a session (report/record.py), rendered by every reporter, read
back by `compare` and by a later run's baseline. Keys marked optional appear only in
some runs (process scope, pytest-xdist, a baseline); a reader ignores keys it does not
know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:  # annotations are not evaluated at run time (Python 3.10 has no NotRequired)
    from typing_extensions import NotRequired

SCHEMA = "pytest-carbon/report"
SCHEMA_VERSION = 1

BudgetUnit = Literal["gCO2e", "J"]


class PartRecord(TypedDict):
    """A phase of a test, a part of a fixture, or an overhead account."""

    duration_s: float
    energy_j: float
    co2e_g: float
    by_meter: NotRequired[dict[str, float]]  # fixture parts and overhead accounts only


class BudgetRecord(TypedDict):
    """A budget and its verdict (a test's or the session's)."""

    limit: float
    unit: BudgetUnit
    limit_text: str
    source: str
    measured: float
    exceeded: bool
    # How sure (added in 0.2): the figure's resolution in the budget's unit, whether the
    # figure is over the limit by less than that (passed, "within uncertainty"), and the
    # rule ("band" or "strict").
    band: NotRequired[float]
    within_uncertainty: NotRequired[bool]
    rule: NotRequired[str]


class UncertaintyRecord(TypedDict):
    """How sure a figure is (docs/json-report.md, "Uncertainty")."""

    method: str  # how the figure was made: meters, estimated or measured, scope
    relative: float  # the method's relative error (the same on every run of a machine)
    resolution_j: float  # what reading timing can move the figure by (differs run to run)
    band_j: float  # resolution_j + relative x energy_j: the figure's whole +/-
    mostly_resolution: bool  # resolution_j is at least half the figure


class LocationRecord(TypedDict):
    path: str
    line: int | None


class TestRecordDict(TypedDict):
    nodeid: str
    location: LocationRecord
    outcome: str
    duration_s: float
    energy_j: float
    co2e_g: float
    operational_g: float
    embodied_g: float
    sci_g: float
    phases: dict[str, PartRecord]
    by_meter: dict[str, float]
    by_channel: dict[str, float]
    budget: BudgetRecord | None
    verdict: Literal["ok", "exceeded"] | None
    flags: list[str]
    worker: NotRequired[str]  # pytest-xdist: the worker that ran it
    uncertainty: NotRequired[UncertaintyRecord]


class FixtureRecordDict(TypedDict):
    name: str
    scope: str
    baseid: str
    label: str
    setups: int
    duration_s: float
    energy_j: float
    co2e_g: float
    parts: dict[str, PartRecord]
    by_meter: dict[str, float]
    workers: NotRequired[int]  # pytest-xdist: how many workers set it up


class ChannelRecord(TypedDict):
    name: str
    component: str
    energy_j: float
    details: dict[str, str]


class MeterRecord(TypedDict):
    name: str
    measured: bool
    description: str
    energy_j: float
    channels: list[ChannelRecord]
    dropped: str | None


class SettingRecord(TypedDict):
    value: str
    origin: str


class WorkerRecord(TypedDict):
    """pytest-xdist: one worker as the controller saw it."""

    worker: str
    tests: int
    crashed: bool
    complete: bool
    energy_j: float
    duration_s: NotRequired[float]
    overhead: NotRequired[dict[str, float]]
    machine_energy_j: NotRequired[float | None]
    missing: NotRequired[str]


class AttributionRecord(TypedDict):
    definition: str
    gpu: list[str]


class SessionRecord(TypedDict):
    start: str
    end: str
    duration_s: float
    energy_j: float
    co2e_g: float
    operational_g: float
    embodied_g: float
    embodied_included: bool
    embodied_label: str
    embodied: dict[str, Any]
    sci: dict[str, Any]
    intensity_g_per_kwh: float
    intensity_source: str
    intensity_kind: str
    intensity_zone: str | None
    intensity_provider: str | None
    intensity_origin: str
    intensity_note: str | None
    pue: float
    pue_source: str
    measured: bool
    estimated_components: list[str]
    meters: list[MeterRecord]
    by_meter: dict[str, float]
    breakdown: dict[str, float]
    overhead: dict[str, PartRecord]
    scope: str
    action: str
    budget: BudgetRecord | None
    tests_over_budget: int
    platform: dict[str, Any]
    cpu_model: str
    vcpus: int
    warnings: list[str]
    notes: list[str]
    settings: NotRequired[dict[str, SettingRecord]]
    uncertainty: NotRequired[UncertaintyRecord]
    # Energy the counters put into intervals beyond the meter's maximum power, not placed.
    unplaced_energy_j: NotRequired[float]
    # A run that writes no report file keeps records only for the tests the terminal shows.
    test_count: NotRequired[int]
    # Process scope (and every pytest-xdist controller):
    machine_energy_j: NotRequired[float]
    attributed_energy_j: NotRequired[float]
    unattributed_energy_j: NotRequired[float]
    # pytest-xdist controller:
    controller_energy_j: NotRequired[float]
    workers: NotRequired[list[WorkerRecord]]
    missing_tests: NotRequired[list[str]]
    attribution: NotRequired[AttributionRecord]


class ChangeRecord(TypedDict):
    name: str
    before: float
    after: float
    change: float
    change_pct: float | None
    status: Literal["same", "shrank", "grew", "regressed"]


class ComparisonRecord(TypedDict):
    baseline: str
    metric: str
    unit: str
    min_change: float
    min_change_text: str
    fail_pct: float | None
    failed: bool
    session: ChangeRecord
    tests: list[ChangeRecord]
    regressed: list[str]
    new: list[str]
    removed: list[str]
    not_compared: list[str]
    notes: list[str]


class Report(TypedDict):
    schema: str
    schema_version: int
    complete: bool
    interrupted: str | None
    session: SessionRecord
    tests: list[TestRecordDict]
    fixtures: list[FixtureRecordDict]
    comparison: NotRequired[ComparisonRecord]


def budget_dimension(budget: BudgetRecord) -> Literal["mass", "energy"]:
    return "mass" if budget["unit"] == "gCO2e" else "energy"


def judged_tests(tests: list[TestRecordDict]) -> list[tuple[TestRecordDict, BudgetRecord]]:
    """The tests that have a budget verdict, each with it."""
    return [(test, test["budget"]) for test in tests if test["budget"] is not None and test["verdict"] is not None]


def over_budget(tests: list[TestRecordDict]) -> list[tuple[TestRecordDict, BudgetRecord]]:
    return [(test, budget) for test, budget in judged_tests(tests) if budget["exceeded"]]
