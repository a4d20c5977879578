"""The run's live process tree and named processes, with real child processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from pytest_carbon.meters.cpuinfo import read_cpuinfo
from pytest_carbon.meters.estimate import cpu_power_model
from pytest_carbon.meters.proctree import IncludeSpec, TreeCpuTime, parse_includes
from pytest_carbon.values.errors import CarbonConfigError

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def burn(seconds: float) -> float:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass
    return seconds


def spawn_grandchild(seconds: float) -> int:
    """In a pool worker: start a grandchild that burns CPU and stays alive."""
    child = subprocess.Popen([sys.executable, "-c", BURN_THEN_SLEEP.format(seconds=seconds)])
    return child.pid


BURN_THEN_SLEEP = """
import time
deadline = time.process_time() + {seconds}
while time.process_time() < deadline:
    pass
time.sleep(30)
"""


@pytest.fixture
def tree():
    found = TreeCpuTime()
    found.scan_s = 0.0  # find new processes at every refresh
    yield found
    found.close()


def settle(tree: TreeCpuTime) -> float:
    time.sleep(tree.refresh_s)
    return tree.seconds(time.monotonic() + 1e6)


def test_live_pool_workers_count_while_they_run(tree):
    start = settle(tree)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:  # kept alive, as a fixture would keep it
        used = sum(pool.map(burn, [0.3, 0.3]))
        counted = settle(tree) - start
        assert counted >= used * 0.9
        readings = [settle(tree) for _ in range(3)]
        assert readings == sorted(readings)  # never decreases


def test_live_grandchildren_count(tree):
    start = settle(tree)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        grandchild = pool.apply(spawn_grandchild, (0.4,))
        try:
            deadline = time.monotonic() + 20
            while settle(tree) - start < 0.35 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert settle(tree) - start >= 0.35
        finally:
            os.kill(grandchild, 9)


NO_CHILDREN_YET = """
import subprocess, sys, time
from pytest_carbon.meters.proctree import TreeCpuTime

tree = TreeCpuTime()
tree.scan_s = 0.0
for _ in range(3):
    time.sleep(tree.refresh_s)
    tree.seconds(time.monotonic())
print("before", tree.scans)
child = subprocess.Popen([sys.executable, "-c", {burn!r}])
deadline = time.monotonic() + 20
while tree.seconds(time.monotonic()) < 0.25 and time.monotonic() < deadline:
    time.sleep(tree.refresh_s)
print("after", tree.scans, round(tree.seconds(time.monotonic()), 2))
child.kill()
"""


def test_proc_is_scanned_only_once_the_run_has_a_child():
    """A run without child processes has no descendants to find: /proc, every process
    in it, is not read; a child started later is found and counted."""
    script = NO_CHILDREN_YET.format(burn=BURN_THEN_SLEEP.format(seconds=0.3))
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    before, after = found.stdout.splitlines()
    assert before == "before 0"
    _, scans, seconds = after.split()
    assert int(scans) >= 1 and float(seconds) >= 0.25


def test_named_processes_by_pid_file_and_by_name(tmp_path):
    server_exe = tmp_path / "carbon-server"
    server_exe.symlink_to(sys.executable)
    go = tmp_path / "go"
    script = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\n" + BURN_THEN_SLEEP.format(
        seconds=0.3
    )
    servers = [subprocess.Popen([str(server_exe), "-c", script]) for _ in range(2)]
    try:
        pidfile = tmp_path / "server.pid"
        pidfile.write_text(f"{servers[0].pid}\n")
        # Outside the tree (tree=False): only what is named counts.
        by_file = TreeCpuTime([IncludeSpec("pidfile", str(pidfile))], tree=False)
        by_name = TreeCpuTime([IncludeSpec("name", "carbon-server")], tree=False)
        nothing = TreeCpuTime([IncludeSpec("name", "no-such-process")], tree=False)
        for tracker in (by_file, by_name, nothing):
            tracker.scan_s = 0.0
        starts = [settle(t) - time.process_time() for t in (by_file, by_name, nothing)]
        go.write_text("")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and settle(by_name) - time.process_time() - starts[1] < 0.55:
            time.sleep(0.05)
        used = [settle(t) - time.process_time() - s for t, s in zip((by_file, by_name, nothing), starts)]
        assert 0.25 <= used[0] <= 0.45  # one server
        assert 0.55 <= used[1] <= 0.85  # both
        assert used[2] == pytest.approx(0.0, abs=0.02)
        included = by_name.included_cpu()[0]
        assert included.pids == {s.pid for s in servers} and included.cpu_s >= 0.55
        for tracker in (by_file, by_name, nothing):
            tracker.close()
    finally:
        for server in servers:
            server.kill()
            server.wait()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ollama", (IncludeSpec("name", "ollama"),)),
        ("name:ollama, pidfile:/run/pg.pid", (IncludeSpec("name", "ollama"), IncludeSpec("pidfile", "/run/pg.pid"))),
        (["cgroup:/sys/fs/cgroup/db"], (IncludeSpec("cgroup", "/sys/fs/cgroup/db"),)),
    ],
)
def test_include_specs(raw, expected):
    assert parse_includes(raw, "--carbon-include") == expected


@pytest.mark.parametrize("raw", ["port:80", "name:", "", 5, ["name:a/b"]])
def test_bad_include_specs_name_the_value_and_the_choices(raw):
    with pytest.raises(CarbonConfigError, match="name:COMMAND"):
        parse_includes(raw, "--carbon-include")


SERVER_SUITE = """
import os, time
from pathlib import Path

