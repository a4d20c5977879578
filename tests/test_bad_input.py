"""Every bad value stops the run with a usage error (exit 4) naming the value and its source."""

from __future__ import annotations

import pytest


def assert_usage_error(result, *fragments):
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str()
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--carbon-budget=5"], ["--carbon-budget: '5' has no unit", "Accepted: a number with a unit"]),
        (["--carbon-budget=lots"], ["--carbon-budget: 'lots' is not a quantity"]),
        (["--carbon-test-budget=-2g"], ["--carbon-test-budget: '-2g' is negative"]),
        (["--carbon-intensity=XX"], ["--carbon-intensity: 'XX' is not a country in the bundled table"]),
        (["--carbon-intensity=-5"], ["--carbon-intensity: '-5'"]),
        (["--carbon-pue=-1"], ["--carbon-pue: '-1' is negative"]),
        (["--carbon-pue=0.8"], ["--carbon-pue: '0.8' is below 1.0"]),
        (["--carbon-pue=fast"], ["--carbon-pue: 'fast' is not a number"]),
        (["--carbon-action=explode"], ["--carbon-action: 'explode' is not one of the choices", "fail or warn"]),
        (
            ["--carbon-meters=geiger"],
            ["--carbon-meters: 'geiger' names an unknown meter 'geiger'", "auto, or a comma-separated list of rapl"],
        ),
        (["--carbon-top=many"], ["--carbon-top: 'many' is not a whole number"]),
        # Values that read as numbers but overflow or underflow once scaled to base units.
        (["--carbon-budget=1e308 kWh"], ["--carbon-budget: '1e308 kWh' is too large once converted to J"]),
        (["--carbon-test-budget=1e307 t"], ["--carbon-test-budget: '1e307 t' is too large once converted to g"]),
        (["--carbon-compare-min=1e308kWh"], ["--carbon-compare-min: '1e308kWh' is too large once converted"]),
        (["--carbon-budget=1e-400g"], ["--carbon-budget: '1e-400g' is too small to tell from zero (write 0 if"]),
        (["--carbon-budget=1e-320 ug"], ["--carbon-budget: '1e-320 ug' is too small to tell from zero once"]),
        (["--carbon-intensity=1e308"], ["--carbon-intensity: '1e308' is above 10,000 gCO2e/kWh"]),
        (["--carbon-pue=1e308"], ["--carbon-pue: '1e308' is above 10, more overhead than any data centre has"]),
        (["--carbon-pue=inf"], ["--carbon-pue: 'inf' is not a finite number", "Accepted: a number from 1.0 to 10"]),
        (["--carbon-pue=-inf"], ["--carbon-pue: '-inf' is not a finite number"]),
        (["--carbon-intensity=EL1"], ["--carbon-intensity: 'EL1' is not an intensity"]),
    ],
)
def test_bad_flags(pytester, args, fragments):
    pytester.makepyfile("def test_a(): pass")
    assert_usage_error(pytester.runpytest(*args), *fragments)


