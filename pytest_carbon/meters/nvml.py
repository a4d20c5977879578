"""NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml`).

Volta and newer: `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded).
Older GPUs, or where that raises NotSupported: `nvmlDeviceGetPowerUsage` (mW) polled by
the sampler thread and integrated. `pynvml` is imported only when probing, and a
machine without the library, the driver or a GPU simply has no `nvml` meter.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pytest_carbon.meters.base import Probe
from pytest_carbon.meters.gpu_devices import GpuDevice, choose_gpus, wants_mig
from pytest_carbon.meters.gpu_energy import Reading, gpu_probe

_FIX_DRIVER = (
    "nothing to do on a machine without NVIDIA GPUs; otherwise install the NVIDIA driver "
    "(it ships libnvidia-ml.so) and check that `nvidia-smi` works for this user"
)


# NVML talks to the kernel driver through these (the second under WSL 2); without them
# nvmlInit can only fail.
NVIDIA_DRIVER_DEVICES = ("/dev/nvidiactl", "/dev/dxg")


class NvmlSource:
    """Readings of the chosen GPUs through already-opened NVML handles."""

    def __init__(self, nvml: ModuleType, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles
        self._energy = nvml.nvmlDeviceGetTotalEnergyConsumption
        self._power = nvml.nvmlDeviceGetPowerUsage
        self._open = True

    def energy_j(self, position: int) -> float:
        return float(self._energy(self._handles[position])) / 1000.0

    def power_w(self, position: int) -> float:
        return float(self._power(self._handles[position])) / 1000.0

    def process_share(self, position: int, pids: set[int]) -> float | None:
        """Share of the GPU's recent SM utilisation that belongs to `pids` (None: unknown)."""
        try:
            samples = self._nvml.nvmlDeviceGetProcessUtilization(self._handles[position], 0)
        except Exception:  # not supported, no samples yet, or no permission
            return None
        total: float = sum(sample.smUtil for sample in samples)
        if total <= 0:
            return None
        return float(sum(sample.smUtil for sample in samples if sample.pid in pids)) / total

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


def official_bindings_without_driver() -> str | None:
    """The official bindings (nvidia-ml-py) on a Linux machine without an NVIDIA driver: the
    reason, found without paying for their import (tens of milliseconds on every run of a
    machine without NVIDIA GPUs). None when the import should be tried."""
    if not sys.platform.startswith("linux"):
        return None
    if any(os.path.exists(path) for path in NVIDIA_DRIVER_DEVICES):
        return None
    import importlib.util

    spec = importlib.util.find_spec("pynvml")
    if spec is None or spec.origin is None:
        return None
    if not any(Path(spec.origin).parent.glob("nvidia_ml_py-*.dist-info")):
        return None  # some other module named pynvml: let it speak for itself
    return f"no NVIDIA driver is visible here (none of {', '.join(NVIDIA_DRIVER_DEVICES)} exists)"


def probe_nvml(gpus: str, environ: Mapping[str, str], origin: str = "--carbon-gpus") -> Probe:
    missing = official_bindings_without_driver()
    if missing is not None:
        return Probe("nvml", False, f"NVML is unavailable: {missing}", fix=_FIX_DRIVER)
    try:
        import pynvml
    except ImportError as error:
        return Probe(
            "nvml",
            False,
            f"the NVML bindings cannot be imported ({error})",
            fix="`pip install nvidia-ml-py` (a dependency of pytest-carbon) if this machine has NVIDIA GPUs",
        )
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return Probe("nvml", False, f"NVML is unavailable: {_error_text(error)}", fix=_FIX_DRIVER)
    try:
        return _probe_initialised(pynvml, gpus, environ, origin)
    except BaseException:
        _shutdown(pynvml)
        raise


def _probe_initialised(pynvml: ModuleType, gpus: str, environ: Mapping[str, str], origin: str) -> Probe:
    try:
        devices, handles = _enumerate(pynvml, wants_mig(environ))
    except pynvml.NVMLError as error:
        _shutdown(pynvml)
        return Probe("nvml", False, f"NVML started but listing GPUs failed: {_error_text(error)}", fix=_FIX_DRIVER)
    if not devices:
        _shutdown(pynvml)
        return Probe("nvml", False, "NVML works but this machine has no NVIDIA GPU")
    choice = choose_gpus(devices, gpus, environ, origin)
    notes = list(choice.notes)
    if not choice.devices:
        _shutdown(pynvml)
        return Probe(
            "nvml", False, f"no NVIDIA GPU is selected for this run ({len(devices)} on the machine)", notes=notes
        )
    return gpu_probe(
        "nvml",
        "NVML",
        choice,
        notes,
        handles,
        lambda handle: _reading_mode(pynvml, handle),
        lambda chosen: NvmlSource(pynvml, chosen),
        lambda: _shutdown(pynvml),
    )


def _enumerate(pynvml: ModuleType, with_mig: bool) -> tuple[list[GpuDevice], dict[int, Any]]:
    devices: list[GpuDevice] = []
    handles: dict[int, Any] = {}
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        handles[index] = handle
        pci = ""
        try:
            pci = _text(pynvml.nvmlDeviceGetPciInfo(handle).busId)
        except (pynvml.NVMLError, AttributeError):
            pass
        devices.append(
            GpuDevice(
                index,
                _text(pynvml.nvmlDeviceGetUUID(handle)),
                _text(pynvml.nvmlDeviceGetName(handle)),
                pci,
                _mig_uuids(pynvml, handle) if with_mig else (),
            )
        )
    return devices, handles


def _mig_uuids(pynvml: ModuleType, handle: Any) -> tuple[str, ...]:
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
        if current != getattr(pynvml, "NVML_DEVICE_MIG_ENABLE", 1):
            return ()
        uuids = []
        for slot in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except pynvml.NVMLError:
                continue  # an empty slot
            uuids.append(_text(pynvml.nvmlDeviceGetUUID(mig)))
        return tuple(uuids)
    except pynvml.NVMLError:
        return ()


def _reading_mode(pynvml: ModuleType, handle: Any) -> Reading | None:
    try:
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return "counter"
    except pynvml.NVMLError:
        pass
    try:
        pynvml.nvmlDeviceGetPowerUsage(handle)
        return "power"
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _shutdown(pynvml: ModuleType) -> None:
    try:
        pynvml.nvmlShutdown()
    except Exception:
        pass