def test_uses_the_server():
    Path(os.environ["GO_FILE"]).write_text("")
    done = Path(os.environ["DONE_FILE"])
    deadline = time.monotonic() + 30
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
"""

SERVER = """
import os, sys, time
go, done = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.01)
deadline = time.process_time() + 0.6
while time.process_time() < deadline:
    pass
open(done + ".tmp", "w").close()
os.rename(done + ".tmp", done)
time.sleep(60)
"""


@pytest.mark.parametrize("include", [True, False])
def test_a_named_server_is_charged_to_the_test_that_drives_it(pytester, monkeypatch, include):
    pytester.makepyfile(test_server=SERVER_SUITE)
    go, done = pytester.path / "go", pytester.path / "done"
    monkeypatch.setenv("GO_FILE", str(go))
    monkeypatch.setenv("DONE_FILE", str(done))
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(go), str(done)])  # not the run's child
    try:
        (pytester.path / "server.pid").write_text(str(server.pid))
        args = ["--carbon-meters=estimate", "--carbon-json=r.json", "-p", "no:cacheprovider"]
        if include:
            args.append("--carbon-include=pidfile:server.pid")
        result = pytester.runpytest_subprocess(*args)
    finally:
        server.kill()
        server.wait()
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    (test,) = report["tests"]
    model = cpu_power_model(read_cpuinfo())
    if include:
        assert test["by_channel"]["estimate/cpu"] >= 0.5 * model.max_w
        result.stdout.fnmatch_lines(
            [f"note: included pidfile:server.pid: process {server.pid}, 0.[56]* CPU-s charged*"]
        )
    else:
        assert test["by_channel"]["estimate/cpu"] < 0.3 * model.max_w
        assert "included" not in result.stdout.str()


# A container's stand-in: a process outside the run's tree (started by this test, not by
# the pytest run under test) that works when told to and keeps its cgroup's cpu.stat as
# the kernel would: usage grows by the CPU time it used (written in place, never
# truncated, as a reader keeps the file open).
CONTAINER = """
import os, sys, time
stat, go, done = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.01)
start = time.process_time()
while time.process_time() - start < 0.6:
    pass
used = time.process_time() - start
fd = os.open(stat, os.O_RDWR)
os.pwrite(fd, f"usage_usec {5000000 + round(used * 1e6)}\\nuser_usec {4500000 + round(used * 1e6)}\\n".encode(), 0)
os.close(fd)
open(done + ".tmp", "w").close()
os.rename(done + ".tmp", done)
time.sleep(60)
"""


@pytest.mark.parametrize("present", [True, False], ids=["cgroup", "missing"])
def test_a_named_cgroup_is_charged_to_the_test_that_drives_it(pytester, monkeypatch, present):
    """A cgroup v2 directory (its `cpu.stat`) stands in for a container the tests drive:
    what its usage grows by is charged to the run, interval by interval, to the test
    running; a directory that cannot be read charges nothing and says why."""
    cgroup = pytester.path / "cgroup-db"
    cgroup.mkdir()
    (cgroup / "cpu.stat").write_text("usage_usec 5000000\nuser_usec 4500000\n")
    go, done = pytester.path / "go", pytester.path / "done"
    monkeypatch.setenv("GO_FILE", str(go))
    monkeypatch.setenv("DONE_FILE", str(done))
    pytester.makepyfile(test_container=SERVER_SUITE + "\n\ndef test_after():\n    time.sleep(0.05)\n")
    target = cgroup if present else pytester.path / "no-such-cgroup"
    container = subprocess.Popen([sys.executable, "-c", CONTAINER, str(cgroup / "cpu.stat"), str(go), str(done)])
    try:
        args = ["--carbon-meters=estimate", "--carbon-json=r.json", "-p", "no:cacheprovider", "-p", "no:randomly"]
        result = pytester.runpytest_subprocess(*args, f"--carbon-include=cgroup:{target}")
    finally:
        container.kill()
        container.wait()
    result.assert_outcomes(passed=2)
    tests = {t["nodeid"].split("::")[-1]: t for t in json.loads((pytester.path / "r.json").read_text())["tests"]}
    model = cpu_power_model(read_cpuinfo())
    driving, after = tests["test_uses_the_server"], tests["test_after"]
    if present:
        assert driving["by_channel"]["estimate/cpu"] >= 0.5 * model.max_w
        assert after["by_channel"]["estimate/cpu"] < 0.3 * model.max_w
        result.stdout.fnmatch_lines([f"note: included cgroup:{target}: 0.6* CPU-s charged to the run"])
    else:
        assert driving["by_channel"]["estimate/cpu"] < 0.3 * model.max_w
        result.stdout.fnmatch_lines([f"note: included cgroup:{target}: nothing charged (cannot read *)"])
