"""The estimate's portable path: macOS and Windows have no /proc, and the estimate then
reads the machine's CPU time and memory through psutil. CI runs on Linux, so the inner
run here hides /proc from the plugin (every open, scan and existence check of a /proc
path fails as it would there) and runs the same code paths as those systems."""

from __future__ import annotations

import json

import pytest

NO_PROCFS = """
import builtins, os, pathlib, sys

BLOCKED = []


def _hidden(path):
    # psutil reads /proc on Linux for what it reads from the kernel elsewhere: it stands
    # for the system's own interface, so only pytest-carbon's direct reads are refused.
    caller = sys._getframe(2).f_globals.get("__name__", "")
    if not caller.startswith("pytest_carbon"):
        return False
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
    return text == "/proc" or text.startswith("/proc/")


def _guard(function):
    def guarded(path, *args, **kwargs):
        if _hidden(path):
            BLOCKED.append(os.fsdecode(path))
            raise FileNotFoundError(2, "No such file or directory (no procfs here)", os.fsdecode(path))
        return function(path, *args, **kwargs)
    return guarded


builtins.open = _guard(builtins.open)
os.open = _guard(os.open)
os.scandir = _guard(os.scandir)
os.listdir = _guard(os.listdir)
_exists = pathlib.Path.exists
pathlib.Path.exists = lambda self, *a, **k: False if _hidden(self) else _exists(self, *a, **k)
_is_file = pathlib.Path.is_file
pathlib.Path.is_file = lambda self, *a, **k: False if _hidden(self) else _is_file(self, *a, **k)


def pytest_sessionfinish(session):
    import json
    with builtins.open("blocked.json", "w") as f:
        json.dump(sorted(set(BLOCKED)), f)
"""

SUITE = """
def test_busy():
    total = 0
    for i in range(300_000):
        total += i
    assert total > 0


def test_memory():
    block = bytearray(50_000_000)
    assert len(block) == 50_000_000
"""


def test_the_estimate_runs_without_procfs(pytester: pytest.Pytester) -> None:
    pytest.importorskip("psutil")
    pytester.makeconftest(NO_PROCFS)
    pytester.makepyfile(test_portable=SUITE)
    result = pytester.runpytest_subprocess("--carbon-json=r.json", "-p", "no:cacheprovider", "--carbon-meters=estimate")
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "r.json").read_text())
    session = report["session"]
    assert [m["name"] for m in session["meters"]] == ["estimate"]
    assert session["estimated_components"] == ["cpu", "memory"]
    assert session["energy_j"] > 0
    busy = next(t for t in report["tests"] if t["nodeid"].endswith("test_busy"))
    assert busy["by_channel"]["estimate/cpu"] > 0
    assert not session["warnings"] or all("/proc" not in w for w in session["warnings"])
    # The plugin did try /proc and was refused: the portable path is what ran.
    blocked = json.loads((pytester.path / "blocked.json").read_text())
    assert any(path.startswith("/proc/") for path in blocked)
