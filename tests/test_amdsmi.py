"""The amdsmi meter against the fake amdsmi: same shape as NVML."""

from __future__ import annotations

import json

import pytest
from fakes import FAKE_AMDSMI_DIR, FakeClock, install, on_pythonpath

from pytest_carbon.meters.amd import probe_amdsmi
from pytest_carbon.meters.discovery import MeterOptions, probe_all

MI300 = {"name": "AMD Instinct MI300X", "base_w": 500.0, "pci": "0000:05:00.0"}


def test_missing_bindings_are_explained(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "amdsmi", None)
    probe = probe_all(MeterOptions())["amdsmi"]
    assert not probe.available and "cannot be imported" in probe.summary and "ROCm" in (probe.fix or "")


def test_init_failure_is_explained(monkeypatch):
    install(monkeypatch, "amdsmi", FAKE_AMDSMI_DIR, {"devices": [MI300], "init_error": True})
    probe = probe_amdsmi("visible", {})
    assert not probe.available and "AmdSmiLibraryException" in probe.summary


def clocked_meter(monkeypatch, config, seconds):
    """The amdsmi meter on a hand-moved clock, polled as the sampler would for `seconds`."""
    clock = FakeClock()
    module = install(monkeypatch, "amdsmi", FAKE_AMDSMI_DIR, config)
    module.set_clock(clock)
    meter = probe_amdsmi("visible", {}).meter
    meter._clock = clock
    meter.start()
    for _ in range(round(seconds / 0.025)):
        clock.advance(0.025)
        meter.poll()
    return meter


@pytest.mark.parametrize("key", ["energy_accumulator", "power"])
def test_accumulator_times_resolution(monkeypatch, key):
    meter = clocked_meter(monkeypatch, {"devices": [MI300], "accumulator_key": key}, 2.0)
    assert meter.counter == [True]
    meter.settle(timeout_s=0)
    (energy,) = meter.read()
    assert 500 * 1.9 - 0.01 <= energy <= 500 * 2.0  # the counter lags by at most one 100 ms update
    assert dict(meter.channels[0].details)["name"] == "AMD Instinct MI300X"


def test_power_path_when_no_counter(monkeypatch):
    meter = clocked_meter(monkeypatch, {"devices": [{**MI300, "energy_counter": False}]}, 1.0)
    assert meter.counter == [False]
    assert meter.read()[0] == pytest.approx(500 * 1.0, rel=0.01)


def test_hip_visible_devices_selects(monkeypatch):
    install(monkeypatch, "amdsmi", FAKE_AMDSMI_DIR, {"devices": [MI300, {**MI300, "pci": "0000:06:00.0"}]})
    probe = probe_amdsmi("visible", {"HIP_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "0"})
    assert [dict(c.details)["index"] for c in probe.meter.channels] == ["1"]
    probe.meter.close()
    hidden = probe_amdsmi("visible", {"HIP_VISIBLE_DEVICES": ""})
    assert not hidden.available and any("HIP_VISIBLE_DEVICES" in n for n in hidden.notes)


def test_plugin_with_amd_gpu_and_failure(pytester, monkeypatch, tmp_path):
    on_pythonpath(
        monkeypatch, tmp_path, FAKE_AMDSMI_DIR, "FAKE_AMDSMI_CONFIG", {"devices": [MI300], "fail_after_s": 1.0}
    )
    pytester.makepyfile("import time\ndef test_a():\n    time.sleep(1.2)\ndef test_b():\n    time.sleep(0.1)\n")
    result = pytester.runpytest_subprocess("--carbon-json=carbon.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*amdsmi GPU 0 AMD Instinct MI300X*energy counter*", "*warning: meter amdsmi failed*"])
    report = json.loads((pytester.path / "carbon.json").read_text())
    (amd,) = [m for m in report["session"]["meters"] if m["name"] == "amdsmi"]
    assert amd["channels"][0]["component"] == "gpu" and amd["dropped"]
    assert amd["energy_j"] > 0
    assert not any(t["flags"] for t in report["tests"])  # nothing interpolated after the drop
