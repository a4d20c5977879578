"""A stand-in for `pynvml` (nvidia-ml-py) on machines without NVIDIA GPUs.

Same names, same error classes and same units as the real bindings, backed by the
synthetic GPU of ../fake_gpu_power.py. Put this directory first on PYTHONPATH (or place
the module in sys.modules["pynvml"]) and configure it with FAKE_NVML_CONFIG=<json file>
or `configure({...})`. Without configuration: one H100 drawing 300 W.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The shared synthetic GPU lives one directory up, outside what is put on PYTHONPATH.
sys.path.append(str(Path(__file__).resolve().parent.parent))
import fake_gpu_power as _power  # noqa: E402

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

NVML_DEVICE_ARCH_KEPLER = 2
NVML_DEVICE_ARCH_MAXWELL = 3
NVML_DEVICE_ARCH_PASCAL = 4
NVML_DEVICE_ARCH_VOLTA = 5
NVML_DEVICE_ARCH_TURING = 6
NVML_DEVICE_ARCH_AMPERE = 7
NVML_DEVICE_ARCH_ADA = 8
NVML_DEVICE_ARCH_HOPPER = 9
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """Like the real class: NVMLError(code) builds the matching subclass."""

    _valClassMapping: dict[int, type] = {}

    def __new__(cls, value: int) -> "NVMLError":
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type:
    cls = type(f"NVMLError_{name}", (NVMLError,), {"__new__": lambda c, v=code: NVMLError.__new__(c, v), "__init__": lambda self, v=code: NVMLError.__init__(self, v)})
    NVMLError._valClassMapping[code] = cls
    return cls


NVMLError_Uninitialized = _error_class("Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error_class("NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error_class("LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _error_class("GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_Unknown = _error_class("Unknown", NVML_ERROR_UNKNOWN)

machine = _power.Machine("FAKE_NVML_CONFIG")
_init_count = 0
calls: dict[str, int] = {}


def configure(config: dict[str, Any] | None) -> None:
    """Use this configuration instead of FAKE_NVML_CONFIG (None: back to the variable)."""
    machine.configure(config)


def set_clock(clock: Any) -> None:
    machine.clock = clock


class _Handle:
    def __init__(self, device: Any, mig_slot: int | None = None) -> None:
        self.device = device
        self.mig_slot = mig_slot


class _PciInfo:
    def __init__(self, bus_id: str) -> None:
        self.busId = bus_id
        self.busIdLegacy = bus_id[4:]


def _count(name: str) -> None:
    calls[name] = calls.get(name, 0) + 1
    if _init_count <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


def _physical(handle: _Handle) -> Any:
    if not isinstance(handle, _Handle):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return handle.device


def nvmlInit() -> None:
    global _init_count
    calls["nvmlInit"] = calls.get("nvmlInit", 0) + 1
    config = machine.load()
    error = config.get("init_error")
    if error:
        raise globals()[f"NVMLError_{error}"]()
    if _init_count == 0:
        machine.start()
    _init_count += 1


def nvmlInitWithFlags(flags: int) -> None:
    nvmlInit()


def nvmlShutdown() -> None:
    global _init_count
    _count("nvmlShutdown")
    _init_count -= 1


def nvmlSystemGetDriverVersion() -> str:
    _count("nvmlSystemGetDriverVersion")
    return "550.00-fake"


def nvmlDeviceGetCount() -> int:
    _count("nvmlDeviceGetCount")
    return len(machine.devices)


def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
    _count("nvmlDeviceGetHandleByIndex")
    if not 0 <= index < len(machine.devices):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _Handle(machine.devices[index])


def nvmlDeviceGetHandleByUUID(uuid: str | bytes) -> _Handle:
    _count("nvmlDeviceGetHandleByUUID")
    text = uuid.decode() if isinstance(uuid, bytes) else uuid
    for device in machine.devices:
        if device.uuid == text:
            return _Handle(device)
        if text in device.mig:
            return _Handle(device, device.mig.index(text))
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetUUID(handle: _Handle) -> str:
    _count("nvmlDeviceGetUUID")
    device = _physical(handle)
    return device.uuid if handle.mig_slot is None else device.mig[handle.mig_slot]


def nvmlDeviceGetName(handle: _Handle) -> str:
    _count("nvmlDeviceGetName")
    return _physical(handle).name


def nvmlDeviceGetArchitecture(handle: _Handle) -> int:
    _count("nvmlDeviceGetArchitecture")
    return _physical(handle).arch


def nvmlDeviceGetPciInfo(handle: _Handle) -> _PciInfo:
    _count("nvmlDeviceGetPciInfo")
    return _PciInfo(_physical(handle).pci)


def nvmlDeviceGetMigMode(handle: _Handle) -> list[int]:
    _count("nvmlDeviceGetMigMode")
    mode = NVML_DEVICE_MIG_ENABLE if _physical(handle).mig else NVML_DEVICE_MIG_DISABLE
    return [mode, mode]


def nvmlDeviceGetMaxMigDeviceCount(handle: _Handle) -> int:
    _count("nvmlDeviceGetMaxMigDeviceCount")
    return 7 if _physical(handle).mig else 0


def nvmlDeviceGetMigDeviceHandleByIndex(handle: _Handle, index: int) -> _Handle:
    _count("nvmlDeviceGetMigDeviceHandleByIndex")
    device = _physical(handle)
    if index >= len(device.mig):
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return _Handle(device, index)


def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle: _Handle) -> _Handle:
    _count("nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
    return _Handle(_physical(handle))


def _reading(handle: _Handle, what: str) -> Any:
    device = _physical(handle)
    if handle.mig_slot is not None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # power and energy exist only for the parent
    if machine.should_fail():
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    if what == "energy" and (not device.energy_counter or device.arch < NVML_DEVICE_ARCH_VOLTA):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if what == "power" and not device.power:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return device


def nvmlDeviceGetTotalEnergyConsumption(handle: _Handle) -> int:
    """Millijoules since the driver loaded."""
    _count("nvmlDeviceGetTotalEnergyConsumption")
    device = _reading(handle, "energy")
    return device.start_mj + int(machine.energy_j(device) * 1000)


class c_nvmlProcessUtilizationSample_t:
    def __init__(self, pid: int, sm: int, timestamp: int) -> None:
        self.pid = pid
        self.timeStamp = timestamp
        self.smUtil = sm
        self.memUtil = 0
        self.encUtil = 0
        self.decUtil = 0


def nvmlDeviceGetProcessUtilization(handle: _Handle, lastSeenTimeStamp: int) -> list[c_nvmlProcessUtilizationSample_t]:
    """Recent per-process SM utilisation samples (NVML_ERROR_NOT_FOUND when there are none)."""
    import os

    _count("nvmlDeviceGetProcessUtilization")
    device = _physical(handle)
    if device.process_utilization is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if not device.process_utilization:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    stamp = int(machine.clock() * 1e6)
    return [
        c_nvmlProcessUtilizationSample_t(os.getpid() if entry["pid"] == "self" else int(entry["pid"]), int(entry["sm"]), stamp)
        for entry in device.process_utilization
    ]


def nvmlDeviceGetPowerUsage(handle: _Handle) -> int:
    """Milliwatts."""
    _count("nvmlDeviceGetPowerUsage")
    device = _reading(handle, "power")
    return int(machine.power_w(device) * 1000)
