"""Baseline comparison: the logic on synthetic records, and the regression gate on real runs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from report_suite import LITTLE, MUCH, make_suite, read, set_work

from pytest_carbon.report.record import SCHEMA, SCHEMA_VERSION
from pytest_carbon.values.quantities import Quantity
from pytest_carbon.verdicts.compare import DEFAULT_MIN, classify, compare, load_baseline


def record(
    tests: dict[str, float], *, session: float | None = None, outcomes: dict[str, str] | None = None
) -> dict[str, Any]:
    outcomes = outcomes or {}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "complete": True,
        "interrupted": None,
        "session": {
            "energy_j": sum(tests.values()) if session is None else session,
            "co2e_g": (sum(tests.values()) if session is None else session) / 1000,
            "meters": [{"name": "estimate"}],
            "cpu_model": "cpu",
        },
        "tests": [
            {"nodeid": n, "energy_j": e, "co2e_g": e / 1000, "outcome": outcomes.get(n, "passed")}
            for n, e in tests.items()
        ],
        "fixtures": [],
    }


J = Quantity(1.0, "energy", "1 J")


class TestLogic:
    def test_growth_beyond_the_threshold_regresses(self) -> None:
        result = compare(
            record({"a": 10.0, "b": 10.0}), record({"a": 13.0, "b": 10.5}), baseline="old.json", fail_pct=20, minimum=J
        )
        statuses = {t.name: t.status for t in result.tests}
        assert statuses == {"a": "regressed", "b": "same"}
        assert [t.name for t in result.regressed] == ["a"]
        assert result.tests[0].percent == pytest.approx(30.0)
        assert result.failed

    def test_growth_within_the_threshold_only_grows(self) -> None:
        result = compare(record({"a": 10.0}), record({"a": 11.5}), baseline="old.json", fail_pct=20, minimum=J)
        assert result.tests[0].status == "grew"
        assert not result.failed

    def test_shrink_is_never_a_regression(self) -> None:
        result = compare(record({"a": 10.0}), record({"a": 2.0}), baseline="old.json", fail_pct=0, minimum=J)
        assert result.tests[0].status == "shrank"
        assert result.tests[0].percent == pytest.approx(-80.0)
        assert not result.failed

    def test_noise_floor_keeps_tiny_tests_from_flapping(self) -> None:
        # +900% but only 0.9 J: under the 1 J floor
        result = compare(
            record({"tiny": 0.1}, session=100.0),
            record({"tiny": 1.0}, session=100.0),
            baseline="b",
            fail_pct=10,
            minimum=J,
        )
        assert result.tests[0].status == "same"
        assert not result.failed
        lower = compare(
            record({"tiny": 0.1}),
            record({"tiny": 1.0}),
            baseline="b",
            fail_pct=10,
            minimum=Quantity(0.5, "energy", "0.5 J"),
        )
        assert lower.tests[0].status == "regressed"

    def test_default_floor_is_one_joule(self) -> None:
        assert DEFAULT_MIN.amount == 1.0 and DEFAULT_MIN.dimension == "energy"
        result = compare(record({"a": 0.1}), record({"a": 0.9}), baseline="b", fail_pct=1)
        assert result.tests[0].status == "same"

    def test_growth_from_zero_has_no_percentage(self) -> None:
        result = compare(record({"a": 0.0}), record({"a": 5.0}), baseline="b", fail_pct=10, minimum=J)
        change = result.tests[0]
        assert change.percent is None and change.status == "regressed"
        assert json.loads(json.dumps(result.to_dict()))["tests"][0]["change_pct"] is None

    def test_new_and_removed_tests(self) -> None:
        result = compare(
            record({"kept": 1.0, "gone": 1.0}),
            record({"kept": 1.0, "added": 50.0}),
            baseline="b",
            fail_pct=10,
            minimum=J,
        )
        assert result.new == ["added"]
        assert result.removed == ["gone"]
        assert [t.name for t in result.tests] == ["kept"]

    def test_skipped_tests_are_not_compared(self) -> None:
        old = record({"s": 0.0, "x": 5.0})
        new = record({"s": 9.0, "x": 50.0}, outcomes={"s": "skipped", "x": "xfailed"})
        result = compare(old, new, baseline="b", fail_pct=10, minimum=J)
        assert result.tests == [] and sorted(result.not_compared) == ["s", "x"]

    def test_session_growth_regresses(self) -> None:
        result = compare(
            record({"a": 1.0}, session=100.0), record({"a": 1.0}, session=150.0), baseline="b", fail_pct=20, minimum=J
        )
        assert result.session.status == "regressed"
        assert result.failed and not result.regressed

    def test_a_mass_floor_compares_co2e(self) -> None:
        old, new = record({"a": 10.0}), record({"a": 10.0})
        new["tests"][0]["co2e_g"] = 0.05  # same energy, five times the carbon (another grid)
        new["session"]["intensity_g_per_kwh"] = 500
        result = compare(old, new, baseline="b", fail_pct=10, minimum=Quantity(0.001, "mass", "1 mg"))
        assert result.metric == "co2e_g"
        assert result.tests[0].status == "regressed"
        assert any("grid intensity" in note for note in result.notes)
        assert compare(old, new, baseline="b", fail_pct=10, minimum=J).tests[0].status == "same"

    def test_without_a_threshold_nothing_regresses(self) -> None:
        result = compare(record({"a": 1.0}), record({"a": 100.0}), baseline="b", fail_pct=None, minimum=J)
        assert result.tests[0].status == "grew" and not result.failed

    @pytest.mark.parametrize(
        ("before", "after", "expected"),
        [(10, 10, "same"), (10, 10.5, "same"), (10, 12, "grew"), (10, 12.1, "regressed"), (10, 5, "shrank")],
    )
    def test_classify(self, before: float, after: float, expected: str) -> None:
        assert classify(before, after, 1.0, 20.0) == expected


class TestBaselineFile:
    def test_missing(self, tmp_path: Any) -> None:
        baseline = load_baseline(tmp_path / "nope.json")
        assert baseline.report is None
        assert str(tmp_path / "nope.json") in (baseline.warning or "")

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("{not json", "cannot read"),
            ("[1, 2]", "not a pytest-carbon report"),
            (json.dumps({"schema": SCHEMA, "schema_version": 99, "session": {}, "tests": []}), "newer"),
            (json.dumps({**record({"a": 1.0}), "complete": False, "interrupted": "killed"}), "did not finish (killed)"),
        ],
    )
    def test_unusable(self, tmp_path: Any, text: str, words: str) -> None:
        path = tmp_path / "base.json"
        path.write_text(text)
        baseline = load_baseline(path)
        assert baseline.report is None
        assert words in (baseline.warning or "") and str(path) in (baseline.warning or "")

    def test_usable(self, tmp_path: Any) -> None:
        path = tmp_path / "base.json"
        path.write_text(json.dumps(record({"a": 1.0})))
        assert load_baseline(path).report == record({"a": 1.0})


def baseline_run(pytester: pytest.Pytester) -> None:
    make_suite(pytester, LITTLE)
    pytester.makepyprojecttoml('[tool.pytest_carbon]\ncompare_min = "0.05 J"\n')
    result = pytester.runpytest("--carbon-json=base.json")
    assert result.ret == 0
    set_work(pytester, MUCH)


@pytest.mark.usefixtures("energy_suite")
def test_regression_fails_the_run_and_names_the_test_or_warns(pytester: pytest.Pytester) -> None:
    baseline_run(pytester)
    result = pytester.runpytest("--carbon-json=new.json", "--carbon-compare=base.json", "--carbon-compare-fail=50%")
    assert result.ret == 1
    result.assert_outcomes(passed=3)
    result.stdout.re_match_lines(
        [
            r"carbon regression: 1 test( and the session)? grew by more than 50% \(and more than 0.05 J\):",
            r"  test_work.py::test_grows: .*J -> .*J \(\+\d+%\)",
        ]
    )
    comparison = read(pytester.path / "new.json")["comparison"]
    assert comparison["regressed"] == ["test_work.py::test_grows"]
    assert comparison["failed"] and comparison["fail_pct"] == 50
    grows = next(t for t in comparison["tests"] if t["name"] == "test_work.py::test_grows")
    assert grows["after"] > grows["before"] + 0.05
    assert {t["name"]: t["status"] for t in comparison["tests"]}["test_work.py::test_steady"] == "same"
    warned = pytester.runpytest("--carbon-compare=base.json", "--carbon-compare-fail=50", "--carbon-action=warn")
    assert warned.ret == 0
    warned.stdout.fnmatch_lines(
        ["carbon regression: *grew by more than 50%*(warning only: --carbon-action=warn):", "*test_grows*"]
    )


@pytest.mark.usefixtures("energy_suite")
def test_pyproject_threshold_and_same_file_as_the_json_report(pytester: pytest.Pytester) -> None:
    make_suite(pytester, LITTLE)
    pytester.makepyprojecttoml(
        '[tool.pytest_carbon]\ncompare_min = "0.05 J"\ncompare_fail = "25%"\ncompare = "carbon.json"\njson = "carbon.json"\n'
    )
    assert pytester.runpytest().ret == 0  # first run: no baseline yet
    set_work(pytester, MUCH)
    result = pytester.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*compared with *carbon.json: session*", "*test_work.py::test_grows: *"])
    assert read(pytester.path / "carbon.json")["comparison"]["fail_pct"] == 25


@pytest.mark.usefixtures("energy_suite")
def test_new_and_removed_tests_without_growth_pass(pytester: pytest.Pytester) -> None:
    make_suite(pytester, LITTLE)
    assert pytester.runpytest("--carbon-json=base.json").ret == 0
    pytester.makepyfile(test_work="def test_steady():\n    pass\n\ndef test_added():\n    pass\n")
    result = pytester.runpytest("--carbon-json=new.json", "--carbon-compare=base.json", "--carbon-compare-fail=10")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*1 new, 2 removed tests*", "*no regression beyond 10% (noise floor 1 J)*"])
    comparison = read(pytester.path / "new.json")["comparison"]
    assert comparison["failed"] is False
    assert comparison["new"] == ["test_work.py::test_added"]
    assert sorted(comparison["removed"]) == ["test_work.py::test_budgeted", "test_work.py::test_grows"]
    assert [t["name"] for t in comparison["tests"]] == ["test_work.py::test_steady"]


@pytest.mark.parametrize("content", [None, "garbage{"])
@pytest.mark.usefixtures("energy_suite")
def test_missing_or_unreadable_baseline_warns(pytester: pytest.Pytester, content: str | None) -> None:
    make_suite(pytester, LITTLE)
    if content is not None:
        (pytester.path / "base.json").write_text(content)
    result = pytester.runpytest("--carbon-json=new.json", "--carbon-compare=base.json", "--carbon-compare-fail=10")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"warning: *{pytester.path / 'base.json'}*"])
    report = read(pytester.path / "new.json")
    assert "comparison" not in report
    assert any("base.json" in w for w in report["session"]["warnings"])


@pytest.mark.parametrize(
    ("args", "pyproject", "words"),
    [
        (["--carbon-compare-fail=ten"], None, "--carbon-compare-fail: 'ten' is not a percentage"),
        (["--carbon-compare-fail=-5"], None, "is not a percentage >= 0"),
        ([], "compare_fail = true", "compare_fail: True is not a percentage"),
        ([], "compare_min = 5", "compare_min: 5 is not a quantity string"),
        (["--carbon-compare-min=5"], None, "--carbon-compare-min: '5' has no unit"),
        ([], "compare_failure = 5", "did you mean 'compare_fail'"),
    ],
)
def test_bad_settings_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], pyproject: str | None, words: str
) -> None:
    pytester.makepyfile("def test_a():\n    pass\n")
    if pyproject:
        pytester.makepyprojecttoml(f"[tool.pytest_carbon]\n{pyproject}\n")
    result = pytester.runpytest(*args)
    assert result.ret == 4
    assert words in result.stderr.str()


@pytest.mark.parametrize(("raw", "expected"), [("10", 10.0), ("10%", 10.0), (" 2.5 % ", 2.5), (10, 10.0), (0, 0.0)])
def test_percent_accepts(raw: object, expected: float) -> None:
    from pytest_carbon.config.settings import option_spec

    assert option_spec("compare_fail").parse(raw, "here") == expected


def test_record_is_not_mutated() -> None:
    old, new = record({"a": 1.0}), record({"a": 2.0})
    frozen = copy.deepcopy((old, new))
    compare(old, new, baseline="b", fail_pct=1, minimum=J)
    assert (old, new) == frozen


def _damaged(change: str) -> str:
    """A valid baseline with one entry damaged as `change` says."""
    base = record({"test_work.py::test_steady": 1.0, "test_work.py::test_grows": 2.0})
    if change == "nested":
        return "[" * 100_000 + "]" * 100_000
    if change == "missing energy":
        del base["tests"][1]["energy_j"]
    elif change == "tests of numbers":
        base["tests"] = [1, 2, 3]
    elif change == "null energy":
        base["tests"][0]["energy_j"] = None
    elif change == "string energy":
        base["tests"][0]["energy_j"] = "12"
    elif change == "meters a string":
        base["session"]["meters"] = "x"
    elif change == "infinite session":
        return json.dumps(base).replace('"energy_j": 3.0', '"energy_j": Infinity', 1)
    elif change == "schema_version text":
        base["schema_version"] = "1"
    elif change == "cpu_model a list":
        base["session"]["cpu_model"] = ["\x1b[2J"]
    elif change == "nodeid missing":
        del base["tests"][0]["nodeid"]
    return json.dumps(base)


BAD_BASELINES = [
    ("missing energy", "tests[1] (test_work.py::test_grows) has energy_j None, not a number >= 0"),
    ("tests of numbers", "tests[0] 1 is not a test record"),
    ("null energy", "tests[0] (test_work.py::test_steady) has energy_j None, not a number >= 0"),
    ("string energy", "tests[0] (test_work.py::test_steady) has energy_j '12', not a number >= 0"),
    ("meters a string", "its session.meters 'x' is not a list"),
    ("infinite session", "its session.energy_j inf is not a number >= 0"),
    ("schema_version text", "its schema_version '1' is not a whole number >= 1"),
    ("cpu_model a list", "its session.cpu_model list is not a string or null"),
    ("nodeid missing", "tests[0] has no nodeid (a string): None"),
    ("nested", "its JSON is nested too deeply"),
]


@pytest.mark.parametrize(("change", "words"), BAD_BASELINES, ids=[c for c, _ in BAD_BASELINES])
def test_a_damaged_baseline_is_a_warning_naming_the_file_and_entry(
    pytester: pytest.Pytester, change: str, words: str
) -> None:
    pytester.makepyfile(test_work="def test_steady():\n    pass\n\ndef test_grows():\n    pass\n")
    (pytester.path / "base.json").write_text(_damaged(change))
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--carbon-json=new.json",
        "--carbon-html=new.html",
        "--carbon-md=new.md",
        "--carbon-compare=base.json",
        "--carbon-compare-fail=10",
    )
    assert result.ret == 0, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()
    warning = f"cannot {'read' if change == 'nested' else 'use'} the baseline {pytester.path / 'base.json'}: {words}"
    result.stdout.fnmatch_lines([f"warning: {warning}"])
    report = read(pytester.path / "new.json")
    assert report["complete"] is True and "comparison" not in report
    assert warning in report["session"]["warnings"]
    assert "Carbon footprint" in (pytester.path / "new.html").read_text()
    assert "Carbon footprint" in (pytester.path / "new.md").read_text()
