"""A stand-in for ROCm's `amdsmi` Python package, backed by ../fake_gpu_power.py.

Configure with FAKE_AMDSMI_CONFIG=<json file> or `configure({...})` (same format as the
fake NVML; "accumulator_key" picks "energy_accumulator" (ROCm >= 6.4) or "power").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

# The shared synthetic GPU lives one directory up, outside what is put on PYTHONPATH.
sys.path.append(str(Path(__file__).resolve().parent.parent))
import fake_gpu_power as _power  # noqa: E402

COUNTER_RESOLUTION_UJ = 15.259  # µJ per tick, as MI200/MI300 report


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code: int) -> None:
        super().__init__(f"amdsmi error {err_code}")
        self.err_code = err_code


machine = _power.Machine("FAKE_AMDSMI_CONFIG")
_initialised = False


def configure(config: dict[str, Any] | None) -> None:
    machine.configure(config)


def set_clock(clock: Any) -> None:
    machine.clock = clock


class _Handle:
    def __init__(self, device: Any) -> None:
        self.device = device


def _check() -> None:
    if not _initialised:
        raise AmdSmiLibraryException(32)  # AMDSMI_STATUS_NOT_INIT


def amdsmi_init(flag: int = 0) -> None:
    global _initialised
    config = machine.load()
    if config.get("init_error"):
        raise AmdSmiLibraryException(2)
    machine.start()
    _initialised = True


def amdsmi_shut_down() -> None:
    global _initialised
    _check()
    _initialised = False


def amdsmi_get_processor_handles() -> list[_Handle]:
    _check()
    return [_Handle(d) for d in machine.devices]


def amdsmi_get_gpu_device_uuid(handle: _Handle) -> str:
    _check()
    return handle.device.uuid


def amdsmi_get_gpu_device_bdf(handle: _Handle) -> str:
    _check()
    return handle.device.pci


def amdsmi_get_gpu_asic_info(handle: _Handle) -> dict[str, Any]:
    _check()
    return {"market_name": handle.device.name, "vendor_id": "0x1002"}


def amdsmi_get_energy_count(handle: _Handle) -> dict[str, Any]:
    _check()
    device = handle.device
    if machine.should_fail():
        raise AmdSmiLibraryException(8)
    if not device.energy_counter:
        raise AmdSmiLibraryException(2)  # AMDSMI_STATUS_NOT_SUPPORTED
    config = machine.load()
    key = config.get("accumulator_key", "energy_accumulator")
    ticks = int((device.start_mj / 1000 + machine.energy_j(device)) * 1e6 / COUNTER_RESOLUTION_UJ)
    return {key: ticks, "counter_resolution": COUNTER_RESOLUTION_UJ, "timestamp": time.monotonic_ns()}


def amdsmi_get_power_info(handle: _Handle) -> dict[str, Any]:
    _check()
    device = handle.device
    if machine.should_fail():
        raise AmdSmiLibraryException(8)
    if not device.power:
        raise AmdSmiLibraryException(2)
    watts = machine.power_w(device)
    return {"current_socket_power": int(watts), "average_socket_power": int(watts), "gfx_voltage": 0, "power_limit": 700}