def test_requested_meter_that_is_unavailable_explains_and_fixes(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTEST_CARBON_POWERCAP_ROOT", str(tmp_path / "nothing"))
    pytester.makepyfile("def test_a(): pass")
    assert_usage_error(
        pytester.runpytest("--carbon-meters=rapl"),
        "--carbon-meters: 'rapl' asks for rapl, which is unavailable here: no RAPL zones",
        "python -m pytest_carbon meters",
    )


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        (
            "budget = 5",
            ['[tool.pytest_carbon] budget: 5 is not a quantity string (write it as a string with a unit, e.g. "5g")'],
        ),
        ('budget = "5"', ["[tool.pytest_carbon] budget: '5' has no unit"]),
        (
            'budjet = "5g"',
            [
                "'budjet' is an unknown key in [tool.pytest_carbon] (did you mean 'budget'?)",
                "the keys budget, test_budget",
            ],
        ),
        ('pue = "high"', ["[tool.pytest_carbon] pue: 'high' is not a number"]),
        ("pue = -1.0", ["[tool.pytest_carbon] pue: -1.0 is negative"]),
        ('intensity = "Atlantis"', ["[tool.pytest_carbon] intensity: 'Atlantis' is not an intensity"]),
        ('intensity = "ZZZ"', ["[tool.pytest_carbon] intensity: 'ZZZ' is not a country"]),
        ("action = true", ["[tool.pytest_carbon] action: True is not one of the choices"]),
        ("meters = 3", ["[tool.pytest_carbon] meters: 3 is not a list of meters"]),
        ("top = -1", ["[tool.pytest_carbon] top: -1 is not a whole number >= 0"]),
        ('budgets = "1g"', ["[tool.pytest_carbon] budgets: '1g' is not a table"]),
        (
            '[tool.pytest_carbon.budgets]\n"tests/*" = 1',
            ["[tool.pytest_carbon.budgets] 'tests/*': 1 is not a quantity string"],
        ),
    ],
)
def test_bad_pyproject_values(pytester, toml, fragments):
    if toml.startswith("["):
        pytester.makepyprojecttoml(f"[tool.pytest_carbon]\n{toml}\n")
    else:
        pytester.makepyprojecttoml(f"[tool.pytest_carbon]\n{toml}\n")
    pytester.makepyfile("def test_a(): pass")
    assert_usage_error(pytester.runpytest(), *fragments)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("lifetime_years = 1e-300", "embodied_hardware] lifetime_years: 1e-300 gives an embodied share of 3.17e+298 g"),
        ("total_kg = 1e300", "embodied_hardware] total_kg: 1e+300 gives an embodied share of"),
        ("memory_gb = 1e300", "embodied_hardware] memory_gb: 1e+300 gives an embodied share of"),
    ],
)
def test_embodied_tables_whose_share_overflows_are_refused(pytester, table, fragment):
    pytester.makepyprojecttoml(
        f"[tool.pytest_carbon]\nembodied = true\n[tool.pytest_carbon.embodied_hardware]\n{table}\n"
    )
    pytester.makepyfile("def test_a(): pass")
    assert_usage_error(pytester.runpytest(), fragment)


def test_bad_ini_value_names_the_ini_option(pytester):
    pytester.makeini("[pytest]\ncarbon_budget = heavy\n")
    pytester.makepyfile("def test_a(): pass")
    assert_usage_error(pytester.runpytest(), "tox.ini option carbon_budget: 'heavy' is not a quantity")


@pytest.mark.parametrize(
    ("marker", "fragment"),
    [
        ("carbon()", "'carbon()' needs exactly one limit"),
        ("carbon(max_g=1, max_mg=2)", "needs exactly one limit"),
        ("carbon('1g', max_g=2)", "needs exactly one limit"),
        ("carbon(max_lb=1)", "has an unknown keyword 'max_lb'"),
        ("carbon(max_g=-1)", "gives max_g a value that is not a number >= 0"),
        ("carbon(max_g='1')", "gives max_g a value that is not a number >= 0"),
        ("carbon('1')", "'1' has no unit"),
        ("carbon(0.5)", "0.5 is not a quantity string"),
        ("carbon(max_g=10**400)", "gives max_g a value that is a number too large for a float"),
        (
            "carbon(max_g=10**5000)",
            "'carbon(max_g=<a number too long to show>)' gives max_g a value that is a number too large",
        ),
        ("carbon(max_g=float('inf'))", "gives max_g a value that is not a finite number"),
        ("carbon(max_wh=1e308)", "gives max_wh a value too large once converted to J"),
        ("carbon(max_kg=1e306)", "gives max_kg a value too large once converted to g"),
        ("carbon('1e308 kWh')", "'1e308 kWh' is too large once converted to J"),
    ],
)
def test_bad_marker_arguments_name_the_test(pytester, marker, fragment):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest()
    assert_usage_error(
        result, "@pytest.mark.carbon on test_bad_marker_arguments_name_the_test.py::test_marked", fragment
    )


def test_usage_error_in_a_subprocess_run_too(pytester):
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("--carbon-budget=12")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: pytest-carbon: --carbon-budget: '12' has no unit*"])
