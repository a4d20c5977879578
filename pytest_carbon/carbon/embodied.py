"""The embodied share of the hardware, as in the SCI specification (ISO/IEC 21031:2024).

M = TE x (time used / expected life) x (resources used / resources of the host).
TE comes from the Teads server model adopted by Cloud Carbon Footprint (constants.csv),
or from `[tool.pytest_carbon.embodied_hardware]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_carbon.carbon.regions import suggest
from pytest_carbon.data.constants import constant
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.numbers import finite_number

SECONDS_PER_YEAR = 365.25 * 86400
# The default server's share is about 0.008 g per second; a share 100,000 times that is a
# mistake (lifetime_years=1e-9, total_kg=1e300), and a figure it feeds could overflow.
MAX_G_PER_S = 1000.0
TABLE = "embodied_hardware"
BASE_MEMORY_GB = 16.0

# key -> (what is accepted, smallest value, whole number?)
KEYS: dict[str, tuple[str, float, bool]] = {
    "total_kg": ("a number of kgCO2e > 0 (replaces the component model)", 0.0, False),
    "cpus": ("a whole number of CPU sockets >= 1", 1, True),
    "memory_gb": ("a number of GB of DRAM >= 0", 0, False),
    "ssds": ("a whole number of SSDs >= 0", 0, True),
    "gpus": ("a whole number of GPUs >= 0", 0, True),
    "lifetime_years": ("a number of years > 0", 0.0, False),
    "resource_share": ("a number in (0, 1]: the share of the host this run has", 0.0, False),
    "host_vcpus": (
        "a whole number >= 1: vCPUs of the physical host (share = this machine's vCPUs / host_vcpus)",
        1,
        True,
    ),
}
COMPONENT_KEYS = ("cpus", "memory_gb", "ssds", "gpus")
DEFAULTS = {"cpus": 1, "memory_gb": BASE_MEMORY_GB, "ssds": 0, "gpus": 0}


@dataclass(frozen=True)
class EmbodiedModel:
    total_kg: float  # TE
    lifetime_years: float  # EL
    resource_share: float  # RR / ToR
    share_source: str
    basis: str  # "default server", "components from pyproject", "total_kg from pyproject"
    components: dict[str, float] = field(default_factory=dict)

    @property
    def g_per_s(self) -> float:
        return self.total_kg * 1000.0 * self.resource_share / (self.lifetime_years * SECONDS_PER_YEAR)

    def label(self, included: bool) -> str:
        if not included:
            return "embodied emissions excluded (use --carbon-embodied to include)"
        share = "" if self.resource_share == 1.0 else f", share {self.resource_share:.3g}"
        return (
            f"embodied {self.g_per_s * 3600:.3g} g/h included "
            f"({self.basis} {self.total_kg:g} kgCO2e, {self.lifetime_years:g}-year life{share})"
        )

    def to_dict(self, included: bool) -> dict[str, Any]:
        return {
            "included": included,
            "total_kg": self.total_kg,
            "lifetime_years": self.lifetime_years,
            "resource_share": self.resource_share,
            "resource_share_source": self.share_source,
            "basis": self.basis,
            "components": dict(self.components),
            "g_per_s": self.g_per_s,
            "g_per_hour": self.g_per_s * 3600,
            "source": "SCI (ISO/IEC 21031:2024) M = TE x time share x resource share; "
            "server model: Teads 2021 via Cloud Carbon Footprint",
        }


def _number(key: str, raw: object, origin: str) -> float:
    accepted, minimum, whole = KEYS[key]
    value = finite_number(raw)
    if value is None:
        raise CarbonConfigError(raw, origin, "is not a number", accepted)
    if whole and value != int(value):
        raise CarbonConfigError(raw, origin, "is not a whole number", accepted)
    strict = key in ("total_kg", "lifetime_years", "resource_share")
    if value < minimum or (strict and value <= minimum) or (key == "resource_share" and value > 1):
        raise CarbonConfigError(raw, origin, "is out of range", accepted)
    return value


def server_total_kg(cpus: float, memory_gb: float, ssds: float, gpus: float) -> float:
    """TE of a server from its parts (Teads/CCF model)."""
    return (
        constant("embodied_server_base_kg").value
        + max(cpus - 1, 0) * constant("embodied_extra_cpu_kg").value
        + max(memory_gb - BASE_MEMORY_GB, 0) * constant("embodied_dram_kg_per_gb").value
        + ssds * constant("embodied_ssd_kg").value
        + gpus * constant("embodied_gpu_kg").value
    )


def parse_hardware(table: object, where: str, machine_vcpus: int) -> EmbodiedModel:
    """Validate `[tool.pytest_carbon.embodied_hardware]` (may be empty) into a model."""
    origin_table = f"{where.rstrip(']')}.{TABLE}]"
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise CarbonConfigError(table, f"{where} {TABLE}", "is not a table", "a table with the keys " + ", ".join(KEYS))
    values: dict[str, float] = {}
    for key, raw in table.items():
        if key not in KEYS:
            raise CarbonConfigError(
                key, origin_table, f"is an unknown key{suggest(key, list(KEYS))}", "the keys " + ", ".join(KEYS)
            )
        values[key] = _number(key, raw, f"{origin_table} {key}")
    parts = [k for k in COMPONENT_KEYS if k in values]
    if "total_kg" in values and parts:
        raise CarbonConfigError(
            parts[0],
            origin_table,
            "cannot be combined with total_kg",
            "either total_kg or the component counts " + ", ".join(COMPONENT_KEYS),
        )
    if "resource_share" in values and "host_vcpus" in values:
        raise CarbonConfigError(
            "host_vcpus", origin_table, "cannot be combined with resource_share", "one of resource_share or host_vcpus"
        )
    components = {k: values.get(k, DEFAULTS[k]) for k in COMPONENT_KEYS}
    if "total_kg" in values:
        total, basis, components = values["total_kg"], "total_kg from pyproject", {}
    else:
        total = server_total_kg(**components)
        basis = "server from pyproject" if parts else "default server"
    lifetime = values.get("lifetime_years", constant("embodied_lifetime_years").value)
    if "host_vcpus" in values:
        host = values["host_vcpus"]
        if machine_vcpus > host:
            raise CarbonConfigError(
                int(host),
                f"{origin_table} host_vcpus",
                f"is fewer than the {machine_vcpus} vCPUs this machine has",
                KEYS["host_vcpus"][0],
            )
        share, share_source = machine_vcpus / host, f"{machine_vcpus} of {int(host)} host vCPUs"
    elif "resource_share" in values:
        share, share_source = values["resource_share"], f"{origin_table} resource_share"
    else:
        share, share_source = 1.0, "default: the whole machine"
    model = EmbodiedModel(total, lifetime, share, share_source, basis, components)
    if not model.g_per_s <= MAX_G_PER_S:  # also catches an overflow to inf or nan
        key = "lifetime_years" if "lifetime_years" in values else "total_kg" if "total_kg" in values else parts[0]
        raise CarbonConfigError(
            values[key],
            f"{origin_table} {key}",
            f"gives an embodied share of {model.g_per_s:.3g} g per second, more than the "
            f"{MAX_G_PER_S:g} g/s (a kilogram a second) any hardware's could be",
            KEYS[key][0],
        )
    return model
