"""Per-test and session budgets, as users write them: markers, pyproject, flags, ini."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG


def run(pytester, *args):
    return pytester.runpytest(*ONE_JOULE_ONE_MG, *args)


def test_marker_over_budget_fails_with_a_one_line_reason(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=3)
        def test_heavy():
            burn(5)

        @pytest.mark.carbon(max_mg=10)
        def test_light():
            burn(5)
        """
    )
    result = run(energy_suite, "-rA")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "carbon budget exceeded: 5.00 mgCO2e > 3.00 mgCO2e (from @pytest.mark.carbon)",
            "counted: setup + call = 5.00 J*",
            "by meter: rapl/package-0 5.00 J [[]measured[]]",
            "budget: 3.00 mgCO2e from @pytest.mark.carbon",
            "FAILED test_a.py::test_heavy - carbon budget exceeded: 5.00 mgCO2e > 3.00 mgCO2e (from @pytest.mark.carbon)",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "passes"),
    [
        ("max_g=0.004", False),
        ("max_g=0.006", True),
        ("max_mg=4.9", False),
        ("max_kg=1e-8", False),
        ("max_kg=1e-5", True),
        ("max_j=4", False),
        ("max_j=6", True),
        ("max_wh=0.001", False),
        ("max_wh=0.002", True),
        ("'4 mg'", False),
        ("'6mgCO2e'", True),
        ("'4.5 J'", False),
        ("'1 kJ'", True),
    ],
)
def test_every_marker_form(energy_suite, marker, passes):
    energy_suite.makepyfile(
        test_a=f"""
        import pytest
        from energy import burn

        @pytest.mark.carbon({marker})
        def test_it():
            burn(5)
        """
    )
    result = run(energy_suite)
    result.assert_outcomes(passed=1 if passes else 0, failed=0 if passes else 1)


def test_nearest_marker_wins_function_over_class_over_module(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        pytestmark = pytest.mark.carbon(max_mg=100)

        def test_module_level():
            burn(50)  # within the module's 100 mg

        @pytest.mark.carbon(max_mg=10)
        class TestClass:
            def test_class_level(self):
                burn(50)  # over the class's 10 mg

            @pytest.mark.carbon(max_mg=60)
            def test_function_level(self):
                burn(50)  # within its own 60 mg
        """
    )
    result = run(energy_suite)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_a.py::TestClass::test_class_level - carbon budget exceeded: 50.0 mgCO2e > 10.0 mgCO2e*"]
    )


def test_precedence_marker_over_pattern_over_default(energy_suite):
    energy_suite.makepyprojecttoml(
        """
        [tool.pytest_carbon]
        test_budget = "2 mg"

        [tool.pytest_carbon.budgets]
        "test_a.py::test_pattern*" = "20 mg"
        "test_a.py::*" = "1 mg"
        """
    )
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=200)
        def test_pattern_but_marker():
            burn(100)  # marker (200) wins over both patterns

        def test_pattern_first_match():
            burn(10)  # first matching pattern (20) wins over the later one (1)

        def test_second_pattern():
            burn(1.5)  # only the catch-all pattern (1) matches: over

        """,
        test_b="""
        from energy import burn

        def test_default_only():
            burn(3)  # no marker, no pattern: the default 2 mg applies
        """,
    )
    result = run(energy_suite)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_a.py::test_second_pattern - carbon budget exceeded: 1.50 mgCO2e > 1.00 mgCO2e (from [[]tool.pytest_carbon.budgets[]] 'test_a.py::[*]')",
            "FAILED test_b.py::test_default_only - carbon budget exceeded: 3.00 mgCO2e > 2.00 mgCO2e (from pyproject.toml [[]tool.pytest_carbon[]] test_budget)",
        ],
        consecutive=False,
    )


