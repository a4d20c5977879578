"""The NVML meter against the fake NVML: probing, counter and power paths, interpolation,
exact session totals, and the plugin's output with GPUs present."""

from __future__ import annotations

import json
import math

import pytest
from fakes import FAKE_NVML_DIR, FakeClock, install, on_pythonpath

from pytest_carbon.meters.discovery import MeterOptions, probe_all
from pytest_carbon.meters.gpu_energy import HORIZON_S
from pytest_carbon.meters.meter_set import MeterSet
from pytest_carbon.meters.nvml import probe_nvml

H100 = {"name": "NVIDIA H100 80GB HBM3", "arch": 9, "base_w": 300.0}
V100_NO_COUNTER = {"name": "Tesla P100", "arch": 4, "base_w": 200.0}


@pytest.fixture
def clock():
    return FakeClock()


def fake(monkeypatch, clock=None, **config):
    module = install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": [H100], **config})
    if clock is not None:
        module.set_clock(clock)
    return module


def meter_with_clock(monkeypatch, clock, **config):
    module = fake(monkeypatch, clock, **config)
    probe = probe_nvml("visible", {})
    assert probe.available, probe.summary
    meter = probe.meter
    meter._clock = clock
    return module, meter


# -- probing ------------------------------------------------------------------------------


def test_real_bindings_without_driver_are_simply_unavailable():
    # This CI machine has nvidia-ml-py but no NVIDIA driver: nvmlInit fails.
    pynvml = pytest.importorskip("pynvml")
    if "fake" in (pynvml.__file__ or ""):
        pytest.skip("the fake NVML is on the path")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver")
    except pynvml.NVMLError:
        pass
    probe = probe_nvml("visible", {})
    assert not probe.available
    assert "NVML is unavailable" in probe.summary and probe.fix


@pytest.mark.parametrize("error", ["LibraryNotFound", "DriverNotLoaded"])
def test_missing_library_or_driver_is_explained(monkeypatch, error):
    fake(monkeypatch, init_error=error)
    probe = probe_all(MeterOptions())["nvml"]
    assert not probe.available
    assert f"NVMLError_{error}" in probe.summary
    assert "driver" in (probe.fix or "")


