"""Where the plugin's overhead goes: CPU time by phase of a pytest run, plugin on and off.

`overhead.py` says how much the plugin costs on a suite of trivial tests; this says where.
Each round starts the suite twice at once, with the plugin on and with `-p no:carbon`,
both pinned to one CPU (so both see the same machine), with a small timing plugin loaded
into both that notes this process's CPU time at each step of the run:

    start-up      the timing plugin loaded -> pytest_configure (the other plugins' imports)
    configure     pytest_configure -> pytest_sessionstart (the plugin's set-up)
    collection    pytest_sessionstart -> the end of collection (marker walk, budgets)
    tests         the test loop (the per-test hooks)
    end           the end of the loop -> pytest_unconfigure (conversion, summary, reports)
    exit          pytest_unconfigure -> the process's exit

and the time spent in full (generation 2) garbage collections, wherever they fell. It
prints the median of each over the rounds, and the difference per test.

    python benchmarks/phases.py [--tests 5000] [--rounds 8]
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

from overhead import CHILD_ENV, UNRELATED, make_suite

TIMING_PLUGIN = """
import atexit, gc, json, os, time

import pytest

_clock = time.process_time
marks = {"loaded": _clock()}
_full = {"start": 0.0, "seconds": 0.0, "count": 0}


def _collections(phase, info):
    if info["generation"] != 2:
        return
    if phase == "start":
        _full["start"] = _clock()
    else:
        _full["seconds"] += _clock() - _full["start"]
        _full["count"] += 1


gc.callbacks.append(_collections)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    marks["configure"] = _clock()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    marks["sessionstart"] = _clock()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    marks["collected"] = _clock()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtestloop(session):
    marks["loop"] = _clock()
    try:
        return (yield)
    finally:
        marks["looped"] = _clock()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    marks["unconfigure"] = _clock()


@atexit.register
def _write():
    marks["exit"] = _clock()
    marks["full_gc"] = _full["seconds"]
    marks["full_gc_count"] = _full["count"]
    with open(os.environ["CARBON_PHASES_OUT"], "a") as out:
        out.write(json.dumps({"plugin": os.environ["CARBON_PHASES_TAG"], **marks}) + "\\n")
"""

PHASES = [
    ("start-up", "loaded", "configure"),
    ("configure", "configure", "sessionstart"),
    ("collection", "sessionstart", "collected"),
    ("tests", "loop", "looped"),
    ("end", "looped", "unconfigure"),
    ("exit", "unconfigure", "exit"),
    ("whole run", "loaded", "exit"),
]


def run_round(root: Path, timer_dir: Path, out: Path, cpu: int | None) -> None:
    """The suite with the plugin on and off, started together on one CPU."""

    def pin() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    children = []
    for plugin_on in (True, False):
        env = dict(CHILD_ENV)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(timer_dir), env.get("PYTHONPATH")]))
        env["CARBON_PHASES_OUT"] = str(out)
        env["CARBON_PHASES_TAG"] = "on" if plugin_on else "off"
        args = [sys.executable, "-m", "pytest", "-q", "-p", "carbon_phase_clock", *UNRELATED, str(root)]
        if not plugin_on:
            args[3:3] = ["-p", "no:carbon"]
        children.append(
            subprocess.Popen(
                args, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin
            )
        )
    for child in children:
        if child.wait() != 0:
            raise SystemExit(f"pytest failed ({child.returncode}): {' '.join(map(str, child.args))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    cpu = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory(prefix="carbon-phases-") as folder:
        root, timer_dir = Path(folder, "suite"), Path(folder, "timer")
        root.mkdir()
        timer_dir.mkdir()
        make_suite(root, args.tests)
        (timer_dir / "carbon_phase_clock.py").write_text(TIMING_PLUGIN)
        out = Path(folder, "marks.jsonl")
        run_round(root, timer_dir, Path(folder, "warm.jsonl"), cpu)  # bytecode and file cache
        for _ in range(args.rounds):
            run_round(root, timer_dir, out, cpu)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    runs = {tag: [row for row in rows if row["plugin"] == tag] for tag in ("on", "off")}

    def median(tag: str, first: str, last: str) -> float:
        return statistics.median(row[last] - row[first] for row in runs[tag])

    print(
        f"{args.tests} trivial tests, {args.rounds} rounds, the two runs of a round sharing CPU {cpu}, "
        f"python {sys.version.split()[0]}: CPU time, medians"
    )
    print(f"{'phase':<12} {'plugin on':>11} {'plugin off':>11} {'difference':>11} {'per test':>10}")
    for name, first, last in PHASES:
        on, off = median("on", first, last), median("off", first, last)
        per_test = (on - off) / args.tests * 1e6
        print(f"{name:<12} {on * 1e3:8.1f} ms {off * 1e3:8.1f} ms {(on - off) * 1e3:8.1f} ms {per_test:7.2f} us")
    gc_on = statistics.median(row["full_gc"] for row in runs["on"])
    gc_off = statistics.median(row["full_gc"] for row in runs["off"])
    count = statistics.median(row["full_gc_count"] for row in runs["on"])
    print(
        f"{'full GCs':<12} {gc_on * 1e3:8.1f} ms {gc_off * 1e3:8.1f} ms {(gc_on - gc_off) * 1e3:8.1f} ms"
        f"  ({count:.0f} collections, within the phases above)"
    )
    whole_on, whole_off = median("on", "loaded", "exit"), median("off", "loaded", "exit")
    print(f"ratio of the whole runs' CPU time (from the timing plugin's load): {whole_on / whole_off:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