def test_cli_test_budget_beats_pyproject_which_beats_ini(energy_suite):
    energy_suite.makepyprojecttoml(
        """
        [tool.pytest_carbon]
        test_budget = "4 mg"
        """
    )
    energy_suite.makeini(
        """
        [pytest]
        carbon_test_budget = 1 mg
        """
    )
    energy_suite.makepyfile(test_a="from energy import burn\ndef test_it():\n    burn(3)\n")
    # pytest.ini is the ini file; pyproject.toml beside it still configures [tool.pytest_carbon]
    run(energy_suite).assert_outcomes(passed=1)
    result = run(energy_suite, "--carbon-test-budget=2mg")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*3.00 mgCO2e > 2.00 mgCO2e (from --carbon-test-budget)"])


def test_ini_test_budget_applies_without_pyproject(energy_suite):
    energy_suite.makeini("[pytest]\ncarbon_test_budget = 1 mg\n")
    energy_suite.makepyfile(test_a="from energy import burn\ndef test_it():\n    burn(3)\n")
    result = run(energy_suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*(from tox.ini option carbon_test_budget)"])


def test_session_budget_exceeded_exits_non_zero_with_a_red_line(energy_suite):
    energy_suite.makepyfile(
        test_a="from energy import burn\ndef test_one():\n    burn(3)\ndef test_two():\n    burn(4)\n"
    )
    result = run(energy_suite, "--carbon-budget=5mg")
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["session carbon budget exceeded: 7.00 mgCO2e > 5.00 mgCO2e (from --carbon-budget)"])


def test_session_budget_from_pyproject_and_cli_wins(energy_suite):
    energy_suite.makepyprojecttoml('[tool.pytest_carbon]\nbudget = "5 mg"\n')
    energy_suite.makepyfile(test_a="from energy import burn\ndef test_one():\n    burn(7)\n")
    result = run(energy_suite)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*7.00 mgCO2e > 5.00 mgCO2e (from pyproject.toml [[]tool.pytest_carbon[]] budget)"])
    result = run(energy_suite, "--carbon-budget=10 mg")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["session within carbon budget: 7.00 mgCO2e <= 10.0 mgCO2e (from --carbon-budget)"])


def test_session_budget_in_energy_units(energy_suite):
    energy_suite.makepyfile(test_a="from energy import burn\ndef test_one():\n    burn(7)\n")
    result = run(energy_suite, "--carbon-budget=5J")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["session carbon budget exceeded: 7.00 J > 5.00 J (from --carbon-budget)"])


def test_warn_action_reports_overruns_without_failing(energy_suite):
    energy_suite.makepyprojecttoml('[tool.pytest_carbon]\naction = "warn"\n')
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=1)
        def test_over():
            burn(3)
        """
    )
    result = run(energy_suite, "--carbon-budget=1mg")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "1 of 1 tests with a budget are over budget (warning only: --carbon-action=warn):",
            "  test_a.py::test_over: 3.00 mgCO2e > 1.00 mgCO2e (from @pytest.mark.carbon)",
            "session carbon budget exceeded (warning only): 3.00 mgCO2e > 1.00 mgCO2e (from --carbon-budget)",
        ]
    )


def test_xfail_and_xpass_interplay(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.xfail(reason="known bug")
        @pytest.mark.carbon(max_mg=1)
        def test_xfail_over():
            burn(3)
            assert False

        @pytest.mark.xfail(reason="known bug")
        @pytest.mark.carbon(max_mg=10)
        def test_xfail_within():
            burn(3)
            assert False

        @pytest.mark.xfail(reason="maybe fixed")
        @pytest.mark.carbon(max_mg=1)
        def test_xpass_over():
            burn(3)

        @pytest.mark.xfail(reason="maybe fixed")
        @pytest.mark.carbon(max_mg=10)
        def test_xpass_within():
            burn(3)

        @pytest.mark.xfail(reason="must fail", strict=True)
        @pytest.mark.carbon(max_mg=1)
        def test_strict_xpass_over():
            burn(3)
        """
    )
    result = run(energy_suite, "--carbon-json=r.json")
    result.assert_outcomes(failed=3, xfailed=1, xpassed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*xfail excuses its assertions, not its carbon*",
        ]
    )
    report = json.loads((energy_suite.path / "r.json").read_text())
    outcomes = {t["nodeid"].split("::")[1]: (t["outcome"], t["verdict"]) for t in report["tests"]}
    assert outcomes == {
        "test_xfail_over": ("failed", "exceeded"),
        "test_xfail_within": ("xfailed", "ok"),
        "test_xpass_over": ("failed", "exceeded"),
        "test_xpass_within": ("xpassed", "ok"),
        "test_strict_xpass_over": ("failed", "exceeded"),
    }


