"""Which meters a run uses, and what happens to the ones it does not."""

from __future__ import annotations

import pytest

from fakes import FAKE_NVML_DIR, install
from pytest_carbon.errors import CarbonConfigError
from pytest_carbon.meters import MeterOptions, select_meters


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
