"""Cost of the plugin's per-test work alone, without pytest around it.

Drives the plugin's per-test hook (logreport for each phase) directly with the meters
this machine has, and prints microseconds per test and per boundary. Pair it
with benchmarks/overhead.py, which measures the same thing end to end.

    python benchmarks/hot_path.py [--tests 20000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

from pytest_carbon.config.settings import load_settings
from pytest_carbon.ledger import PENDING
from pytest_carbon.session.assemble import build_parts
from pytest_carbon.session.runner import TestRunner


class _Config:
    rootpath = Path.cwd()
    option = SimpleNamespace(xmlpath=None)
    pluginmanager = SimpleNamespace(register=lambda *args: None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tests", type=int, default=20000)
    args = parser.parse_args()
    parts = build_parts(_Config, load_settings({}, {}, None), "serial")  # type: ignore[arg-type]
    plugin = TestRunner(parts)
    try:
        calls = [SimpleNamespace(when=w) for w in ("setup", "call", "teardown")]
        tests = []
        for i in range(args.tests):
            item = SimpleNamespace(nodeid=f"tests/test_module.py::test_{i}")
            location = ("tests/test_module.py", i, f"test_{i}")
            reports = [
                SimpleNamespace(nodeid=item.nodeid, location=location, when=c.when, outcome="passed") for c in calls
            ]
            tests.append(reports)
        start = time.perf_counter()
        for reports in tests:
            for report in reports:
                plugin.pytest_runtest_logreport(report)  # type: ignore[arg-type]
        per_test = (time.perf_counter() - start) / args.tests * 1e6
        ledger = parts.ledger
        start = time.perf_counter()
        for _ in range(args.tests):
            ledger.close(PENDING)
            ledger.close(PENDING)
            ledger.close(PENDING)
        per_boundary = (time.perf_counter() - start) / (3 * args.tests) * 1e6
        start = time.perf_counter()
        for _ in range(args.tests):
            parts.meter_set.read()
        per_read = (time.perf_counter() - start) / args.tests * 1e6
    finally:
        parts.meter_set.close()
    meters = ", ".join(m.name for m in parts.meter_set.meters)
    print(f"meters: {meters}; channels: {len(parts.meter_set.channels)}")
    print(f"per test (hooks without pytest): {per_test:.1f} us")
    print(f"per boundary (read + append):   {per_boundary:.2f} us")
    print(f"per meter-set read:              {per_read:.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