def test_missing_bindings_are_explained(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    probe = probe_nvml("visible", {})
    assert not probe.available and "cannot be imported" in probe.summary


def test_no_gpu_selected_means_no_meter_and_nvml_shut_down(monkeypatch):
    module = fake(monkeypatch)
    probe = probe_nvml("visible", {"CUDA_VISIBLE_DEVICES": ""})
    assert not probe.available and probe.meter is None
    assert module.calls.get("nvmlDeviceGetTotalEnergyConsumption", 0) == 0
    assert module._init_count == 0


def test_machine_without_gpus(monkeypatch):
    module = install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": []})
    probe = probe_nvml("visible", {})
    assert not probe.available and "no NVIDIA GPU" in probe.summary
    assert module._init_count == 0


def test_channels_carry_name_uuid_index(monkeypatch):
    fake(monkeypatch, devices=[H100, {**H100, "uuid": "GPU-deadbeef-0000"}])
    probe = probe_nvml("all", {})
    assert [c.component for c in probe.meter.channels] == ["gpu", "gpu"]
    details = dict(probe.meter.channels[1].details)
    assert details["name"] == "NVIDIA H100 80GB HBM3"
    assert details["uuid"] == "GPU-deadbeef-0000"
    assert details["index"] == "1"
    assert "GPU 1 NVIDIA H100 80GB HBM3 (GPU-deadbeef" in probe.meter.describe()


def test_mig_entry_meters_the_parent_and_says_so(monkeypatch):
    fake(monkeypatch, devices=[H100, {**H100, "mig": ["MIG-9a8b7c6d-0000-1111"]}])
    probe = probe_nvml("visible", {"CUDA_VISIBLE_DEVICES": "MIG-9a8b"})
    assert [dict(c.details)["index"] for c in probe.meter.channels] == ["1"]
    assert "MIG-9a8b7c6d-0000-1111" in dict(probe.meter.channels[0].details)["mig"]
    assert any("metered through the whole parent GPU 1" in note for note in probe.notes)
    assert "for its MIG instances" in probe.meter.describe()


def test_counter_and_polling_paths_are_chosen_per_gpu(monkeypatch):
    fake(monkeypatch, devices=[H100, V100_NO_COUNTER])
    probe = probe_nvml("all", {})
    assert probe.meter.counter == [True, False]
    assert [dict(c.details)["reading"].split()[0] for c in probe.meter.channels] == ["energy", "power"]


def test_gpu_reporting_nothing_is_left_out_with_a_note(monkeypatch):
    fake(monkeypatch, devices=[H100, {**V100_NO_COUNTER, "power": False}])
    probe = probe_nvml("all", {})
    assert len(probe.meter.channels) == 1
    assert any("neither energy nor power" in note for note in probe.notes)


# -- the counter path ---------------------------------------------------------------------


def test_counter_path_tracks_energy_and_interpolates_between_steps(monkeypatch, clock):
    _, meter = meter_with_clock(monkeypatch, clock)
    meter.start()
    (first,) = meter.read()
    clock.advance(0.03)  # inside one 100 ms update: the raw counter has not moved
    (early,) = meter.read()
    assert 0 < early - first == pytest.approx(300 * 0.03, rel=0.01)
    for _ in range(40):  # 1 s, polled as the sampler would
        clock.advance(0.025)
        meter.poll()
    (later,) = meter.read()
    assert later - first == pytest.approx(300 * 1.03, rel=0.01)
    updates, extra = meter.interpolation_state()
    assert updates >= 9 and 0 <= extra <= 300 * 0.1 + 1e-6


def test_reads_never_decrease_when_power_drops(monkeypatch, clock):
    # A steep curve: extrapolating from recent power overshoots when power falls.
    _, meter = meter_with_clock(
        monkeypatch, clock, devices=[{**H100, "base_w": 400, "amplitude_w": 350, "period_s": 0.8}]
    )
    meter.start()
    values = []
    for _ in range(400):
        clock.advance(0.007)
        values.append(meter.read()[0])
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_extrapolation_stops_when_the_counter_stalls(monkeypatch, clock):
    _, meter = meter_with_clock(monkeypatch, clock, devices=[{**H100, "step_s": 1000.0}])
    meter.start()
    clock.advance(5.0)
    assert meter.read()[0] == pytest.approx(300 * HORIZON_S)


def test_session_total_is_the_counters_own_figure(monkeypatch, clock):
    module, meter = meter_with_clock(
        monkeypatch, clock, devices=[{**H100, "base_w": 250, "amplitude_w": 200, "period_s": 0.7}]
    )
    meter.start()
    device = module.machine.devices[0]
    start_raw = module.nvmlDeviceGetTotalEnergyConsumption(module.nvmlDeviceGetHandleByIndex(0))
    for i in range(300):
        clock.advance(0.011)
        meter.read() if i % 3 else meter.poll()
    clock.advance(0.1)
    meter.settle(timeout_s=0)
    (total,) = meter.read()
    raw = module.nvmlDeviceGetTotalEnergyConsumption(module.nvmlDeviceGetHandleByIndex(0))
    assert total == pytest.approx((raw - start_raw) / 1000, abs=1e-9)
    assert total == pytest.approx(device.joules_until(device.last_update(module.machine.now())), abs=0.002)


# -- the polling path ---------------------------------------------------------------------


def test_power_integration_of_a_known_curve_within_one_percent(monkeypatch, clock):
    curve = {**V100_NO_COUNTER, "base_w": 180.0, "amplitude_w": 90.0, "period_s": 1.7}
    module, meter = meter_with_clock(monkeypatch, clock, devices=[curve])
    assert meter.counter == [False]
    meter.start()
    duration = 10.0
    steps = int(duration / meter.poll_interval_s)
    for _ in range(steps):
        clock.advance(meter.poll_interval_s)
        meter.poll()
    meter.settle()
    (energy,) = meter.read()
    device = module.machine.devices[0]
    truth = device.joules_until(module.machine.now())
    assert energy == pytest.approx(truth, rel=0.01)
    assert module.calls.get("nvmlDeviceGetTotalEnergyConsumption", 0) == 1  # the probe's one try


def test_polling_path_read_makes_no_nvml_call(monkeypatch, clock):
    module, meter = meter_with_clock(monkeypatch, clock, devices=[V100_NO_COUNTER])
    meter.start()
    before = dict(module.calls)
    clock.advance(0.01)
    (value,) = meter.read()
    assert value == pytest.approx(200 * 0.01)
    assert module.calls == before


# -- failure mid-run ------------------------------------------------------------------------


def test_error_mid_run_drops_the_meter_once(monkeypatch):
    fake(monkeypatch, fail_after_calls=6)
    meter = probe_nvml("visible", {}).meter
    meters = MeterSet([meter])
    meters.start()
    try:
        snapshots = [meters.read() for _ in range(6)]
    finally:
        meters.close()
    assert "nvml" in meters.dropped and "GpuIsLost" in meters.dropped["nvml"]
    assert len(meters.warnings) == 1
    assert snapshots[-1][1:] == snapshots[-2][1:]


# -- through pytest -------------------------------------------------------------------------

SUITE = """
import time

def test_short_a():
    time.sleep(0.02)

def test_short_b():
    time.sleep(0.02)

def test_long():
    time.sleep(0.7)
"""


def run_json(pytester, *args):
    result = pytester.runpytest_subprocess("--carbon-json=carbon.json", *args)
    report = json.loads((pytester.path / "carbon.json").read_text())
    return result, report


def test_plugin_output_with_two_gpus(pytester, monkeypatch, tmp_path):
    on_pythonpath(
        monkeypatch,
        tmp_path,
        FAKE_NVML_DIR,
        "FAKE_NVML_CONFIG",
        {
            "devices": [{**H100, "uuid": "GPU-11111111-aaaa"}, {**H100, "uuid": "GPU-22222222-bbbb", "base_w": 100.0}],
        },
    )
    pytester.makepyfile(SUITE)
    result, report = run_json(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*nvml GPU 0 NVIDIA H100 80GB HBM3 (GPU-11111111) energy counter, GPU 1 NVIDIA H100 80GB HBM3 (GPU-22222222) energy counter*",
            "*by meter:*nvml *(GPU 0 NVIDIA H100 80GB HBM3 *J, GPU 1 NVIDIA H100 80GB HBM3 *J)*",
        ]
    )
    session = report["session"]
    (nvml,) = [m for m in session["meters"] if m["name"] == "nvml"]
    assert [c["details"]["uuid"] for c in nvml["channels"]] == ["GPU-11111111-aaaa", "GPU-22222222-bbbb"]
    gpu0, gpu1 = (c["energy_j"] for c in nvml["channels"])
    # 300 W and 100 W for the whole session; the counter's own figure (steps of 100 ms).
    assert gpu0 == pytest.approx(300 * session["duration_s"], abs=300 * 0.25)
    assert gpu1 == pytest.approx(gpu0 / 3, rel=0.1)
    # Conservation, GPU channels included: every account adds up to the session total.
    breakdown = sum(session["breakdown"].values())
    assert breakdown == pytest.approx(session["energy_j"], rel=1e-9, abs=1e-9)
    for channel in nvml["channels"]:
        key = f"nvml/{channel['name']}"
        tests = sum(t["by_channel"][key] for t in report["tests"])
        assert tests <= channel["energy_j"]
    tests_nvml = sum(t["by_meter"]["nvml"] for t in report["tests"])
    overhead_nvml = sum(part["by_meter"].get("nvml", 0) for part in session["overhead"].values())
    fixtures_nvml = sum(f["by_meter"].get("nvml", 0) for f in report["fixtures"])
    assert tests_nvml + overhead_nvml + fixtures_nvml == pytest.approx(nvml["energy_j"], rel=1e-9)


