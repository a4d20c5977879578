"""Report files as the file system has them: links, devices, pipes, modes; strict JSON."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
from pathlib import Path

import pytest
from accounting_helpers import QUIET_PLUGINS

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files")
TRIVIAL = "def test_one():\n    pass\n"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_one=TRIVIAL)
    return pytester.runpytest_subprocess(*QUIET_PLUGINS, *args)


@POSIX
@pytest.mark.parametrize("flag", ["--carbon-json", "--carbon-html", "--carbon-md"])
def test_a_link_stays_a_link_and_its_target_gets_the_report(pytester: pytest.Pytester, flag: str) -> None:
    (pytester.path / "reports").mkdir()
    target = pytester.path / "reports" / "latest"
    target.write_text("old")
    os.symlink(target, pytester.path / "report.out")
    result = run(pytester, f"{flag}=report.out")
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "report.out").is_symlink()
    assert target.read_text() != "old" and "test_one" in target.read_text()


@POSIX
def test_a_link_to_stdout_is_written_through(pytester: pytest.Pytester) -> None:
    if not os.path.exists("/proc/self/fd/1"):
        pytest.skip("needs /proc")
    os.symlink("/proc/self/fd/1", pytester.path / "stdout.json")
    result = run(pytester, "--carbon-json=stdout.json")
    assert result.ret == 0, result.stdout.str()
    assert (pytester.path / "stdout.json").is_symlink()
    assert '"schema": "pytest-carbon/report"' in result.stdout.str()


@POSIX
def test_a_device_is_written_to_never_replaced(pytester: pytest.Pytester) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    os.symlink("/dev/full", pytester.path / "full.json")
    result = run(pytester, "--carbon-json=full.json", "--carbon-html=full.json")
    assert result.ret == 0
    assert (pytester.path / "full.json").is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    result.stdout.fnmatch_lines(["warning: could not write the JSON report to */full.json: *No space left on device*"])
    result.stdout.fnmatch_lines(["warning: HTML report to */full.json failed: *No space left on device*"])


@POSIX
def test_a_pipe_is_written_through_and_one_without_a_reader_is_a_warning(pytester: pytest.Pytester) -> None:
    fifo = pytester.path / "pipe.json"
    os.mkfifo(fifo)
    result = run(pytester, "--carbon-json=pipe.json")  # nobody reads: never blocks
    assert result.ret == 0
    result.stdout.fnmatch_lines(["warning: could not write the JSON report to */pipe.json: *"])
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:
            while chunk := handle.read():
                received.append(chunk)

    # Two opens: the placeholder at the start and the report at the end; read both.
    reader = threading.Thread(target=lambda: [read() for _ in range(2)], daemon=True)
    reader.start()
    result = run(pytester, "--carbon-json=pipe.json")
    reader.join(30)
    assert result.ret == 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    documents = b"".join(received).decode().replace("}\n{", "}\n\x00{").split("\x00")
    assert json.loads(documents[-1])["complete"] is True


@POSIX
def test_new_reports_honour_the_umask_and_existing_ones_keep_their_mode(pytester: pytest.Pytester) -> None:
    kept = pytester.path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o604)
    old = os.umask(0o027)
    try:
        result = run(pytester, "--carbon-json=new.json", "--carbon-html=new.html", "--carbon-md=kept.json")
    finally:
        os.umask(old)
    assert result.ret == 0, result.stdout.str()
    assert stat.S_IMODE(os.stat(pytester.path / "new.json").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(pytester.path / "new.html").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604
    assert "Carbon footprint" in kept.read_text()


def test_a_folder_is_refused_with_a_warning(pytester: pytest.Pytester) -> None:
    (pytester.path / "adir").mkdir()
    result = run(pytester, "--carbon-json=adir")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["warning: could not write the JSON report to */adir: *folder*"])
    assert (pytester.path / "adir").is_dir()


def test_numbers_too_large_are_written_as_null_with_a_warning(tmp_path: Path) -> None:
    from pytest_carbon.report.json_report import json_text

    text = json_text({"session": {"co2e_g": float("inf"), "warnings": []}, "tests": [{"x": float("nan")}]})
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert document["session"]["co2e_g"] is None and document["tests"][0]["x"] is None
    assert document["session"]["warnings"] == [
        "numbers too large to compute were written as null: report.session.co2e_g, report.tests[0].x"
    ]


def test_a_report_with_a_number_too_large_is_written_strictly(pytester: pytest.Pytester) -> None:
    from pytest_carbon.report.json_report import write_json

    result = run(pytester, "--carbon-json=r.json")
    assert result.ret == 0
    report = json.loads((pytester.path / "r.json").read_text())
    report["session"]["co2e_g"] = float("inf")
    report["tests"][0]["energy_j"] = float("nan")
    write_json(pytester.path / "r.json", report)  # type: ignore[arg-type]
    written = json.loads((pytester.path / "r.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert written["session"]["co2e_g"] is None and written["tests"][0]["energy_j"] is None
    assert written["session"]["warnings"][-1] == (
        "numbers too large to compute were written as null: report.session.co2e_g, report.tests[0].energy_j"
    )
    assert [p.name for p in pytester.path.iterdir() if p.name.endswith(".tmp")] == []
