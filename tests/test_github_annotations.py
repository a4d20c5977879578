"""GitHub Actions annotations for budget overruns and regressions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_carbon.report.github import PER_KIND, command, escape_data, escape_property, workflow_commands

SUITE = """
import pytest
from energy import burn

@pytest.mark.carbon("0.000001 J")
def test_over():
    burn(0.001)

@pytest.mark.parametrize("word", ["a,b:c%d"])
@pytest.mark.carbon("0.000001 J")
def test_param(word):
    burn(0.001)

def test_free():
    pass
"""
COMMAND = re.compile(r"^::(error|warning) (.*?)::(.*)$")


def parse(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    found = []
    for line in stdout.splitlines():
        match = COMMAND.match(line)
        if match:
            props = dict(p.split("=", 1) for p in match.group(2).split(","))
            found.append((match.group(1), props, match.group(3)))
    return found


def test_escaping_follows_the_toolkit() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert command("error", "x: 1,2", file="t.py", line=3, title=None) == "::error file=t.py,line=3::x: 1,2"


@pytest.mark.parametrize(("action", "kind", "ret"), [("fail", "error", 1), ("warn", "warning", 0)])
@pytest.mark.usefixtures("energy_suite")
def test_overruns_become_annotations_on_the_test_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, action: str, kind: str, ret: int
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pytester.makepyfile(test_ann=SUITE)
    result = pytester.runpytest_subprocess("--carbon-meters=rapl", f"--carbon-action={action}")
    assert result.ret == ret
    found = parse(result.stdout.str())
    assert [k for k, _, _ in found] == [kind, kind]
    over, param = found
    assert over[1] == {
        "file": "test_ann.py",
        "line": "4",
        "title": "carbon budget exceeded%3A test_ann.py%3A%3Atest_over",
    }
    assert over[2] == "carbon budget exceeded: 1.00 mJ > 1.00 \u00b5J (from @pytest.mark.carbon)"
    assert param[1]["line"] == "8"  # the first decorator: where pytest locates the test
    assert param[1]["title"] == "carbon budget exceeded%3A test_ann.py%3A%3Atest_param[a%2Cb%3Ac%25d]"


def test_paths_are_relative_to_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "repo" / "sub"
    root.mkdir(parents=True)
    report = {
        "session": {
            "action": "fail",
            "budget": {"exceeded": True, "measured": 2.0, "limit": 1.0, "unit": "J", "source": "--carbon-budget"},
        },
        "tests": [
            {
                "nodeid": "t.py::test_a",
                "location": {"path": "t.py", "line": 7},
                "verdict": "exceeded",
                "budget": {
                    "measured": 2.0,
                    "limit": 1.0,
                    "unit": "gCO2e",
                    "source": "@pytest.mark.carbon",
                    "exceeded": True,
                },
            },
        ],
    }
    lines = workflow_commands(report, root, str(tmp_path / "repo"))
    assert lines[0].startswith("::error file=sub/t.py,line=7,title=")
    assert (
        lines[1]
        == "::error title=session carbon budget exceeded::the test session emitted 2.00 J > 1.00 J (from --carbon-budget)"
    )
    assert workflow_commands(report, root, None)[0].startswith("::error file=t.py,line=7,")


def test_regressions_are_annotated_and_capped(tmp_path: Path) -> None:
    tests = [
        {"nodeid": f"t.py::test_{i}", "location": {"path": "t.py", "line": i}, "verdict": None, "budget": None}
        for i in range(15)
    ]
    changes = [
        {"name": t["nodeid"], "before": 1.0, "after": 3.0, "change_pct": 200.0, "status": "regressed"} for t in tests
    ]
    report = {
        "session": {"action": "fail", "budget": None},
        "tests": tests,
        "comparison": {
            "failed": True,
            "unit": "J",
            "fail_pct": 10.0,
            "baseline": "base.json",
            "tests": changes,
            "session": {"before": 1.0, "after": 1.0, "change_pct": 0.0, "status": "same"},
        },
    }
    lines = workflow_commands(report, tmp_path)
    assert len(lines) == PER_KIND
    assert (
        lines[0]
        == "::error file=t.py,line=0,title=carbon regression%3A t.py%3A%3Atest_0::grew more than 10%25 against base.json: 1.00 J -> 3.00 J (+200%25)"
    )
    assert (
        lines[-1]
        == "::error title=pytest-carbon::6 more carbon budget overruns or regressions: see the job summary or the JSON report"
    )
