"""How steady a test's figure is, quiet and beside busy neighbours, per scope.

Runs a suite of fixed-work tests (pure-Python CPU loops of set iteration counts; numpy
matrix products where numpy is installed) several times on a quiet machine and several
times beside busy-loop neighbour processes, in machine scope and in the default (process)
scope, and prints for each test:

- its median duration;
- the spread of its figure, max / min, quiet and busy;
- the shift of its median figure under the neighbours (busy median / quiet median - 1).

Target for tests of 50 ms or more, in the default scope: the median moves by at most 10 %
under a neighbour and the spread is at most 1.15.

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

NEIGHBOUR = "while True:\n    pass\n"
UNRELATED = ["-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:benchmark", "-p", "no:hypothesispytest"]


def run_suite(directory: Path, scope: str, meters: str) -> dict[str, tuple[float, float]]:
    """One run: node id -> (joules, seconds)."""
    report = directory / "r.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *UNRELATED, f"--carbon-meters={meters}",
         f"--carbon-scope={scope}", f"--carbon-json={report}", str(directory / "test_fixed.py")],
        cwd=directory, env=env, check=True, capture_output=True,
    )  # fmt: skip
    data = json.loads(report.read_text())
    return {t["nodeid"]: (t["energy_j"], t["duration_s"]) for t in data["tests"] if t["outcome"] == "passed"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per condition")
    parser.add_argument("--neighbours", type=int, default=2, help="busy-loop processes beside the busy runs")
    parser.add_argument("--meters", default="estimate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_fixed.py").write_text(SUITE)
        results: dict[tuple[str, str], list[dict[str, tuple[float, float]]]] = {}
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
    header = f"{'scope':<8} {'test':<36} {'median s':>8} {'quiet J':>9} {'spread':>7} {'busy J':>9} {'spread':>7} {'shift':>7}"
    print(header)
    for scope in ("machine", "process"):
        quiet, busy = results[(scope, "quiet")], results[(scope, "busy")]
        for nodeid in quiet[0]:
            q = [run[nodeid][0] for run in quiet if nodeid in run]
            b = [run[nodeid][0] for run in busy if nodeid in run]
            seconds = statistics.median(run[nodeid][1] for run in quiet if nodeid in run)
            spread_q = max(q) / min(q) if min(q) > 0 else float("inf")
            spread_b = max(b) / min(b) if b and min(b) > 0 else float("inf")
            shift = statistics.median(b) / statistics.median(q) - 1 if b else float("nan")
            name = nodeid.split("::")[-1]
            print(
                f"{scope + (' *' if scope == 'process' else ''):<8} {name:<36} {seconds:8.3f} {statistics.median(q):9.4f} "
                f"{spread_q:7.2f} {statistics.median(b):9.4f} {spread_b:7.2f} {shift:+7.0%}"
            )
    print("* the default scope. Target for tests of 50 ms or more: |shift| <= 10 %, spread <= 1.15.")


if __name__ == "__main__":
    main()
