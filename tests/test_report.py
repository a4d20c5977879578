"""The JSON report, the header line and the terminal summary, as users see them."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG

SIMPLE = """
import pytest
from energy import burn

def test_small():
    burn(1)

def test_big():
    burn(9)

@pytest.mark.carbon(max_mg=7)
def test_medium():
    burn(4)
"""


def load(pytester, name="report.json"):
    return json.loads((pytester.path / name).read_text())


def test_json_report_has_the_documented_shape(energy_suite):
    energy_suite.makepyfile(test_s=SIMPLE)
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-pue=1.5", "--carbon-json=out/report.json")
    result.assert_outcomes(passed=3)
    report = load(energy_suite, "out/report.json")
    assert report["schema"] == "pytest-carbon/report" and report["schema_version"] == 1
    assert report["complete"] is True and report["interrupted"] is None
    session = report["session"]
    for key in (
        "energy_j",
        "co2e_g",
        "intensity_g_per_kwh",
        "intensity_source",
        "pue",
        "meters",
        "platform",
        "cpu_model",
        "vcpus",
        "start",
        "end",
        "duration_s",
        "by_meter",
        "breakdown",
        "budget",
    ):
        assert key in session, key
    assert session["energy_j"] == pytest.approx(14)
    assert session["co2e_g"] == pytest.approx(14 / 3.6e6 * 1.5 * 3600)
    assert session["intensity_g_per_kwh"] == 3600 and session["intensity_source"] == "set by the user"
    assert session["pue"] == 1.5 and session["pue_source"] == "--carbon-pue"
    assert session["meters"][0]["name"] == "rapl" and session["meters"][0]["measured"] is True
    assert session["start"] < session["end"]
    tests = {t["nodeid"]: t for t in report["tests"]}
    big = tests["test_s.py::test_big"]
    assert big["outcome"] == "passed"
    assert big["energy_j"] == pytest.approx(9)
    assert big["co2e_g"] == pytest.approx(9 / 3.6e6 * 1.5 * 3600)
    assert set(big["phases"]) == {"setup", "call", "teardown"}
    assert big["phases"]["call"]["energy_j"] == pytest.approx(9)
    assert big["by_meter"] == pytest.approx({"rapl": 9})
    assert big["budget"] is None and big["verdict"] is None
    medium = tests["test_s.py::test_medium"]
    assert medium["verdict"] == "ok"
    assert medium["budget"]["limit"] == pytest.approx(0.007) and medium["budget"]["unit"] == "gCO2e"
    assert medium["location"] == {"path": "test_s.py", "line": 10}  # the decorator line, as pytest reports it
    assert not list((energy_suite.path / "out").glob(".*tmp")), "temporary file left behind"


def test_interrupted_run_leaves_a_valid_incomplete_report(energy_suite):
    energy_suite.makepyfile(
        test_i="""
        from energy import burn

        def test_before():
            burn(2)

        def test_interrupt():
            burn(1)
            raise KeyboardInterrupt

        def test_never_runs():
            burn(100)
        """
    )
    result = energy_suite.runpytest_subprocess(*ONE_JOULE_ONE_MG, "--carbon-json=report.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = load(energy_suite)
    assert report["complete"] is False
    assert "interrupted" in report["interrupted"]
    nodeids = [t["nodeid"] for t in report["tests"]]
    assert nodeids == ["test_i.py::test_before", "test_i.py::test_interrupt"]
    assert report["session"]["energy_j"] == pytest.approx(3)


def test_report_is_valid_and_marked_incomplete_while_the_run_is_going(energy_suite):
    energy_suite.makepyfile(
        test_r="""
        import json
        from pathlib import Path

        def test_peek():
            report = json.loads(Path("report.json").read_text())
            assert report["complete"] is False
            assert "did not finish" in report["interrupted"]
        """
    )
    energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=report.json").assert_outcomes(passed=1)
    assert load(energy_suite)["complete"] is True


def test_stopping_early_marks_the_report_incomplete(energy_suite):
    energy_suite.makepyfile(test_x="def test_a():\n    assert False\ndef test_b():\n    pass\n")
    energy_suite.runpytest(*ONE_JOULE_ONE_MG, "-x", "--carbon-json=report.json")
    report = load(energy_suite)
    assert report["complete"] is False
    assert report["interrupted"].startswith("stopped early")


def test_unwritable_report_path_is_a_warning_not_a_crash(energy_suite):
    energy_suite.makepyfile(test_s=SIMPLE)
    (energy_suite.path / "blocker").write_text("a file, not a folder")
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=blocker/report.json")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["warning: could not write the JSON report to *blocker/report.json*"])


def test_header_line_says_what_measures_and_with_which_intensity(energy_suite):
    energy_suite.makepyfile(test_s=SIMPLE)
    result = energy_suite.runpytest("--carbon-meters=rapl", "--carbon-intensity=FR")
    result.stdout.fnmatch_lines(
        [
            "carbon: rapl package-0 [[]measured[]]",
            "carbon: intensity 44.18 gCO2e/kWh (France (FR), Ember 2024; from --carbon-intensity)",
            "carbon: PUE 1.0 (default: no data-centre overhead assumed)",
            "carbon: embodied emissions excluded (use --carbon-embodied to include)",
        ]
    )


def test_default_intensity_is_the_labelled_world_average(pytester):
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest("--carbon-meters=estimate")
    result.stdout.fnmatch_lines(
        [
            "carbon: estimate (CPU time x * [[]estimated[]]",
            "carbon: intensity 473.05 gCO2e/kWh (world average, Ember 2024; from default)",
            "carbon: PUE 1.0 (default: *",
        ]
    )


def test_summary_shows_session_meters_top_tests_and_verdicts(energy_suite):
    energy_suite.makepyfile(test_s=SIMPLE)
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-top=2", "--carbon-budget=20mg")
    result.stdout.fnmatch_lines(
        [
            "*= carbon footprint =*",
            "session: 14.0 J ± *, 14.0 mgCO2e over *s measured, measured by rapl",
            "  by meter: rapl 14.0 J (package-0 14.0 J)",
            "  where: tests 14.0 J (100%)*",
            "top 2 of 3 tests:*",
            "*9.00 J*9.00 mgCO2e*test_s.py::test_big  (± *)",
            "*4.00 J*4.00 mgCO2e*test_s.py::test_medium  (± *)*",
            "all 1 tests with a budget are within it",
            "session within carbon budget: 14.0 mgCO2e <= 20.0 mgCO2e (from --carbon-budget)",
            "how measured: rapl [[]measured[]]; 3600 gCO2e/kWh (set by the user); PUE 1.0; embodied excluded",
        ]
    )
    assert "test_s.py::test_small" not in result.stdout.str().split("carbon footprint")[1]


def test_quiet_shortens_and_verbose_lengthens(energy_suite):
    energy_suite.makepyfile(test_s=SIMPLE)
    quiet = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "-q", "--carbon-budget=1g")
    section = quiet.stdout.str().split("carbon footprint")[1]
    assert "session: 14.0 J" in section and "session within carbon budget" in section
    assert "top " not in section and "how measured" not in section
    verbose = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "-v")
    verbose.stdout.fnmatch_lines(
        ["all tests:*", "*test_s.py::test_big*", "*setup 0 J/*s, call 9.00 J/*s, teardown 0 J/*s"]
    )
    assert "test_s.py::test_small" in verbose.stdout.str().split("carbon footprint")[1]


def test_carbon_fixture_measures_a_block(energy_suite):
    energy_suite.makepyfile(
        test_f="""
        import pytest
        from energy import burn

        def test_block(carbon):
            burn(1)
            with carbon.measure() as inner:
                burn(3)
            burn(1)
            assert inner.energy_j == pytest.approx(3)
            assert inner.co2e_g == pytest.approx(0.003)
            assert inner.by_meter == pytest.approx({"rapl": 3})
            assert inner.measured is True
            assert inner.duration_s > 0
        """
    )
    energy_suite.runpytest(*ONE_JOULE_ONE_MG).assert_outcomes(passed=1)


def test_plugin_can_be_switched_off(pytester):
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest("-p", "no:carbon", "--carbon-json=report.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the option does not exist without the plugin
    result = pytester.runpytest("-p", "no:carbon")
    result.assert_outcomes(passed=1)
    assert "carbon footprint" not in result.stdout.str()


MARKED = """
import pytest

@pytest.mark.carbon(max_g=1)
def test_marked():
    pass
"""


@pytest.mark.parametrize("subprocess", [False, True])
def test_switched_off_the_marker_is_still_registered_for_strict_markers(pytester, subprocess):
    pytester.makepyfile(MARKED)
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run("-p", "no:carbon", "--strict-markers")
    result.assert_outcomes(passed=1)
    assert "carbon footprint" not in result.stdout.str()


def test_the_marker_is_listed_once(pytester):
    result = pytester.runpytest("--markers")
    assert result.ret == 0
    assert len([line for line in result.stdout.lines if line.startswith("@pytest.mark.carbon(")]) == 1