def test_short_tests_get_interpolated_figures_and_a_flag(pytester, monkeypatch, tmp_path):
    on_pythonpath(monkeypatch, tmp_path, FAKE_NVML_DIR, "FAKE_NVML_CONFIG", {"devices": [H100]})
    pytester.makepyfile(
        SUITE + "\nimport pytest\n@pytest.mark.parametrize('i', range(12))\ndef test_short(i):\n    time.sleep(0.02)\n"
    )
    result, report = run_json(pytester, "-v")
    assert result.ret == 0
    short = [t for t in report["tests"] if "::test_short" in t["nodeid"]]
    assert len(short) == 14 and all("gpu-interpolated" in t["flags"] for t in short)
    # Not 0 and not a whole 30 J step: about 300 W over each test's own duration.
    ratios = sorted(t["by_meter"]["nvml"] / (300 * t["duration_s"]) for t in short)
    assert all(r > 0 for r in ratios)
    assert 0.8 < ratios[len(ratios) // 2] < 1.25
    total = sum(t["by_meter"]["nvml"] for t in short) / sum(300 * t["duration_s"] for t in short)
    assert 0.8 < total < 1.25
    long = next(t for t in report["tests"] if t["nodeid"].endswith("test_long"))
    assert "gpu-interpolated" not in long["flags"]
    assert long["by_meter"]["nvml"] == pytest.approx(300 * long["duration_s"], rel=0.2)
    result.stdout.fnmatch_lines(["*test_short_a*[[]gpu-interpolated[]]*"])


def test_polling_path_through_pytest(pytester, monkeypatch, tmp_path):
    on_pythonpath(monkeypatch, tmp_path, FAKE_NVML_DIR, "FAKE_NVML_CONFIG", {"devices": [V100_NO_COUNTER]})
    pytester.makepyfile(SUITE)
    result, report = run_json(pytester)
    assert result.ret == 0
    (nvml,) = [m for m in report["session"]["meters"] if m["name"] == "nvml"]
    assert "power polled" in nvml["channels"][0]["details"]["reading"]
    assert nvml["energy_j"] == pytest.approx(200 * report["session"]["duration_s"], rel=0.1)
    long = next(t for t in report["tests"] if t["nodeid"].endswith("test_long"))
    assert long["by_meter"]["nvml"] == pytest.approx(200 * long["duration_s"], rel=0.1)


def test_nvml_failure_mid_run_keeps_outcomes(pytester, monkeypatch, tmp_path):
    on_pythonpath(monkeypatch, tmp_path, FAKE_NVML_DIR, "FAKE_NVML_CONFIG", {"devices": [H100], "fail_after_s": 0.3})
    pytester.makepyfile(SUITE + "\ndef test_fails():\n    assert 0\n")
    result, report = run_json(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*warning: meter nvml failed and was dropped*GpuIsLost*"])
    warnings = report["session"]["warnings"]
    assert len([w for w in warnings if "meter nvml failed" in w]) == 1
    (nvml,) = [m for m in report["session"]["meters"] if m["name"] == "nvml"]
    assert "GpuIsLost" in nvml["dropped"]


def test_mig_visible_devices_through_pytest(pytester, monkeypatch, tmp_path):
    on_pythonpath(
        monkeypatch,
        tmp_path,
        FAKE_NVML_DIR,
        "FAKE_NVML_CONFIG",
        {
            "devices": [H100, {**H100, "mig": ["MIG-5f5f5f5f-1234"]}],
        },
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-5f5f5f5f-1234")
    pytester.makepyfile("def test_one():\n    pass\n")
    result, report = run_json(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*note: MIG instance MIG-5f5f5f5f-1234 metered through the whole parent GPU 1*"])
    (nvml,) = [m for m in report["session"]["meters"] if m["name"] == "nvml"]
    assert [c["details"]["index"] for c in nvml["channels"]] == ["1"]


def test_gpus_option_from_pyproject_and_bad_values(pytester, monkeypatch, tmp_path):
    config = {"devices": [H100, H100, H100]}
    module = install(monkeypatch, "pynvml", FAKE_NVML_DIR, config)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    pytester.makepyprojecttoml('[tool.pytest_carbon]\ngpus = "0,2"\njson = "carbon.json"\n')
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == 0
    report = json.loads((pytester.path / "carbon.json").read_text())
    (nvml,) = [m for m in report["session"]["meters"] if m["name"] == "nvml"]
    assert [c["details"]["index"] for c in nvml["channels"]] == ["0", "2"]
    assert module._init_count == 0  # shut down at the end

    result = pytester.runpytest("--carbon-gpus=7")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*--carbon-gpus: '7' names GPU index 7, which does not exist (this machine has: 0, 1, 2)*"]
    )
    result = pytester.runpytest("--carbon-gpus=first")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--carbon-gpus: 'first' has 'first', which is not a device index*"])


def test_no_gpu_means_no_nvml_calls_at_boundaries(pytester, monkeypatch):
    module = install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": [H100]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(20))\ndef test_one(i):\n    pass\n")
    before = sum(module.calls.values())
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    reading = {k: v for k, v in module.calls.items() if "Energy" in k or "Power" in k}
    assert reading == {}
    assert sum(module.calls.values()) - before < 15  # the probe's handful, nothing per test
    (by_meter,) = [line for line in result.outlines if line.startswith("  by meter:")]
    assert "estimate" in by_meter and "nvml" not in by_meter


def test_explicit_meter_request_without_gpu_is_a_usage_error(pytester, monkeypatch):
    install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": []})
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest("--carbon-meters=nvml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*asks for nvml, which is unavailable here: NVML works but this machine has no NVIDIA GPU*"]
    )


def test_sine_curve_matches_its_integral():
    # The fake's own ground truth: joules_until is the exact integral of watts_at.
    import importlib

    power = importlib.import_module("fake_gpu_power") if "fake_gpu_power" in __import__("sys").modules else None
    if power is None:
        import sys

        from fakes import load_fake

        fake_mod = load_fake("pynvml", FAKE_NVML_DIR)
        power = sys.modules["fake_gpu_power"]
        del fake_mod
    device = power.Device(0, {"base_w": 100.0, "amplitude_w": 40.0, "period_s": 0.9})
    n = 20000
    riemann = sum(device.watts_at((i + 0.5) * 2.0 / n) for i in range(n)) * 2.0 / n
    assert device.joules_until(2.0) == pytest.approx(riemann, rel=1e-6)
    assert not math.isclose(device.joules_until(2.0), 200.0, rel_tol=1e-3)
