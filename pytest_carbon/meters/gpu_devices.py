"""Which GPUs a run may use: `--carbon-gpus` and `CUDA_VISIBLE_DEVICES` mapped to devices.

Pure logic over a list of devices that a vendor library enumerated; no library calls here.
CUDA's rules for `CUDA_VISIBLE_DEVICES` (CUDA C Programming Guide, "CUDA Environment
Variables"): a comma-separated list of integer indices, `GPU-<uuid>` (a unique prefix is
enough) or `MIG-<uuid>` entries; an empty value hides every GPU; parsing stops at the
first invalid entry, and only the entries before it are visible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from pytest_carbon.values.errors import CarbonConfigError

GPUS_ACCEPTED = (
    "all, visible (default: the GPUs CUDA_VISIBLE_DEVICES allows), or comma-separated device indices such as 0,2"
)


class GpuDevice(NamedTuple):
    """One physical GPU as the vendor library enumerates it."""

    index: int  # type: ignore[assignment]  # the library's index (NVML: PCI bus order); shadows tuple.index
    uuid: str  # "GPU-8a1c..." for NVIDIA
    name: str
    pci_bus_id: str = ""
    mig_uuids: tuple[str, ...] = ()  # MIG instances on this GPU, when MIG mode is on


@dataclass
class GpuChoice:
    """The GPUs to meter, and what the output should say about how they were chosen."""

    devices: list[GpuDevice]
    notes: list[str] = field(default_factory=list)
    # NVML index -> MIG instance UUIDs that the run uses through that GPU
    mig: dict[int, list[str]] = field(default_factory=dict)


def parse_gpus(raw: object, origin: str) -> str:
    """Validate a `--carbon-gpus` value; return it normalised ("all", "visible", "0,2")."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if isinstance(raw, list):
        raw = ",".join(str(item) for item in raw)
    if not isinstance(raw, str) or not raw.strip():
        raise CarbonConfigError(raw, origin, "is not a GPU selection", GPUS_ACCEPTED)
    text = raw.strip().lower()
    if text in ("all", "visible"):
        return text
    indices: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise CarbonConfigError(raw, origin, f"has {part!r}, which is not a device index", GPUS_ACCEPTED)
        indices.append(int(part))
    return ",".join(str(i) for i in dict.fromkeys(indices))


def choose_gpus(
    devices: Sequence[GpuDevice], gpus: str, environ: Mapping[str, str], origin: str = "--carbon-gpus"
) -> GpuChoice:
    """The devices `gpus` selects. Raises CarbonConfigError for an index that does not exist."""
    if gpus == "all":
        return GpuChoice(list(devices), ["--carbon-gpus=all: every GPU on the machine is metered"] if devices else [])
    if gpus != "visible":
        by_index = {d.index: d for d in devices}
        wanted = [int(part) for part in gpus.split(",")]
        missing = [i for i in wanted if i not in by_index]
        if missing:
            have = ", ".join(str(d.index) for d in devices) or "none"
            raise CarbonConfigError(
                gpus,
                origin,
                f"names GPU index {missing[0]}, which does not exist (this machine has: {have})",
                GPUS_ACCEPTED,
            )
        return GpuChoice([by_index[i] for i in wanted])
    return visible_gpus(devices, environ)


def cuda_order(devices: Sequence[GpuDevice], environ: Mapping[str, str]) -> tuple[list[GpuDevice], str | None]:
    """Devices in the order CUDA numbers them, and a note when that order is a guess.

    With CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA counts in PCI bus order. The default,
    FASTEST_FIRST, ranks by a speed heuristic that NVML does not expose; PCI order is used
    instead, which is exact when all GPUs are the same model (ties fall back to PCI order).
    """
    ordered = sorted(devices, key=lambda d: (d.pci_bus_id.lower(), d.index))
    if environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST").strip().upper() == "PCI_BUS_ID":
        return ordered, None
    if len({d.name for d in devices}) > 1:
        return ordered, (
            "CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ: CUDA numbers them fastest first, "
            "which cannot be known here, so integer entries of CUDA_VISIBLE_DEVICES were read in PCI bus order; "
            "set CUDA_DEVICE_ORDER=PCI_BUS_ID or use GPU-<uuid> entries to be exact"
        )
    return ordered, None


def visible_gpus(devices: Sequence[GpuDevice], environ: Mapping[str, str]) -> GpuChoice:
    raw = environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return GpuChoice(list(devices))
    entries = [part.strip() for part in raw.split(",")]
    if entries == [""]:
        return GpuChoice([], [f"CUDA_VISIBLE_DEVICES={raw!r} hides every GPU, so none is metered"])
    ordered, order_note = cuda_order(devices, environ)
    chosen: dict[int, GpuDevice] = {}
    mig: dict[int, list[str]] = {}
    notes: list[str] = []
    used_integers = False
    for position, entry in enumerate(entries):
        device, mig_uuid = _match(entry, ordered)
        if device is None:
            ignored = entries[position:]
            notes.append(
                f"CUDA_VISIBLE_DEVICES entry {entry!r} matches no GPU, so it and every entry after it are ignored "
                f"(as CUDA does): {', '.join(repr(e) for e in ignored)}"
            )
            break
        used_integers |= entry.lstrip("+-").isdigit()
        chosen.setdefault(device.index, device)
        if mig_uuid is not None:
            mig.setdefault(device.index, []).append(mig_uuid)
    if order_note and used_integers:
        notes.append(order_note)
    for index, instances in mig.items():
        notes.append(
            f"MIG instance{'s' if len(instances) > 1 else ''} {', '.join(instances)} metered through the whole "
            f"parent GPU {index} ({chosen[index].uuid}): NVML reports power and energy only per physical GPU"
        )
    return GpuChoice(list(chosen.values()), notes, mig)


def _match(entry: str, ordered: Sequence[GpuDevice]) -> tuple[GpuDevice | None, str | None]:
    """The device an entry names (and the MIG UUID for a MIG entry); (None, None) if invalid."""
    if entry.lstrip("+").isdigit():
        position = int(entry)
        return (ordered[position], None) if position < len(ordered) else (None, None)
    lowered = entry.lower()
    if lowered.startswith("mig-gpu-"):
        # Pre-R470 form MIG-GPU-<parent uuid>/<gi>/<ci>: the parent is in the name.
        parent = lowered[len("mig-") :].split("/")[0]
        found = [d for d in ordered if d.uuid.lower() == parent]
        return (found[0], entry) if len(found) == 1 else (None, None)
    if lowered.startswith("mig-"):
        found_mig = [(d, u) for d in ordered for u in d.mig_uuids if u.lower().startswith(lowered)]
        return (found_mig[0][0], found_mig[0][1]) if len(found_mig) == 1 else (None, None)
    prefix = lowered if lowered.startswith("gpu-") else None
    if prefix is None or len(prefix) <= len("gpu-"):
        return None, None
    found = [d for d in ordered if d.uuid.lower().startswith(prefix)]
    return (found[0], None) if len(found) == 1 else (None, None)


def wants_mig(environ: Mapping[str, str]) -> bool:
    """Whether CUDA_VISIBLE_DEVICES names MIG instances (worth enumerating them)."""
    return "mig-" in environ.get("CUDA_VISIBLE_DEVICES", "").lower()
