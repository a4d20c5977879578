"""Linux powercap RAPL zones (CPU package and DRAM), wraparound-safe."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import NamedTuple

from pytest_carbon.meters.base import Channel, Meter, Probe

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
# Assumed worst-case draw of one zone, to choose how often to read so a wrap is never missed.
_MAX_ZONE_WATTS = 1000.0


class RaplZone(NamedTuple):
    path: Path
    name: str  # "package-0", "dram", "psys", ...
    control_type: str  # "intel-rapl", "intel-rapl-mmio", "intel-rapl-tpmi"
    parent: str | None  # name of the package zone for sub-zones
    max_range_uj: int

    @property
    def label(self) -> str:
        return f"{self.parent}/{self.name}" if self.parent else self.name


def find_zones(root: Path) -> list[RaplZone]:
    """All RAPL zones under a powercap root, whatever their control type."""
    zones: list[RaplZone] = []
    if not root.is_dir():
        return zones
    for entry in sorted(root.iterdir()):
        control_type, sep, index = entry.name.partition(":")
        if not sep or not control_type.startswith("intel-rapl") or ":" in index:
            continue
        name = _read_text(entry / "name")
        if name is None:
            continue
        zones.append(RaplZone(entry, name, control_type, None, _read_int(entry / "max_energy_range_uj")))
        for sub in sorted(entry.iterdir()):
            if sub.name.startswith(entry.name + ":") and (sub / "name").exists():
                sub_name = _read_text(sub / "name") or sub.name
                zones.append(RaplZone(sub, sub_name, control_type, name, _read_int(sub / "max_energy_range_uj")))
    return zones


def select_zones(zones: list[RaplZone]) -> tuple[list[RaplZone], list[str]]:
    """Pick zones that do not overlap; return them and what was left out, and why.

    Package zones (plus their DRAM sub-zones) from the MSR interface are preferred; MMIO and
    TPMI views of the same packages are copies. core/uncore are parts of the package.
    psys covers the whole platform, package included, so it is used only when no package
    zone exists.
    """
    skipped: list[str] = []
    by_type: dict[str, list[RaplZone]] = {}
    for zone in zones:
        by_type.setdefault(zone.control_type, []).append(zone)
    preferred = next(
        (t for t in ("intel-rapl", "intel-rapl-tpmi", "intel-rapl-mmio") if _has_package(by_type.get(t, []))),
        None,
    )
    chosen: list[RaplZone] = []
    for control_type, members in by_type.items():
        for zone in members:
            if preferred is not None and control_type != preferred:
                skipped.append(f"{zone.path.name} ({zone.label}): a second view of a package already counted")
            elif zone.name.startswith("package") or zone.name == "dram":
                chosen.append(zone)
            elif zone.name == "psys":
                if preferred is None:
                    chosen.append(zone)
                else:
                    skipped.append(f"{zone.path.name} (psys): includes the package zones")
            else:
                skipped.append(f"{zone.path.name} ({zone.label}): part of its package")
    return chosen, skipped


def _has_package(zones: list[RaplZone]) -> bool:
    return any(z.name.startswith("package") and z.parent is None for z in zones)


class RaplMeter(Meter):
    """Cumulative joules from RAPL `energy_uj` counters, widened past their wrap point."""

    name = "rapl"
    measured = True

    def __init__(self, zones: list[RaplZone]) -> None:
        self.zones = zones
        self.channels = tuple(
            Channel(
                meter="rapl",
                name=zone.label,
                component="memory" if zone.name == "dram" else ("platform" if zone.name == "psys" else "cpu"),
                details=(("path", str(zone.path)),),
            )
            for zone in zones
        )
        smallest = min((z.max_range_uj for z in zones if z.max_range_uj > 0), default=2**32)
        # Read at least four times per wrap period at the assumed worst-case power.
        self.poll_interval_s: float | None = max(0.5, smallest / 1e6 / _MAX_ZONE_WATTS / 4)
        self._fds: list[int] = []
        self._last_raw: list[int] = []
        self._total_uj: list[int] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._fds = [os.open(zone.path / "energy_uj", os.O_RDONLY) for zone in self.zones]
        self._last_raw = [self._read_raw(fd) for fd in self._fds]
        self._total_uj = [0] * len(self._fds)

    @staticmethod
    def _read_raw(fd: int) -> int:
        return int(os.pread(fd, 32, 0))

    def _advance(self) -> None:
        for i, fd in enumerate(self._fds):
            raw = self._read_raw(fd)
            previous = self._last_raw[i]
            if raw >= previous:
                self._total_uj[i] += raw - previous
            else:  # the counter wrapped at max_energy_range_uj
                self._total_uj[i] += self.zones[i].max_range_uj - previous + raw
            self._last_raw[i] = raw

    def read(self) -> tuple[float, ...]:
        with self._lock:
            self._advance()
            return tuple(uj / 1e6 for uj in self._total_uj)

    def poll(self) -> None:
        with self._lock:
            self._advance()

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def describe(self) -> str:
        return "rapl " + ", ".join(c.name for c in self.channels) + " [measured]"


def probe_rapl(root: str | os.PathLike[str] | None = None) -> Probe:
    base = Path(root or os.environ.get("PYTEST_CARBON_POWERCAP_ROOT") or DEFAULT_POWERCAP_ROOT)
    zones = find_zones(base)
    if not zones:
        return Probe(
            "rapl",
            False,
            f"no RAPL zones under {base} (virtual machine, container without /sys, or not Linux)",
            fix="nothing to do here: the estimate covers the CPU; on bare-metal Linux load the "
            "intel_rapl_msr (or intel_rapl_common) kernel module",
        )
    chosen, skipped = select_zones(zones)
    unreadable = [z for z in chosen if not _readable(z.path / "energy_uj")]
    if unreadable:
        paths = " ".join(str(z.path / "energy_uj") for z in unreadable)
        return Probe(
            "rapl",
            False,
            f"RAPL zones present but energy_uj is not readable by this user "
            f"(root-only since Linux 5.10, CVE-2020-8694): {', '.join(z.label for z in unreadable)}",
            fix=f"run `sudo chmod a+r {paths}` (until reboot), or add a udev rule / tmpfiles.d entry "
            "that makes them readable by a group you are in; until then the estimate is used",
            notes=skipped,
        )
    if not chosen:
        return Probe("rapl", False, f"RAPL zones under {base} but no package, dram or psys zone", notes=skipped)
    meter = RaplMeter(chosen)
    covers = {"cpu"} if any(c.component in ("cpu", "platform") for c in meter.channels) else set()
    if any(c.component == "memory" for c in meter.channels) or any(z.name == "psys" for z in chosen):
        covers.add("memory")
    return Probe(
        "rapl",
        True,
        "RAPL zones readable: " + ", ".join(z.label for z in chosen),
        meter=meter,
        covers=frozenset(covers),
        notes=skipped,
    )


def _readable(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        int(os.pread(fd, 32, 0))
        return True
    except (OSError, ValueError):
        return False
    finally:
        os.close(fd)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int:
    text = _read_text(path)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0