def test_failing_test_over_budget_keeps_its_failure_and_gains_a_section(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=1)
        def test_it():
            burn(3)
            assert 1 == 2
        """
    )
    result = run(energy_suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*assert 1 == 2*", "*- carbon budget -*", "carbon budget exceeded: 3.00 mgCO2e > 1.00 mgCO2e*"]
    )


def test_skipped_test_gets_no_verdict(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=1)
        def test_it():
            burn(3)
            pytest.skip("not today")
        """
    )
    result = run(energy_suite, "--carbon-json=r.json")
    result.assert_outcomes(skipped=1)
    report = json.loads((energy_suite.path / "r.json").read_text())
    assert report["tests"][0]["verdict"] is None


def test_setup_counts_and_teardown_does_not(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.fixture
        def prepared():
            burn(2)
            yield
            burn(100)

        @pytest.mark.carbon(max_mg=2.5)
        def test_setup_pushes_it_over(prepared):
            burn(1)

        @pytest.mark.carbon(max_mg=3.5)
        def test_teardown_is_not_counted(prepared):
            burn(1)
        """
    )
    result = run(energy_suite, "--carbon-json=r.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_a.py::test_setup_pushes_it_over - carbon budget exceeded: 3.00 mgCO2e > 2.50 mgCO2e*"]
    )
    report = json.loads((energy_suite.path / "r.json").read_text())
    second = report["tests"][1]
    assert second["phases"]["teardown"]["energy_j"] == pytest.approx(100.0)
    assert second["budget"]["measured"] == pytest.approx(0.003)


def test_exitfirst_and_last_failed_see_budget_failures(energy_suite):
    energy_suite.makepyfile(
        test_a="""
        import pytest
        from energy import burn

        @pytest.mark.carbon(max_mg=1)
        def test_first():
            burn(3)

        def test_second():
            pass
        """
    )
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "-x", "-p", "cacheprovider")
    result.assert_outcomes(failed=1)
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--lf", "-p", "cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])


# -- settings that would otherwise be silently ignored -------------------------------------


def test_a_budget_pattern_that_matches_no_collected_test_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest_carbon.budgets]\n"tests/test_slow*" = "1 kJ"\n"test_a.py::*" = "1 kJ"\n"test_b.py::*" = "1 kJ"\n'
    )
    pytester.makepyfile(test_a="def test_one():\n    pass\n", test_b="def test_two():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--carbon-json=c.json", "-k", "one")
    assert result.ret == 0
    warning = (
        "pyproject.toml [tool.pytest_carbon.budgets] 'tests/test_slow*' matches none of the 2 collected tests, "
        "so it sets no budget (patterns match node ids such as 'test_a.py::test_one')"
    )
    result.stdout.fnmatch_lines([f"warning: {warning}"])
    warnings = json.loads((pytester.path / "c.json").read_text())["session"]["warnings"]
    assert warnings == [warning]  # test_b.py::* matched a test that -k deselected: no warning
    # A run of one file expects the other patterns to match nothing: no warning.
    result = pytester.runpytest("-p", "no:cacheprovider", "test_a.py")
    assert "matches none of" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "origin"),
    [
        (["--carbon-compare-fail=10"], "--carbon-compare-fail"),
        (["--carbon-compare-min=2 J"], "--carbon-compare-min"),
    ],
)
def test_comparison_settings_without_a_baseline_warn(pytester: pytest.Pytester, args: list[str], origin: str) -> None:
    pytester.makepyfile(test_a="def test_one():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"warning: {origin} has no effect without a baseline to compare with*"])


def test_comparison_setting_in_pyproject_without_a_baseline_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest_carbon]\ncompare_fail = "10%"\n')
    pytester.makepyfile(test_a="def test_one():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["warning: pyproject.toml [[]tool.pytest_carbon[]] compare_fail has no effect without a baseline*"]
    )
