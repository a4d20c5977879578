"""Overhead of pytest-carbon on a suite of trivial tests, and memory per test record.

Runs the same generated suite with the plugin on and with `-p no:carbon`, alternating,
and prints the median wall-time ratio (target <= 1.02, limit 1.05): each round runs the
two back to back (the order alternates between rounds), and the verdict is the median of
the rounds' on/off ratios. On a shared machine the speed drifts by tens of per cent
within minutes; a round's two runs see the same machine, so their ratio is far steadier
than a ratio of two medians taken over the whole session, which is printed as well.
Then runs the two at the same time on one CPU, a few rounds, and prints their CPU-time
ratio: sharing the CPU in slices of a few milliseconds, both see the same machine, so
this figure moves by a few tenths of a per cent where the wall-time ratio moves by
several per cent. Last, measures the memory one test record takes (target < 1 KB) and,
with --peak-tests, the peak memory per test a whole run adds with every report written.

    python benchmarks/overhead.py [--tests 5000] [--rounds 21] [--shared-rounds 8] [--peak-tests 100000] [--llm]

With --llm, both runs have the plugin on and compare hosted-model charging (the default
`--carbon-llm=auto`, EcoLogits installed) with `--carbon-llm=off`: the cost of the
feature to a suite that never imports an LLM SDK (target: none measurable).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# Plugins that have nothing to do with the measurement are left out of both runs alike.
UNRELATED = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:randomly"]


# Installed packages run from bytecode; let the children write and use it as they would.
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")}


PINNED_CPU: set[int] | None = None
LLM_ONLY = False  # --llm: "off" is the plugin with --carbon-llm=off, not without the plugin


def _pin() -> None:
    # One CPU for every child: fewer migrations, steadier timings on a small noisy machine.
    if PINNED_CPU and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, PINNED_CPU)


def make_suite(root: Path, tests: int, per_file: int = 100) -> None:
    for start in range(0, tests, per_file):
        count = min(per_file, tests - start)
        body = "\n".join(f"def test_{start + i}():\n    pass\n" for i in range(count))
        (root / f"test_trivial_{start // per_file:03d}.py").write_text(body)
    (root / "pytest.ini").write_text("[pytest]\n")


def run(root: Path, plugin_on: bool) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one pytest run."""
    args = command(root, plugin_on)
    cpu_before = os.times()
    start = time.perf_counter()
    completed = subprocess.run(args, cwd=root, capture_output=True, text=True, env=CHILD_ENV, preexec_fn=_pin)
    elapsed = time.perf_counter() - start
    cpu_after = os.times()
    if completed.returncode != 0:
        raise SystemExit(
            f"pytest failed ({completed.returncode}):\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    cpu = (cpu_after.children_user - cpu_before.children_user) + (
        cpu_after.children_system - cpu_before.children_system
    )
    return elapsed, cpu


def command(root: Path, plugin_on: bool) -> list[str]:
    args = [sys.executable, "-m", "pytest", "-q", *UNRELATED, str(root)]
    if not plugin_on:
        args[3:3] = ["--carbon-llm=off"] if LLM_ONLY else ["-p", "no:carbon"]
    return args


def run_sharing_a_cpu(root: Path) -> float:
    """CPU time (user + system) of a plugin-on run over a plugin-off run, the two started
    together and pinned to the same CPU."""
    children = {
        plugin_on: subprocess.Popen(
            command(root, plugin_on), cwd=root, stdout=subprocess.DEVNULL, env=CHILD_ENV, preexec_fn=_pin
        )
        for plugin_on in (True, False)
    }
    cpu: dict[bool, float] = {}
    for plugin_on, child in children.items():
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            raise SystemExit(f"pytest failed (wait status {status}) with the plugin {'on' if plugin_on else 'off'}")
        cpu[plugin_on] = usage.ru_utime + usage.ru_stime
    return cpu[True] / cpu[False]


def peak_memory(root: Path, plugin_on: bool) -> int:
    """Peak resident memory (bytes) of one pytest run; with the plugin, writing the JSON,
    HTML and Markdown reports, as a CI job would."""
    args = command(root, plugin_on)
    if plugin_on:
        args[3:3] = [
            f"--carbon-json={root / 'c.json'}",
            f"--carbon-html={root / 'c.html'}",
            f"--carbon-md={root / 'c.md'}",
        ]
    child = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, env=CHILD_ENV)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"pytest failed (wait status {status}) with the plugin {'on' if plugin_on else 'off'}")
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def peak_memory_per_test(tests: int) -> float:
    """Bytes of peak memory per test that the plugin adds to a run, reports included."""
    with tempfile.TemporaryDirectory(prefix="carbon-peak-") as folder:
        root = Path(folder)
        make_suite(root, tests)
        return (peak_memory(root, True) - peak_memory(root, False)) / tests


