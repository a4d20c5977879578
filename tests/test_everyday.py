"""What a reader of the summary and reports meets: units, roll-ups, what a budget counted,
a header that fits a terminal. Figures are known joules on the fake RAPL counter."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG

SUITE = {
    "tests/unit/test_a.py": "from energy import burn\n\ndef test_one():\n    burn(2.0)\n\ndef test_two():\n    burn(1.0)\n",
    "tests/unit/test_b.py": "from energy import burn\n\ndef test_three():\n    burn(0.5)\n",
    "tests/api/test_c.py": (
        "import pytest\nfrom energy import burn\n\n"
        "@pytest.fixture(scope='module')\ndef big():\n    burn(3.0)\n\n"
        "@pytest.fixture(scope='module')\ndef tiny():\n    burn(0.00001)\n\n"
        "@pytest.mark.carbon(max_j=5)\ndef test_four(big, tiny):\n    burn(0.25)\n\n"
        "def teardown_function(function):\n    burn(0.125)\n"
    ),
}


@pytest.fixture
def suite(energy_suite: pytest.Pytester) -> pytest.Pytester:
    for path, body in SUITE.items():
        target = energy_suite.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    energy_suite.makeini("[pytest]\npythonpath = .\n")  # the tests in sub-folders import energy.py
    return energy_suite


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (
            "file",
            {"tests/unit/test_a.py": (2, 3.0), "tests/unit/test_b.py": (1, 0.5), "tests/api/test_c.py": (1, 0.375)},
        ),
        ("module", {"tests.unit.test_a": (2, 3.0), "tests.unit.test_b": (1, 0.5), "tests.api.test_c": (1, 0.375)}),
        ("dir", {"tests/unit": (3, 3.5), "tests/api": (1, 0.375)}),
    ],
)
def test_a_roll_up_by_file_module_or_directory_everywhere(
    suite: pytest.Pytester, by: str, expected: dict[str, tuple[int, float]]
) -> None:
    result = suite.runpytest(
        *ONE_JOULE_ONE_MG, f"--carbon-group={by}", "--carbon-json=r.json", "--carbon-md=r.md", "--carbon-html=r.html"
    )
    result.assert_outcomes(passed=4)
    groups = json.loads((suite.path / "r.json").read_text())["groups"]
    assert groups["by"] == by
    got = {g["name"]: (g["tests"], round(g["energy_j"], 6)) for g in groups["entries"]}
    assert got == expected
    assert [g["name"] for g in groups["entries"]] == sorted(expected, key=lambda k: -expected[k][1])
    costliest = groups["entries"][0]["name"]
    result.stdout.fnmatch_lines([f"by {by}:*energy*gCO2e*tests*{by}", f"*{costliest}"])
    assert f"### By {by}" in (suite.path / "r.md").read_text()
    assert f'id="by-{by}"' in (suite.path / "r.html").read_text()


def test_no_roll_up_unless_asked(suite: pytest.Pytester) -> None:
    suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=r.json").assert_outcomes(passed=4)
    assert "groups" not in json.loads((suite.path / "r.json").read_text())


def test_a_bad_group_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--carbon-group=package")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--carbon-group: 'package' is not one of the choices. Accepted: file or module or dir." in result.stderr.str()
    )


def test_the_summary_shows_what_a_budget_counted_and_only_costly_fixtures(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-md=r.md")
    result.assert_outcomes(passed=4)
    # The test's figure holds its teardown (0.375 J); its budget counted setup + call (0.25 J).
    result.stdout.fnmatch_lines(["*tests/api/test_c.py::test_four*[[]budget counted 250 mJ <= 5.00 J[]]"])
    section = result.stdout.str().split("carbon footprint")[1]
    assert "big (module" in section  # 3 J of 6.875 J
    assert "tiny (module" not in section  # 10 uJ: not a costly fixture
    markdown = (suite.path / "r.md").read_text()
    assert "budget counted (setup + call)" in markdown and "250 mJ \\<\\= 5\\.00 J" in markdown


def test_table_columns_share_a_unit(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*ONE_JOULE_ONE_MG)
    result.stdout.fnmatch_lines(
        ["*2.00 J*2.00 mgCO2e*test_one *", "*1.00 J*1.00 mgCO2e*test_two *", "*0.500 J*0.500 mgCO2e*test_three *"]
    )


def test_the_header_fits_a_terminal_and_the_session_time_says_what_it_is(suite: pytest.Pytester) -> None:
    result = suite.runpytest(*ONE_JOULE_ONE_MG)
    header = [line for line in result.outlines if line.startswith("carbon: ")]
    assert len(header) == 4 and all(len(line) <= 120 for line in header)
    result.stdout.fnmatch_lines(["session: 6.88 J*, 6.88 mgCO2e over *s measured, measured by rapl"])
    end = [line for line in result.outlines if line.startswith("how measured: ")]
    assert end == ["how measured: rapl [measured]; 3600 gCO2e/kWh (set by the user); PUE 1.0; embodied excluded"]
    verbose = suite.runpytest(*ONE_JOULE_ONE_MG, "-v")
    verbose.stdout.fnmatch_lines(["how measured: rapl package-0 [[]measured[]]", "  intensity 3600 gCO2e/kWh*"])
