"""The JSON report's shape, as typed records: one TypedDict per object of docs/json-report.md.

Built once at the end of a session (report/record.py), rendered by every reporter, read
back by `compare` and by a later run's baseline. Keys marked optional appear only in
some runs (process scope, pytest-xdist, a baseline); a reader ignores keys it does not
know.
"""

import sys
from typing import Any, Literal, TypedDict

# Annotations are evaluated (no `from __future__ import annotations`): a TypedDict
# compiles every string annotation it is given, which made importing this module cost
# more than the rest of the start-up's records together.
if sys.version_info >= (3, 11):
    from typing import NotRequired
else:
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


class AttemptRecord(TypedDict):
    """One attempt of a test run again (pytest-rerunfailures)."""

    outcome: str
    duration_s: float
    energy_j: float
    co2e_g: float


class LlmModelRecord(TypedDict):
    """One hosted model's calls: what was charged, and why not when it was not."""

    provider: str  # EcoLogits' provider name
    charged_as: str | None  # the model EcoLogits' figures are for (after [tool.pytest_carbon.llm.models])
    zone: str | None  # the grid zone set for the endpoint; None: EcoLogits' zone for the provider
    hosts: list[str]  # scheme://host[:port] the calls went to
    unmapped_hosts: list[str]  # hosts neither known nor in the endpoints table: charged as the SDK's provider
    calls: int  # calls that reached the model
    replayed: int  # calls answered by a cassette or mock: charged nothing
    not_charged: int  # calls that reached a model EcoLogits cannot estimate
    output_tokens: int
    energy_j: float  # midpoint of EcoLogits' range
    energy_j_min: float
    energy_j_max: float
    co2e_g: float
    co2e_g_min: float
    co2e_g_max: float
    problem: NotRequired[str]  # why calls were not charged
    warnings: NotRequired[list[str]]  # EcoLogits' warnings about the estimate


class LlmRecord(TypedDict):
    """Hosted-model calls of a test, a fixture or the session (docs/json-report.md)."""

    calls: int
    replayed: int
    not_charged: int
    output_tokens: int
    energy_j: float
    energy_j_min: float
    energy_j_max: float
    co2e_g: float
    co2e_g_min: float
    co2e_g_max: float
    models: dict[str, LlmModelRecord]


class LlmSessionRecord(LlmRecord):
    method: str
    embodied_included: bool
    count_in_budgets: bool


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
    subtests: NotRequired[dict[str, int]]  # subtest outcome -> count (pytest's subtests fixture)
    attempts: NotRequired[list[AttemptRecord]]  # every attempt of a test run again
    shard: NotRequired[str]  # a combined report: the shard that ran it (session.shards[].name)
    llm: NotRequired[LlmRecord]  # hosted-model calls, when the test made any
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
    shards: NotRequired[int]  # a combined report: how many shards set it up
    llm: NotRequired[LlmRecord]  # hosted-model calls, when the fixture made any


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
    lost_energy_j: NotRequired[float]  # a worker that went down: what no record claimed, charged to it
    host: NotRequired[str]  # the worker's machine
    remote: NotRequired[bool]  # on another machine than the controller: not part of its machine total


class AttributionRecord(TypedDict):
    definition: str
    gpu: list[str]


class ShardInfoRecord(TypedDict):
    """The CI shard a run was (--carbon-shard, pytest-split, CI variables), for `combine`."""

    label: str | None  # "3/8", or any text given with --carbon-shard
    origin: str | None  # where the label came from
    index: int | None  # 1-based, when the label is INDEX/TOTAL
    total: int | None
    ci: dict[str, str]  # CI variables naming the job: GITHUB_JOB, CI_JOB_NAME, CI_NODE_INDEX, ...


class ShardMeterRecord(TypedDict):
    name: str
    description: str
    measured: bool
    energy_j: float
    dropped: str | None


class EmissionsModelRecord(TypedDict):
    """How energy became gCO2e: grid intensity, PUE, embodied share (a run's session, a shard)."""

    intensity_g_per_kwh: float
    intensity_source: str
    intensity_kind: str
    intensity_zone: str | None
    intensity_provider: str | None
    intensity_origin: str
    intensity_note: str | None
    pue: float
    pue_source: str
    embodied_included: bool
    embodied_label: str
    embodied: dict[str, Any]


class ShardRecord(EmissionsModelRecord):
    """One shard of a combined report: its own figures and the settings that made them."""

    name: str  # unique in the combined report: the label, else the report's file name
    label: str | None
    report: str  # the file it was read from
    ci: dict[str, str]
    host: str
    cpu_model: str
    vcpus: int
    platform: dict[str, Any]
    start: str
    end: str
    duration_s: float
    complete: bool
    interrupted: str | None
    tests: int  # tests counted from this shard (replaced ones left out)
    energy_j: float  # what the combined session counts from this shard
    co2e_g: float
    operational_g: float
    embodied_g: float
    sci_total_g: float
    replaced: list[str]  # node ids a later report of the same test replaced
    replaced_energy_j: float
    meters: list[ShardMeterRecord]
    scope: str
    budget: BudgetRecord | None  # the shard's own session budget
    warnings: list[str]
    notes: list[str]
    machine_energy_j: NotRequired[float]
    workers: NotRequired[int]


class ReplacedRecord(TypedDict):
    nodeid: str
    kept: str  # the shard whose record counts
    replaced: list[str]  # the shards whose records of it were dropped


class SessionRecord(EmissionsModelRecord):
    start: str
    end: str
    duration_s: float
    energy_j: float
    co2e_g: float
    operational_g: float
    embodied_g: float
    sci: dict[str, Any]
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
    # Hosted-model calls (--carbon-llm on): every call of the session, local figures apart.
    llm: NotRequired[LlmSessionRecord]
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
    remote_energy_j: NotRequired[float]  # pytest-xdist: workers on other machines, outside machine_energy_j
    # A run that knows its CI shard:
    shard: NotRequired[ShardInfoRecord]
    # A combined report (python -m pytest_carbon combine):
    shards: NotRequired[list[ShardRecord]]
    shard_differences: NotRequired[list[str]]
    replaced_tests: NotRequired[list[ReplacedRecord]]


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


class GroupEntryRecord(TypedDict):
    """The tests of one file, module or directory, added up."""

    name: str
    tests: int
    duration_s: float
    energy_j: float
    co2e_g: float
    over_budget: int


class GroupsRecord(TypedDict):
    by: Literal["file", "module", "dir"]
    entries: list[GroupEntryRecord]  # costliest (gCO2e) first


class Report(TypedDict):
    schema: str
    schema_version: int
    complete: bool
    interrupted: str | None
    session: SessionRecord
    tests: list[TestRecordDict]
    fixtures: list[FixtureRecordDict]
    comparison: NotRequired[ComparisonRecord]
    groups: NotRequired[GroupsRecord]  # only with --carbon-group


def budget_dimension(budget: BudgetRecord) -> Literal["mass", "energy"]:
    return "mass" if budget["unit"] == "gCO2e" else "energy"


def judged_tests(tests: list[TestRecordDict]) -> list[tuple[TestRecordDict, BudgetRecord]]:
    """The tests that have a budget verdict, each with it."""
    return [(test, test["budget"]) for test in tests if test["budget"] is not None and test["verdict"] is not None]


def over_budget(tests: list[TestRecordDict]) -> list[tuple[TestRecordDict, BudgetRecord]]:
    return [(test, budget) for test, budget in judged_tests(tests) if budget["exceeded"]]