def memory_per_record(tests: int) -> float:
    """Bytes the ledger keeps per test: its three readings and accounts in the timeline,
    its index entry and outcome (the records themselves are made only for reports)."""
    from pytest_carbon.ledger import PENDING, TEARDOWN, Ledger
    from pytest_carbon.meters.discovery import MeterOptions, select_meters
    from pytest_carbon.meters.meter_set import MeterSet

    selection = select_meters(("auto",), MeterOptions(), "benchmark")
    meters = MeterSet(selection.meters)
    meters.start()
    ledger = Ledger(meters.fast_read, len(meters.channels), meters.recover)
    ledger.close(PENDING)
    tests_made = [
        (f"tests/test_module_{i // 100:03d}.py::test_case_number_{i}", ("tests/test_module.py", i, f"test_{i}"))
        for i in range(tests)
    ]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for nodeid, location in tests_made:
        index = ledger.setup_ended(nodeid, location, True)
        ledger.close(3 * index + TEARDOWN)
        ledger.close(PENDING)
        ledger.outcomes[index] = "passed"
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    meters.close()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / tests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--shared-rounds", type=int, default=8, help="rounds of the two sharing one CPU (0: skip)")
    parser.add_argument("--cpu", type=int, default=None, help="pin the runs to this CPU (default: the last one)")
    parser.add_argument("--llm", action="store_true", help="compare --carbon-llm=auto with --carbon-llm=off")
    parser.add_argument(
        "--peak-tests",
        type=int,
        default=0,
        help="also measure the peak memory a run of this many tests adds, reports included (e.g. 100000; 0: skip)",
    )
    args = parser.parse_args()
    global PINNED_CPU, LLM_ONLY
    LLM_ONLY = args.llm
    if hasattr(os, "sched_getaffinity"):
        available = sorted(os.sched_getaffinity(0))
        PINNED_CPU = {args.cpu if args.cpu is not None else available[-1]}
    with tempfile.TemporaryDirectory(prefix="carbon-overhead-") as folder:
        root = Path(folder)
        make_suite(root, args.tests)
        import compileall

        import pytest_carbon

        compileall.compile_dir(Path(pytest_carbon.__file__).parent, quiet=1)
        run(root, True)  # warm the file cache and bytecode
        on: list[tuple[float, float]] = []
        off: list[tuple[float, float]] = []
        for round_number in range(args.rounds):
            order = (True, False) if round_number % 2 == 0 else (False, True)
            for plugin_on in order:
                (on if plugin_on else off).append(run(root, plugin_on))
        shared = [run_sharing_a_cpu(root) for _ in range(args.shared_rounds)]
    median_on, median_off = statistics.median(w for w, _ in on), statistics.median(w for w, _ in off)
    cpu_on, cpu_off = statistics.median(c for _, c in on), statistics.median(c for _, c in off)
    paired = sorted(a[0] / b[0] for a, b in zip(on, off))
    ratio = statistics.median(paired)
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [ratio, ratio, ratio]
    per_test_us = (ratio - 1) * median_off / args.tests * 1e6
    print(
        f"suite: {args.tests} trivial tests, {args.rounds} alternating rounds, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, runs pinned to CPU {sorted(PINNED_CPU or [])}"
    )
    print(
        f"plugin on : median wall {median_on:.3f} s, CPU {cpu_on:.3f} s  (wall runs: {', '.join(f'{w:.2f}' for w, _ in on)})"
    )
    print(
        f"plugin off: median wall {median_off:.3f} s, CPU {cpu_off:.3f} s  (wall runs: {', '.join(f'{w:.2f}' for w, _ in off)})"
    )
    print(f"median wall-time ratio on/off: {ratio:.4f}  (target <= 1.02, limit 1.05)  ~{per_test_us:.1f} us per test")
    print(
        f"  the rounds' ratios: quartiles {quartiles[0]:.4f} / {quartiles[1]:.4f} / {quartiles[2]:.4f}, "
        f"range {paired[0]:.4f}-{paired[-1]:.4f}"
    )
    print(f"ratio of the median wall times: {median_on / median_off:.4f}  (moves with drift between rounds)")
    print(f"ratio of the median CPU times:  {cpu_on / cpu_off:.4f}")
    print(
        f"fastest-run ratio on/off:       {min(w for w, _ in on) / min(w for w, _ in off):.4f}  (the least disturbed runs)"
    )
    if shared:
        print(
            f"CPU-time ratio sharing one CPU: {statistics.median(shared):.4f}  "
            f"(median of {len(shared)} rounds, range {min(shared):.4f}-{max(shared):.4f})"
        )
    per_record = memory_per_record(args.tests)
    print(f"memory per test record: {per_record:.0f} bytes (target < 1024)")
    if args.peak_tests:
        peak = peak_memory_per_test(args.peak_tests)
        print(f"peak memory per test, {args.peak_tests} tests with JSON, HTML and Markdown reports: {peak:.0f} bytes")
    verdict = "ok" if ratio <= 1.05 and per_record < 1024 else "OVER LIMIT"
    print(f"verdict: {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
