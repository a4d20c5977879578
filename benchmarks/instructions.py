"""The plugin's cost in instructions, counted by valgrind's callgrind: repeatable figures.

Wall-clock ratios on a small shared machine move by 10-20 % from run to run, more than
the overhead being measured. Instruction counts do not. This runs pytest under
`valgrind --tool=callgrind` on a one-test suite and on an N-test suite, each with the
plugin on and off, and prints the fixed cost (start-up, configure, report), the cost per
test, and the ratio they give for a 5000-test suite.

    python benchmarks/instructions.py [--tests 1000] [--hold-refresh]

Valgrind runs the program about 30 times slower, so work the plugin does on a clock
happens far more often per test than in a normal run: the machine CPU-time refresh
(every 10 ms) at nearly every reading, this process's CPU time (read when 1 ms has
passed) at every reading, and the memory refresh (every second) every few tests.
`--hold-refresh` holds the refreshes (the machine's and the process tree's CPU time,
memory) off and stretches the 1 ms to 30 ms (through a conftest.py in the generated
suite, active only when the plugin is loaded) for a per-test figure closer to a normal
run.

Needs valgrind (Debian: apt-get install valgrind). Counts user-space instructions only:
system calls (clock reads, /proc reads) cost wall time that this does not see.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

UNRELATED = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:randomly"]
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")}
CHILD_ENV["PYTHONHASHSEED"] = "0"  # same dict layouts in every run


HOLD_REFRESH = """
import sys

_clock = sys.modules.get("pytest_carbon.meters.cputime")  # loaded only when the plugin is
if _clock is not None:
    _clock.MachineCpuTime.refresh_s = 1e9
    _estimate = sys.modules["pytest_carbon.meters.estimate"]
    _estimate.EstimateMeter.memory_refresh_s = 1e9
    _clock.OwnCpuTime.read_gap_s = 0.03  # 1 ms at valgrind's pace
    _tree = sys.modules["pytest_carbon.meters.proctree"]
    _tree.TreeCpuTime.refresh_s = 1e9
"""


def make_suite(root: Path, tests: int, per_file: int = 100, hold_refresh: bool = False) -> Path:
    root.mkdir(parents=True)
    if hold_refresh:
        (root / "conftest.py").write_text(HOLD_REFRESH)
    for start in range(0, tests, per_file):
        count = min(per_file, tests - start)
        body = "\n".join(f"def test_{start + i}():\n    pass\n" for i in range(count))
        (root / f"test_trivial_{start // per_file:03d}.py").write_text(body)
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def instructions(suite: Path, plugin_on: bool, out: Path) -> int:
    # The virtual environment's interpreter as it is (its link, not the file it points to):
    # run through the link, Python finds the environment and the plugin installed in it.
    python = sys.executable
    args = [python, "-m", "pytest", "-q", *UNRELATED, *([] if plugin_on else ["-p", "no:carbon"]), str(suite)]
    subprocess.run(args, cwd=suite, capture_output=True, env=CHILD_ENV, check=False)  # warm the bytecode
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args],
        cwd=suite,
        capture_output=True,
        text=True,
        env=CHILD_ENV,
    )
    if plugin_on and "carbon footprint" not in completed.stdout:
        raise SystemExit(f"the plugin did not run in {suite}:\n{completed.stdout[-2000:]}")
    match = re.search(r"Collected : (\d+)", completed.stderr)
    if match is None:
        raise SystemExit(f"no instruction count from valgrind:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--hold-refresh", action="store_true", help="hold off the 10 ms CPU-time refresh (see above)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind")
        return 2
    with tempfile.TemporaryDirectory(prefix="carbon-instructions-") as folder:
        root = Path(folder)
        one = make_suite(root / "one", 1, hold_refresh=args.hold_refresh)
        many = make_suite(root / "many", args.tests, hold_refresh=args.hold_refresh)
        jobs = {
            ("one", True): (one, True),
            ("one", False): (one, False),
            ("many", True): (many, True),
            ("many", False): (many, False),
        }
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            futures = {
                key: pool.submit(instructions, suite, on, root / f"{key[0]}-{key[1]}.out")
                for key, (suite, on) in jobs.items()
            }
            counts = {key: future.result() for key, future in futures.items()}
    print(
        "raw counts (M): "
        + ", ".join(f"{suite} {'on' if on else 'off'} {count / 1e6:.1f}" for (suite, on), count in counts.items())
    )
    fixed = counts[("one", True)] - counts[("one", False)]
    pytest_per_test = (counts[("many", False)] - counts[("one", False)]) / (args.tests - 1)
    plugin_per_test = ((counts[("many", True)] - counts[("one", True)]) / (args.tests - 1)) - pytest_per_test
    print(
        f"instructions, pytest alone: {counts[('one', False)] / 1e6:.0f} M to start and finish, {pytest_per_test / 1e3:.0f} k per trivial test"
    )
    print(
        f"added by pytest-carbon: {fixed / 1e6:.0f} M fixed ({fixed / counts[('one', False)]:.1%} of a one-test run), "
        f"{plugin_per_test / 1e3:.0f} k per test ({plugin_per_test / pytest_per_test:.1%} of a trivial test)"
    )
    for n in (args.tests, 5000, 50000):
        off = counts[("one", False)] + pytest_per_test * (n - 1)
        on = off + fixed + plugin_per_test * (n - 1)
        print(f"ratio on/off for {n} trivial tests: {on / off:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
