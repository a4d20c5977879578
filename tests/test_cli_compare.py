"""`python -m pytest_carbon compare OLD.json NEW.json`."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_suite import MUCH, make_suite, set_work
from test_compare import BAD_BASELINES, _damaged, record

from pytest_carbon.cli.compare import main


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_carbon", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.usefixtures("energy_suite")
def test_real_runs(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    assert pytester.runpytest("--carbon-json=old.json").ret == 0
    set_work(pytester, MUCH)
    assert pytester.runpytest("--carbon-json=new.json").ret == 0
    failed = run("compare", "old.json", "new.json", "--fail=50%", "--min=0.05 J", cwd=pytester.path)
    assert failed.returncode == 1, failed.stderr
    lines = failed.stdout.splitlines()
    assert lines[0] == "old.json -> new.json"
    # The session total includes pytest's own start-up, so how much it grew varies from run
    # to run; its status must agree with its growth against the 50 % threshold.
    session = re.fullmatch(r"session: .+ -> .+ \(([+-]\d+)%\), (\w+); changes under 0.05 J ignored", lines[1])
    assert session is not None, lines[1]
    growth, status = int(session.group(1)), session.group(2)
    assert growth > 0 and status == ("regressed" if growth > 50 else "grew"), lines[1]
    assert lines[3].split() == ["before", "after", "change", "%", "status", "test"]
    row = next(line.split() for line in lines[4:] if line.endswith("test_work.py::test_grows"))
    assert row[-2] == "regressed" and row[4].startswith("+"), failed.stdout  # before, unit, after, unit, change
    assert lines[-1].startswith("FAILED: grew by more than 50%: ") and "test_work.py::test_grows" in lines[-1]
    # the other way round it shrank: nothing fails
    reverse = run("compare", "new.json", "old.json", "--fail=50", "--min=0.05 J", cwd=pytester.path)
    assert "shrank    test_work.py::test_grows" in reverse.stdout, reverse.stdout
    assert "regressed test_work.py::test_grows" not in reverse.stdout


def write(path: Path, tests: dict[str, float], session: float | None = None) -> Path:
    path.write_text(json.dumps(record(tests, session=session)))
    return path


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_without_fail_it_only_reports(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"a": 10.0, "gone": 1.0})
    new = write(tmp_path / "new.json", {"a": 30.0, "added": 1.0})
    code, out, _ = call(str(old), str(new))
    assert code == 0
    assert "+200%  grew      a" in out
    assert "1 new test:\n  added" in out and "1 removed test:\n  gone" in out


def test_unchanged_tests_are_hidden_unless_all(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"a": 10.0, "b": 10.0})
    new = write(tmp_path / "new.json", {"a": 10.2, "b": 10.0})
    assert "no test changed by 1 J or more (2 compared)" in call(str(old), str(new))[1]
    out = call(str(old), str(new), "--all")[1]
    assert out.count("same") == 3  # session line + two rows


def test_mass_floor_compares_carbon(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"a": 10.0})
    new = write(tmp_path / "new.json", {"a": 20.0})
    code, out, _ = call(str(old), str(new), "--min=1 mg", "--fail=10")
    assert code == 1 and "gCO2e" in out and "changes under 1 mg ignored" in out


def test_missing_baseline_is_not_an_error(tmp_path: Path) -> None:
    new = write(tmp_path / "new.json", {"a": 1.0})
    code, _, err = call(str(tmp_path / "none.json"), str(new), "--fail=5")
    assert code == 0
    assert f"warning: no baseline to compare with: {tmp_path / 'none.json'} does not exist" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["OLD", "broken.json"], "error: cannot read the baseline"),
        (["OLD", "NEW", "--fail=lots"], "error: --fail: 'lots' is not a percentage"),
        (["OLD", "NEW", "--min=3"], "error: --min: '3' has no unit"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, argv: list[str], words: str) -> None:
    old = write(tmp_path / "old.json", {"a": 1.0})
    new = write(tmp_path / "new.json", {"a": 1.0})
    (tmp_path / "broken.json").write_text("{")
    argv = [
        str(old) if a == "OLD" else str(new) if a == "NEW" else str(tmp_path / a) if a.endswith(".json") else a
        for a in argv
    ]
    code, _, err = call(*argv)
    assert code == 2
    assert words in err


def test_module_dispatch(tmp_path: Path) -> None:
    usage = run("--help", cwd=tmp_path)
    assert usage.returncode == 0 and "compare two JSON reports" in usage.stdout
    helped = run("compare", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--fail PCT" in helped.stdout


@pytest.mark.parametrize(("change", "words"), BAD_BASELINES, ids=[c for c, _ in BAD_BASELINES])
@pytest.mark.parametrize("which", ["old", "new"])
def test_a_damaged_report_exits_2_naming_the_file_and_entry(
    tmp_path: Path, change: str, words: str, which: str
) -> None:
    good = write(tmp_path / "good.json", {"test_work.py::test_steady": 1.0})
    bad = tmp_path / "bad.json"
    bad.write_text(_damaged(change))
    argv = [str(bad), str(good)] if which == "old" else [str(good), str(bad)]
    completed = run("compare", *argv, "--fail=10", cwd=tmp_path)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert f"{bad}: {words}" in completed.stderr
    assert completed.stderr.startswith("error: ") and "Traceback" not in completed.stderr


def test_names_from_a_report_are_printed_without_control_characters(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", {"a": 1.0, "gone\x1b[2J\n::error::x": 1.0})
    new = write(tmp_path / "new.json", {"a": 1.0, "added\x1b]8;;http://x\x07": 1.0})
    code, out, _ = call(str(old), str(new))
    assert code == 0
    assert "\x1b" not in out and "\n::error" not in out and "\x07" not in out
    assert "  gone\\x1b[2J\\n::error::x" in out and "  added\\x1b]8;;http://x\\x07" in out
