"""The synthetic GPU behind the fake NVML and amdsmi modules.

Power follows a known curve, P(t) = base + amplitude * sin(2*pi*t / period) watts, with t
in seconds since the library was initialised. Like an A100/H100, the device updates its
readings only every `step_s` (100 ms): the energy counter holds the exact integral of the
curve up to the latest update, and the power reading holds the curve's value at it.
Configuration is a dict (or a JSON file named by an environment variable):

    {"devices": [{"name": ..., "uuid": "GPU-...", "pci": "00000000:1B:00.0",
                  "arch": 9, "base_w": 300, "amplitude_w": 0, "period_s": 1.0,
                  "step_s": 0.1, "energy_counter": true, "power": true,
                  "mig": ["MIG-..."]}],
     "init_error": null | "LibraryNotFound" | "DriverNotLoaded",
     "fail_after_calls": null | N, "fail_after_s": null | S}
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

DEFAULT_DEVICE = {
    "name": "NVIDIA H100 80GB HBM3",
    "arch": 9,
    "base_w": 300.0,
    "amplitude_w": 0.0,
    "period_s": 1.0,
    "step_s": 0.1,
    "energy_counter": True,
    "power": True,
    "mig": [],
    "start_mj": 123_456_789,
    # SM utilisation per process, as nvmlDeviceGetProcessUtilization reports it; the pid
    # "self" stands for whichever process asks. None: the driver does not support it.
    "process_utilization": None,
}


class Device:
    def __init__(self, index: int, config: dict[str, Any]) -> None:
        merged = {**DEFAULT_DEVICE, **config}
        self.index = index
        self.name: str = merged["name"]
        self.uuid: str = merged.get("uuid") or f"GPU-{index:08x}-1111-2222-3333-{index:012x}"
        self.pci: str = merged.get("pci") or f"00000000:{0x10 + index:02X}:00.0"
        self.arch: int = merged["arch"]
        self.base_w = float(merged["base_w"])
        self.amplitude_w = float(merged["amplitude_w"])
        self.period_s = float(merged["period_s"])
        self.step_s = float(merged["step_s"])
        self.energy_counter = bool(merged["energy_counter"])
        self.power = bool(merged["power"])
        self.mig: list[str] = list(merged["mig"])
        self.start_mj = int(merged["start_mj"])
        self.process_utilization: list[dict[str, Any]] | None = merged["process_utilization"]

    def watts_at(self, t: float) -> float:
        return self.base_w + self.amplitude_w * math.sin(2 * math.pi * t / self.period_s)

    def joules_until(self, t: float) -> float:
        """Exact integral of the curve over [0, t]."""
        w = 2 * math.pi / self.period_s
        return self.base_w * t + self.amplitude_w / w * (1 - math.cos(w * t))

    def last_update(self, t: float) -> float:
        return math.floor(t / self.step_s) * self.step_s if self.step_s > 0 else t


class Machine:
    """State shared by a fake library: devices, a clock, failure injection, call counts."""

    def __init__(self, env_var: str) -> None:
        self.env_var = env_var
        self.config: dict[str, Any] | None = None
        self.clock: Callable[[], float] = time.monotonic
        self.t0 = 0.0
        self.devices: list[Device] = []
        self.calls = 0
        self.started_at = 0.0

    def configure(self, config: dict[str, Any] | None) -> None:
        self.config = config

    def load(self) -> dict[str, Any]:
        if self.config is not None:
            return self.config
        path = os.environ.get(self.env_var)
        if not path:
            return {"devices": [{}]}
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    def start(self) -> dict[str, Any]:
        config = self.load()
        self.devices = [Device(i, d) for i, d in enumerate(config.get("devices", []))]
        self.t0 = self.clock()
        self.started_at = time.monotonic()
        self.calls = 0
        return config

    def now(self) -> float:
        return self.clock() - self.t0

    def should_fail(self) -> bool:
        config = self.config if self.config is not None else self.load()
        self.calls += 1
        after_calls = config.get("fail_after_calls")
        after_s = config.get("fail_after_s")
        if after_calls is not None and self.calls > after_calls:
            return True
        return after_s is not None and time.monotonic() - self.started_at > after_s

    def energy_j(self, device: Device) -> float:
        """Counter value: the exact energy up to the latest update."""
        return device.joules_until(device.last_update(self.now()))

    def power_w(self, device: Device) -> float:
        return device.watts_at(device.last_update(self.now()))
