"""Which meters a run uses, and what happens to the ones it does not."""

from __future__ import annotations

import pytest
from fakes import FAKE_NVML_DIR, install

from pytest_carbon.meters.base import Meter
from pytest_carbon.meters.discovery import MeterOptions, select_meters
from pytest_carbon.values.errors import CarbonConfigError


def test_an_unused_gpu_probe_shuts_nvml_down(monkeypatch):
    fake = install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": [{}]})
    selection = select_meters(("estimate",), MeterOptions(environ={}), "--carbon-meters")
    assert [m.name for m in selection.meters] == ["estimate"]
    assert selection.probes["nvml"].available
    assert fake.calls.get("nvmlInit", 0) == fake.calls.get("nvmlShutdown", 0) == 1


def test_auto_uses_the_gpu_and_estimates_the_rest(monkeypatch):
    fake = install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": [{}]})
    selection = select_meters(("auto",), MeterOptions(environ={}), "--carbon-meters")
    assert [m.name for m in selection.meters] == ["nvml", "estimate"]
    assert selection.estimated == {"cpu", "memory"}
    assert fake.calls.get("nvmlShutdown", 0) == 0
    for meter in selection.meters:
        meter.close()


def test_asking_for_a_missing_gpu_meter_is_a_usage_error(monkeypatch):
    install(monkeypatch, "pynvml", FAKE_NVML_DIR, {"devices": []})
    with pytest.raises(CarbonConfigError, match="asks for nvml, which is unavailable here"):
        select_meters(("nvml",), MeterOptions(environ={}), "--carbon-meters")


class FlakySnapshotMeter(Meter):
    """A meter with its own snapshot that fails on its fourth reading."""

    name = "flaky"
    measured = False
    poll_interval_s = None

    def __init__(self):
        from pytest_carbon.meters.base import Channel

        self.channels = (Channel("flaky", "cpu", "cpu"),)
        self.calls = 0

    def start(self):
        pass

    def snapshot(self):
        self.calls += 1
        if self.calls >= 4:
            raise OSError("counter vanished")
        return [float(self.calls), 10.0 * self.calls]

    def snapshot_reader(self):
        return self.snapshot

    def read(self):
        return tuple(self.snapshot()[1:])

    def describe(self):
        return "flaky"


def test_a_meter_failing_on_the_snapshot_path_is_dropped_and_holds_its_last_value():
    from pytest_carbon.meters.meter_set import MeterSet

    meters = MeterSet([FlakySnapshotMeter()])
    meters.start()  # reading 1
    assert meters.read()[1:] == [20.0]  # reading 2
    assert meters.read()[1:] == [30.0]  # reading 3
    after_failure = meters.read()  # reading 4 fails: dropped, last value held
    assert after_failure[1:] == [30.0]
    assert meters.read()[1:] == [30.0]
    assert "flaky" in meters.dropped and "counter vanished" in meters.dropped["flaky"]
    assert len(meters.warnings) == 1


def test_the_ledger_reading_the_meter_directly_drops_it_on_failure_and_holds_its_last_value():
    from pytest_carbon.ledger import COLLECTION, FINISH, Ledger
    from pytest_carbon.meters.meter_set import MeterSet

    meters = MeterSet([FlakySnapshotMeter()])
    meters.start()  # reading 1
    assert meters.fast_read is not meters.read  # the ledger calls the meter's snapshot itself
    ledger = Ledger(meters.fast_read, 1, meters.recover)  # reading 2
    ledger.enter_overhead(COLLECTION)  # reading 3
    held = ledger.enter_overhead(FINISH)  # reading 4 fails: dropped, last value held
    assert list(held[1:]) == [30.0]
    assert list(ledger.close(FINISH)[1:]) == [30.0]  # read through the meter set from now on
    assert ledger.read == meters.read
    assert "flaky" in meters.dropped and "counter vanished" in meters.dropped["flaky"]
    assert sum(ledger.overhead.energy) == sum(ledger.session_channels()) == 10.0


def test_official_nvml_bindings_are_not_imported_without_an_nvidia_driver(tmp_path, monkeypatch):
    from pytest_carbon.meters import nvml

    site = tmp_path / "site"
    (site / "nvidia_ml_py-13.0.0.dist-info").mkdir(parents=True)
    (site / "pynvml.py").write_text("raise AssertionError('the bindings were imported')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(__import__("sys").modules, "pynvml", raising=False)
    absent = str(tmp_path / "dev" / "nvidiactl")
    monkeypatch.setattr(nvml, "NVIDIA_DRIVER_DEVICES", (absent,))
    probe = nvml.probe_nvml("visible", {})
    assert not probe.available
    assert f"none of {absent} exists" in probe.summary
    assert "nvidia-smi" in probe.fix


def test_official_nvml_bindings_are_asked_where_an_nvidia_driver_is_visible(tmp_path, monkeypatch):
    from pytest_carbon.meters import nvml

    site = tmp_path / "site"
    (site / "nvidia_ml_py-13.0.0.dist-info").mkdir(parents=True)
    (site / "pynvml.py").write_text(
        "class NVMLError(Exception):\n    pass\ndef nvmlInit():\n    raise NVMLError('asked the driver')\n"
    )
    device = tmp_path / "nvidiactl"
    device.write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(__import__("sys").modules, "pynvml", raising=False)
    monkeypatch.setattr(nvml, "NVIDIA_DRIVER_DEVICES", (str(tmp_path / "absent"), str(device)))
    probe = nvml.probe_nvml("visible", {})
    assert not probe.available and "asked the driver" in probe.summary


def test_a_module_named_pynvml_from_elsewhere_is_imported_and_asked(tmp_path, monkeypatch):
    from pytest_carbon.meters import nvml

    site = tmp_path / "site"
    site.mkdir()
    (site / "pynvml.py").write_text(
        "class NVMLError(Exception):\n    pass\ndef nvmlInit():\n    raise NVMLError('no driver here')\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(__import__("sys").modules, "pynvml", raising=False)
    probe = nvml.probe_nvml("visible", {})
    assert not probe.available and "no driver here" in probe.summary


class PolledMeter(FlakySnapshotMeter):
    """A meter that needs polling and cannot do it at readings (a wrapping counter)."""

    name = "polled"
    poll_interval_s = 0.05

    def poll(self):
        pass


def test_a_meter_that_cannot_poll_at_readings_starts_the_sampler_at_once():
    from pytest_carbon.meters.meter_set import MeterSet

    meters = MeterSet([PolledMeter()])
    meters.start()
    try:
        assert meters._sampler is not None and meters._sampler.running
    finally:
        meters.close()
    assert not meters._sampler.running
