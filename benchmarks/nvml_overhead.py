"""Cost of the NVML meter, measured against the fake NVML (no GPU needed).

Prints: the time one `MeterSet.read()` boundary gains from the nvml meter (µs, per GPU
count), and the CPU share of one core that the sampler thread uses at its default rate.
The fake's calls are plain Python functions; a real NVML call adds the driver's own cost,
which benchmarks/gpu_validation.py measures on a GPU machine.

    python benchmarks/nvml_overhead.py [--gpus 1] [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes import FAKE_NVML_DIR, load_fake  # noqa: E402

from pytest_carbon.meters.estimate import probe_estimate  # noqa: E402
from pytest_carbon.meters.meter_set import MeterSet  # noqa: E402
from pytest_carbon.meters.nvml import probe_nvml  # noqa: E402


def per_read_us(meter_set: MeterSet, reads: int = 20000) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reads):
            meter_set.read()
        rounds.append((time.perf_counter() - start) / reads * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    fake = load_fake("pynvml", FAKE_NVML_DIR)
    fake.configure({"devices": [{} for _ in range(args.gpus)]})
    sys.modules["pynvml"] = fake

    baseline = MeterSet([probe_estimate(frozenset({"cpu"})).meter])
    baseline.start()
    base_us = per_read_us(baseline)
    baseline.close()

    with_gpu = MeterSet([probe_estimate(frozenset({"cpu"})).meter, probe_nvml("all", {}).meter])
    with_gpu.start()
    gpu_us = per_read_us(with_gpu)
    with_gpu.close()
    print(f"boundary read without GPU meter: {base_us:.2f} µs")
    print(f"boundary read with nvml meter ({args.gpus} fake GPU): {gpu_us:.2f} µs (+{gpu_us - base_us:.2f} µs)")

    sampled = MeterSet([probe_nvml("all", {}).meter])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sampled.start()  # starts the sampler thread; the main thread only sleeps
    time.sleep(args.seconds)
    sampled.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    interval = sampled.meters[0].poll_interval_s if sampled.meters else None
    print(
        f"sampler thread: {cpu / wall * 100:.3f} % of one core at one poll every {interval * 1000:.0f} ms "
        f"({cpu * 1e3:.1f} ms CPU over {wall:.1f} s)"
    )


if __name__ == "__main__":
    main()
