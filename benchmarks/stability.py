"""How steady a test's figure is, quiet and beside busy neighbours, per scope.

Runs a suite of fixed-work tests (pure-Python CPU loops of set iteration counts; numpy
matrix products where numpy is installed) several times on a quiet machine and several
times beside busy-loop neighbour processes, in machine scope and in the default (process)
scope, and prints for each test:

- its median duration;
- the spread of its figure, max / min, quiet and busy;
- the shift of its median figure under the neighbours (busy median / quiet median - 1);
- the same spread and shift of the CPU time its work took, as the test process itself
  measured it (time.process_time() around the call): the floor under any figure that
  follows CPU time. On a virtual machine the same loop's CPU time moves with what the
  host runs; no attribution can be steadier than the counter it reads.

Target for tests of 50 ms or more, in the default scope: the median moves by at most 10 %
under a neighbour and the spread is at most 1.15. Where the work's own CPU time spreads
more than that, the figure is judged against that floor instead: its spread over the CPU
time's spread ("excess") shows what the attribution adds.

    python benchmarks/stability.py [--runs 5] [--neighbours 2] [--meters estimate]

A machine shared with other work is never quiet: read "quiet" as "without our
neighbours", and expect noise in both columns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = """
import pytest

try:
    import numpy
except ImportError:
    numpy = None


def loop(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


@pytest.mark.parametrize("n", [200_000, 1_000_000, 4_000_000])
def test_loop(n):
    assert loop(n) > 0


@pytest.mark.skipif(numpy is None, reason="numpy not installed")
@pytest.mark.parametrize("size", [200, 400])
def test_matmul(size):
    rng = numpy.random.default_rng(0)
    a = rng.random((size, size))
    for _ in range(10):
        a = a @ a
        a /= numpy.abs(a).max()
    assert a.shape == (size, size)
"""

# The test process's own measure of each test's work: CPU seconds of the call phase.
CONFTEST = """
import json, os, time

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    start = time.process_time()
    try:
        return (yield)
    finally:
        with open(os.environ["STABILITY_CPU_LOG"], "a") as log:
            log.write(json.dumps([item.nodeid, time.process_time() - start]) + "\\n")
"""

NEIGHBOUR = "while True:\n    pass\n"
UNRELATED = ["-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:benchmark", "-p", "no:hypothesispytest"]


def run_suite(directory: Path, scope: str, meters: str) -> dict[str, tuple[float, float, float]]:
    """One run: node id -> (joules, seconds, CPU seconds of the call as the test measured them)."""
    report = directory / "r.json"
    cpu_log = directory / "cpu.jsonl"
    cpu_log.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["STABILITY_CPU_LOG"] = str(cpu_log)
    env.pop("PYTEST_ADDOPTS", None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *UNRELATED, f"--carbon-meters={meters}",
         f"--carbon-scope={scope}", f"--carbon-json={report}", str(directory / "test_fixed.py")],
        cwd=directory, env=env, check=True, capture_output=True,
    )  # fmt: skip
    data = json.loads(report.read_text())
    cpu = dict(json.loads(line) for line in cpu_log.read_text().splitlines())
    return {
        t["nodeid"]: (t["energy_j"], t["duration_s"], cpu[t["nodeid"]])
        for t in data["tests"]
        if t["outcome"] == "passed"
    }


def spread(values: list[float]) -> float:
    return max(values) / min(values) if values and min(values) > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per condition")
    parser.add_argument("--neighbours", type=int, default=2, help="busy-loop processes beside the busy runs")
    parser.add_argument("--meters", default="estimate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_fixed.py").write_text(SUITE)
        (directory / "conftest.py").write_text(CONFTEST)
        results: dict[tuple[str, str], list[dict[str, tuple[float, float, float]]]] = {}
        for condition in ("quiet", "busy"):
            neighbours = []
            if condition == "busy":
                neighbours = [subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) for _ in range(args.neighbours)]
            try:
                for _ in range(args.runs):
                    for scope in ("machine", "process"):  # interleaved: both see the same drift
                        results.setdefault((scope, condition), []).append(run_suite(directory, scope, args.meters))
            finally:
                for neighbour in neighbours:
                    neighbour.kill()
                    neighbour.wait()
    print(
        f"{args.runs} runs per condition, {args.neighbours} busy neighbours, meters {args.meters}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'scope':<8} {'test':<22} {'median s':>8} {'quiet J':>9} {'spread':>7} {'busy J':>9} {'spread':>7} "
        f"{'shift':>7} | {'CPU-time spread':>15} {'shift':>6} | {'excess':>6}  verdict"
    )
    print(header)
    for scope in ("machine", "process"):
        quiet, busy = results[(scope, "quiet")], results[(scope, "busy")]
        for nodeid in quiet[0]:
            q = [run[nodeid][0] for run in quiet if nodeid in run]
            b = [run[nodeid][0] for run in busy if nodeid in run]
            q_cpu = [run[nodeid][2] for run in quiet if nodeid in run]
            b_cpu = [run[nodeid][2] for run in busy if nodeid in run]
            seconds = statistics.median(run[nodeid][1] for run in quiet if nodeid in run)
            shift = statistics.median(b) / statistics.median(q) - 1 if b else float("nan")
            cpu_shift = statistics.median(b_cpu) / statistics.median(q_cpu) - 1 if b_cpu else float("nan")
            worst, floor = max(spread(q), spread(b)), max(spread(q_cpu), spread(b_cpu))
            excess = worst / floor
            verdict = ""
            if scope == "process" and seconds >= 0.05:
                steady = abs(shift) <= 0.10 and (worst <= 1.15 or excess <= 1.03)
                verdict = "ok" if steady else "OVER"
                if steady and worst > 1.15:
                    verdict = "ok (at the CPU-time floor)"
            name = nodeid.split("::")[-1]
            print(
                f"{scope + (' *' if scope == 'process' else ''):<8} {name:<22} {seconds:8.3f} {statistics.median(q):9.4f} "
                f"{spread(q):7.2f} {statistics.median(b):9.4f} {spread(b):7.2f} {shift:+7.0%} | "
                f"{spread(q_cpu):7.2f} {spread(b_cpu):7.2f} {cpu_shift:+6.0%} | {excess:6.2f}  {verdict}"
            )
    print(
        "* the default scope. Target for tests of 50 ms or more: |shift| <= 10 % and spread <= 1.15, or, where the\n"
        "  work's own CPU time spreads more, a spread within 3 % of that floor (excess <= 1.03). CPU-time spread:\n"
        "  quiet, busy. Excess: the figure's larger spread over the CPU time's larger spread."
    )


if __name__ == "__main__":
    main()
