"""GPUs under pytest-xdist: a pinned GPU is charged whole, a shared one is split."""

from __future__ import annotations

import json

import pytest
from fakes import FAKE_NVML_DIR, on_pythonpath

from pytest_carbon.meters.attribution import ActiveWorkers, Attributor, gpu_split_note
from pytest_carbon.meters.base import Channel, Meter

pytest.importorskip("xdist")


class StubGpuMeter(Meter):
    """Two GPUs whose counters grow 100 J per read; utilisation shares as configured."""

    name = "nvml"
    measured = True
    reports_process_use = True
    poll_interval_s = None

    def __init__(self, shares):
        self.channels = tuple(Channel("nvml", f"gpu{i}", "gpu") for i in range(2))
        self.shares = shares
        self.asked_for = None

    def process_shares(self, pids):
        self.asked_for = pids
        return list(self.shares)


def attributed_gpu(shares, exclusive, workers=2):
    meter = StubGpuMeter(shares)
    state = {"t": 0.0, "e": 0.0}

    def read():
        state["t"] += 1.0
        state["e"] += 100.0
        return [state["t"], state["e"], state["e"]]

    attributor = Attributor(read, [meter], vcpus=2, workers=ActiveWorkers(workers, None), gpu_exclusive=exclusive)
    attributor.gpu_refresh_s = 0.0
    for _ in range(3):
        values = attributor.read()
    return values[1:], attributor, meter


def test_pinned_gpu_is_charged_whole():
    values, attributor, _ = attributed_gpu([0.2, 0.2], exclusive=True)
    assert values == pytest.approx([300.0, 300.0])
    assert "own GPUs" in gpu_split_note(attributor)


def test_shared_gpu_follows_per_process_utilisation():
    values, attributor, meter = attributed_gpu([0.75, 0.25], exclusive=False)
    assert values == pytest.approx([225.0, 75.0])
    assert attributor.gpu_split == {"utilisation"}
    assert "NVML per-process utilisation" in gpu_split_note(attributor)
    import os

    assert os.getpid() in meter.asked_for


def test_shared_gpu_without_utilisation_is_split_evenly():
    values, attributor, _ = attributed_gpu([None, None], exclusive=False, workers=4)
    assert values == pytest.approx([75.0, 75.0])
    assert "split evenly" in gpu_split_note(attributor)


GPU_SUITE = """
import time

def test_gpu_work():
    time.sleep(0.3)

def test_more_gpu_work():
    time.sleep(0.3)
"""
PINNING_CONFTEST = """
import os

# One GPU per worker, the usual way: gw0 -> GPU 0, gw1 -> GPU 1.
worker = os.environ.get("PYTEST_XDIST_WORKER")
if worker:
    os.environ["CUDA_VISIBLE_DEVICES"] = worker[2:]
"""
TWO_GPUS = {"devices": [{"base_w": 200.0}, {"base_w": 400.0, "process_utilization": None}]}


def run_gpu_suite(pytester, monkeypatch, tmp_path, conftest=None):
    on_pythonpath(monkeypatch, tmp_path, FAKE_NVML_DIR, "FAKE_NVML_CONFIG", TWO_GPUS)
    pytester.makepyfile(test_gpu=GPU_SUITE)
    if conftest:
        pytester.makeconftest(conftest)
    result = pytester.runpytest_subprocess("-n", "2", "--dist=load", "-p", "no:cacheprovider", "--carbon-json=r.json")
    result.assert_outcomes(passed=2)
    return result, json.loads((pytester.path / "r.json").read_text())


def test_pinned_workers_each_meter_their_own_gpu(pytester, monkeypatch, tmp_path):
    _, report = run_gpu_suite(pytester, monkeypatch, tmp_path, PINNING_CONFTEST)
    notes = report["session"]["attribution"]["gpu"]
    assert any("own GPUs" in note for note in notes), notes
    by_worker = {}
    for test in report["tests"]:
        gpu_channels = [key for key in test["by_channel"] if key.startswith("nvml/")]
        assert len(gpu_channels) == 1, test["by_channel"]
        by_worker.setdefault(test["worker"], set()).update(gpu_channels)
    for worker, channels in by_worker.items():
        assert len(channels) == 1, (worker, channels)  # a pinned worker meters its one GPU only
        watts = 200.0 if worker == "gw0" else 400.0
        test = next(t for t in report["tests"] if t["worker"] == worker)
        gpu_j = sum(v for k, v in test["by_channel"].items() if k.startswith("nvml/"))
        # charged the GPU whole: its power for the test's duration (interpolated, so roughly)
        assert gpu_j == pytest.approx(watts * test["duration_s"], rel=0.5)


def test_shared_gpus_are_split_and_the_report_says_how(pytester, monkeypatch, tmp_path):
    _, report = run_gpu_suite(pytester, monkeypatch, tmp_path)
    notes = report["session"]["attribution"]["gpu"]
    assert any("split evenly" in note for note in notes), notes
    for test in report["tests"]:
        gpu_j = sum(v for k, v in test["by_channel"].items() if k.startswith("nvml/"))
        whole = 600.0 * test["duration_s"]
        assert 0 < gpu_j < whole * 0.8  # a share, not both GPUs whole
