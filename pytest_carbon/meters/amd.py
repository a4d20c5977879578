"""AMD GPUs through `amdsmi` (ROCm 6.x): the energy accumulator times its resolution.

`amdsmi_get_energy_count` returns an accumulator in ticks and `counter_resolution` in
µJ per tick; the accumulator's key was `power` before ROCm 6.4 and `energy_accumulator`
since. Where the counter is missing, socket power is polled and integrated. Which GPUs:
`--carbon-gpus`, else HIP_VISIBLE_DEVICES (or CUDA_VISIBLE_DEVICES, which HIP honours)
as indices or UUID prefixes, in PCI bus order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pytest_carbon.meters.base import Probe
from pytest_carbon.meters.gpu_devices import GpuDevice, choose_gpus
from pytest_carbon.meters.gpu_energy import Reading, gpu_probe

_FIX = "nothing to do without AMD GPUs; otherwise install ROCm 6.3 or newer with its amdsmi Python package"


def _accumulator(counts: Mapping[str, Any]) -> float:
    ticks = counts.get("energy_accumulator", counts.get("power"))
    return float(ticks) * float(counts["counter_resolution"]) / 1e6


def _socket_power(info: Mapping[str, Any]) -> float:
    for key in ("current_socket_power", "average_socket_power"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    raise ValueError(f"no socket power in {sorted(info)}")


class AmdSmiSource:
    def __init__(self, amdsmi: ModuleType, handles: list[Any]) -> None:
        self._amdsmi = amdsmi
        self._handles = handles
        self._energy = amdsmi.amdsmi_get_energy_count
        self._power = amdsmi.amdsmi_get_power_info
        self._open = True

    def energy_j(self, position: int) -> float:
        return _accumulator(self._energy(self._handles[position]))

    def power_w(self, position: int) -> float:
        return _socket_power(self._power(self._handles[position]))

    def close(self) -> None:
        if self._open:
            self._open = False
            _shutdown(self._amdsmi)


def probe_amdsmi(gpus: str, environ: Mapping[str, str], origin: str = "--carbon-gpus") -> Probe:
    try:
        import amdsmi
    except ImportError as error:
        return Probe("amdsmi", False, f"the amdsmi bindings cannot be imported ({error})", fix=_FIX)
    try:
        amdsmi.amdsmi_init()
    except Exception as error:
        return Probe("amdsmi", False, f"amdsmi is unavailable: {type(error).__name__}: {error}", fix=_FIX)
    try:
        return _probe_initialised(amdsmi, gpus, environ, origin)
    except BaseException:
        _shutdown(amdsmi)
        raise


def _probe_initialised(amdsmi: ModuleType, gpus: str, environ: Mapping[str, str], origin: str) -> Probe:
    try:
        handles = list(amdsmi.amdsmi_get_processor_handles())
        devices = [
            GpuDevice(
                index,
                str(amdsmi.amdsmi_get_gpu_device_uuid(handle)),
                str(amdsmi.amdsmi_get_gpu_asic_info(handle).get("market_name", "AMD GPU")),
                str(amdsmi.amdsmi_get_gpu_device_bdf(handle)),
            )
            for index, handle in enumerate(handles)
        ]
    except Exception as error:
        _shutdown(amdsmi)
        return Probe(
            "amdsmi", False, f"amdsmi started but listing GPUs failed: {type(error).__name__}: {error}", fix=_FIX
        )
    if not devices:
        _shutdown(amdsmi)
        return Probe("amdsmi", False, "amdsmi works but this machine has no AMD GPU")
    visible = environ.get("HIP_VISIBLE_DEVICES", environ.get("CUDA_VISIBLE_DEVICES"))
    hip_environ = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    if visible is not None:
        hip_environ["CUDA_VISIBLE_DEVICES"] = visible
    choice = choose_gpus(devices, gpus, hip_environ, origin)
    notes = [
        n.replace(
            "CUDA_VISIBLE_DEVICES",
            "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in environ else "CUDA_VISIBLE_DEVICES",
        )
        for n in choice.notes
    ]
    return gpu_probe(
        "amdsmi",
        "amdsmi",
        choice,
        notes,
        dict(enumerate(handles)),
        lambda handle: _reading_mode(amdsmi, handle),
        lambda chosen: AmdSmiSource(amdsmi, chosen),
        lambda: _shutdown(amdsmi),
    )


def _reading_mode(amdsmi: ModuleType, handle: Any) -> Reading | None:
    if _works(lambda: _accumulator(amdsmi.amdsmi_get_energy_count(handle))):
        return "counter"
    if _works(lambda: _socket_power(amdsmi.amdsmi_get_power_info(handle))):
        return "power"
    return None


def _works(call: Any) -> bool:
    try:
        call()
        return True
    except Exception:
        return False


def _shutdown(amdsmi: ModuleType) -> None:
    try:
        amdsmi.amdsmi_shut_down()
    except Exception:
        pass
