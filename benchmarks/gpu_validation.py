"""Validation of GPU energy on a machine with an NVIDIA GPU (not runnable without one).

Prints, for GPU 0 unless --gpu is given:
  1. nvmlInit cost (ms) and the cost of one energy-counter read and one power read (µs);
  2. the nvml meter's cost per test boundary (µs, MeterSet.read with and without it);
  3. idle power (W) from the energy counter over --idle seconds;
  4. energy counter vs integrated power during a torch matmul load (needs torch);
  5. the sampler thread's CPU use (% of one core) at its default rate;
  6. per-test GPU energy of examples/gpu (runs pytest with --carbon-json).

    python benchmarks/gpu_validation.py [--gpu 0] [--idle 10] [--load 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pynvml  # noqa: E402

from pytest_carbon.meters.estimate import probe_estimate  # noqa: E402
from pytest_carbon.meters.meter_set import MeterSet  # noqa: E402
from pytest_carbon.meters.nvml import probe_nvml  # noqa: E402


def per_call_us(call, n: int = 2000) -> float:
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


def counter_j(handle) -> float:
    return pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000


def power_w(handle) -> float:
    return pynvml.nvmlDeviceGetPowerUsage(handle) / 1000


def integrate_power(handle, stop: threading.Event, period: float, out: list[float]) -> None:
    last_t, last_w, energy = time.perf_counter(), power_w(handle), 0.0
    while not stop.is_set():
        time.sleep(period)
        t, w = time.perf_counter(), power_w(handle)
        energy += (last_w + w) / 2 * (t - last_t)
        last_t, last_w = t, w
    out.append(energy)


def load_vs_counter(handle, seconds: float) -> None:
    try:
        import torch
    except ImportError:
        print("4. counter vs integrated power: skipped (torch is not installed)")
        return
    a = torch.randn(8192, 8192, device="cuda")
    b = torch.randn(8192, 8192, device="cuda")
    torch.cuda.synchronize()
    for period in (0.01, 0.05, 0.1):
        stop, out = threading.Event(), []
        start_j = counter_j(handle)
        thread = threading.Thread(target=integrate_power, args=(handle, stop, period, out))
        thread.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(10):
                a @ b
            torch.cuda.synchronize()
        stop.set()
        thread.join()
        counter = counter_j(handle) - start_j
        integrated = out[0]
        print(
            f"4. {seconds:.0f} s of 8192x8192 matmuls: counter {counter:.1f} J, power integrated every "
            f"{period * 1000:.0f} ms {integrated:.1f} J ({(integrated - counter) / counter * 100:+.1f} %), "
            f"mean {counter / seconds:.0f} W"
        )


def sampler_cpu(index: int, seconds: float) -> None:
    probe = probe_nvml(str(index), os.environ)
    meters = MeterSet([probe.meter])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    meters.start()
    time.sleep(seconds)
    meters.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"5. sampler thread: {cpu / wall * 100:.3f} % of one core (poll every {probe.meter.poll_interval_s * 1000:.0f} ms)"
    )


def boundary_cost(index: int) -> None:
    baseline = MeterSet([probe_estimate(frozenset({"cpu"})).meter])
    baseline.start()
    base = per_call_us(baseline.read)
    baseline.close()
    gpu = MeterSet([probe_estimate(frozenset({"cpu"})).meter, probe_nvml(str(index), os.environ).meter])
    gpu.start()
    with_gpu = per_call_us(gpu.read)
    gpu.close()
    print(f"2. boundary read: {base:.1f} µs without GPU meter, {with_gpu:.1f} µs with it (+{with_gpu - base:.1f} µs)")


def example_suite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "gpu.json")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(ROOT / "examples" / "gpu"),
                "-q",
                "-p",
                "no:cacheprovider",
                f"--carbon-json={path}",
            ],
            cwd=ROOT,
            check=False,
        )
        report = json.loads(path.read_text())
    print("6. per-test GPU energy (examples/gpu):")
    for test in report["tests"]:
        gpu = test["by_meter"].get("nvml", 0.0)
        call = test["phases"]["call"]
        watts = gpu / test["duration_s"] if test["duration_s"] else 0.0
        print(
            f"   {test['nodeid']:<60} {gpu:9.2f} J  {test['duration_s']:6.3f} s  {watts:6.0f} W  "
            f"call {call['by_meter'].get('nvml', 0.0):8.2f} J  {' '.join(test['flags'])}"
        )
    for meter in report["session"]["meters"]:
        for channel in meter["channels"]:
            print(f"   session {meter['name']}/{channel['name']}: {channel['energy_j']:.1f} J {channel['details']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=10.0)
    args = parser.parse_args()

    start = time.perf_counter()
    pynvml.nvmlInit()
    print(f"1. nvmlInit: {(time.perf_counter() - start) * 1000:.1f} ms")
    handle = pynvml.nvmlDeviceGetHandleByIndex(args.gpu)
    print(f"   GPU {args.gpu}: {pynvml.nvmlDeviceGetName(handle)} {pynvml.nvmlDeviceGetUUID(handle)}")
    print(f"   nvmlDeviceGetTotalEnergyConsumption: {per_call_us(lambda: counter_j(handle)):.2f} µs per call")
    print(f"   nvmlDeviceGetPowerUsage: {per_call_us(lambda: power_w(handle)):.2f} µs per call")
    steps, last, t0 = [], counter_j(handle), time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        value = counter_j(handle)
        if value != last:
            steps.append(time.perf_counter())
            last = value
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    if gaps:
        print(
            f"   energy counter update period: median {statistics.median(gaps) * 1000:.1f} ms over {len(gaps)} updates"
        )

    boundary_cost(args.gpu)

    before, t = counter_j(handle), time.perf_counter()
    time.sleep(args.idle)
    print(f"3. idle power: {(counter_j(handle) - before) / (time.perf_counter() - t):.1f} W over {args.idle:.0f} s")

    load_vs_counter(handle, args.load)
    sampler_cpu(args.gpu, 5.0)
    pynvml.nvmlShutdown()
    example_suite()


if __name__ == "__main__":
    main()
