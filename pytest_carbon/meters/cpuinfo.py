"""What CPU this is: model name, vCPU count, and the microarchitecture the power table knows."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import NamedTuple


class CpuInfo(NamedTuple):
    model_name: str
    vendor: str
    family: int | None
    model: int | None
    stepping: int | None
    vcpus: int
    vcpus_source: str


def read_cpuinfo(path: str = "/proc/cpuinfo") -> CpuInfo:
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break  # the first processor block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    vcpus, source = count_vcpus()
    return CpuInfo(
        model_name=fields.get("model name") or platform.processor() or "unknown CPU",
        vendor=fields.get("vendor_id", ""),
        family=_int(fields.get("cpu family")),
        model=_int(fields.get("model")),
        stepping=_int(fields.get("stepping")),
        vcpus=vcpus,
        vcpus_source=source,
    )


def count_vcpus() -> tuple[int, str]:
    """Logical CPUs this machine (or container) may use, and how that was decided."""
    count = os.cpu_count() or 1
    source = "os.cpu_count()"
    if hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
        if 0 < affinity < count:
            count, source = affinity, "CPU affinity"
    quota = cgroup_cpu_quota()
    if quota is not None and quota < count:
        count, source = max(1, round(quota)), "cgroup CPU quota"
    return count, source


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    try:
        text = Path(root, "cpu.max").read_text().split()
    except OSError:
        return None
    if len(text) == 2 and text[0] != "max":
        try:
            return int(text[0]) / int(text[1])
        except (ValueError, ZeroDivisionError):
            return None
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# Xeon Scalable model numbers: the second digit is the generation.
_XEON_SCALABLE = re.compile(r"Xeon.*?(?:Platinum|Gold|Silver|Bronze)\s+\d(\d)\d\d", re.IGNORECASE)
_XEON_E5 = re.compile(r"Xeon.*?E[357]-\d{4}\w*\s*(v\d)?", re.IGNORECASE)
_EPYC = re.compile(r"EPYC\s+(\d)\w\w(\d)", re.IGNORECASE)
_XEON_SCALABLE_GEN = {1: "Skylake", 2: "Cascade Lake", 3: "Ice Lake", 4: "Sapphire Rapids", 5: "Emerald Rapids"}
_XEON_E5_GEN = {None: "Sandy Bridge", "v2": "Ivy Bridge", "v3": "Haswell", "v4": "Broadwell"}
_EPYC_7_GEN = {1: "EPYC 1st Gen", 2: "EPYC 2nd Gen", 3: "EPYC 3rd Gen"}
# (family, model) as reported in /proc/cpuinfo, for cloud CPUs whose name hides the model.
_AMD_FAMILY_MODEL = {
    (23, 1): "EPYC 1st Gen",
    (23, 49): "EPYC 2nd Gen",
    (25, 1): "EPYC 3rd Gen",
    (25, 17): "EPYC 4th Gen",
    (25, 160): "EPYC 4th Gen",  # Bergamo (Zen 4c)
}
_INTEL_MODEL = {
    106: "Ice Lake",
    108: "Ice Lake",
    143: "Sapphire Rapids",
    207: "Emerald Rapids",
    79: "Broadwell",
    63: "Haswell",
    62: "Ivy Bridge",
    45: "Sandy Bridge",
}


def microarchitecture(cpu: CpuInfo) -> tuple[str | None, str]:
    """The microarchitecture name used by the power table, and how it was recognised."""
    name = cpu.model_name
    if match := _EPYC.search(name):
        series, generation = int(match.group(1)), int(match.group(2))
        if series == 7 and generation in _EPYC_7_GEN:
            return _EPYC_7_GEN[generation], f"model name {name!r}"
        if series in (8, 9) and generation == 4:
            return "EPYC 4th Gen", f"model name {name!r}"
    if match := _XEON_SCALABLE.search(name):
        generation = int(match.group(1))
        if generation in _XEON_SCALABLE_GEN:
            return _XEON_SCALABLE_GEN[generation], f"model name {name!r}"
    if match := _XEON_E5.search(name):
        return _XEON_E5_GEN.get(match.group(1) and match.group(1).lower()), f"model name {name!r}"
    if cpu.family is not None and cpu.model is not None:
        where = f"CPU family {cpu.family} model {cpu.model}"
        if cpu.vendor == "AuthenticAMD" and (cpu.family, cpu.model) in _AMD_FAMILY_MODEL:
            return _AMD_FAMILY_MODEL[(cpu.family, cpu.model)], where
        if cpu.vendor == "GenuineIntel" and cpu.family == 6:
            if cpu.model == 85:  # Skylake-SP and Cascade Lake share model 85; stepping tells
                return ("Cascade Lake" if (cpu.stepping or 0) >= 5 else "Skylake"), where + f" stepping {cpu.stepping}"
            if cpu.model in _INTEL_MODEL:
                return _INTEL_MODEL[cpu.model], where
    return None, f"model name {name!r} not recognised"
