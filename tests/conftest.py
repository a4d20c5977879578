from __future__ import annotations

import os

import pytest

from pytest_carbon.session.shard import CI_VARIABLES

pytest_plugins = ["pytester"]

# Environment that changes what the plugin does; tests start without any of it.
ISOLATED_ENV = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "GOOGLE_CLOUD_REGION",
    "CLOUDSDK_COMPUTE_REGION",
    "AZURE_REGION",
    "PYTEST_CARBON_REGION",
    "PYTEST_CARBON_POWERCAP_ROOT",
    "ELECTRICITYMAPS_API_KEY",
    "ELECTRICITYMAPS_API_URL",
    "PYTEST_XDIST_WORKER",
    "PYTEST_ADDOPTS",
    "CI",
    *CI_VARIABLES,  # a run inside CI records its job: tests start outside any
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Inner runs load this plugin but not unrelated ones a developer may have installed
    # (pytester itself clears PYTEST_ADDOPTS, so this is set after it).
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest -p no:benchmark -p no:randomly")
    return pytester


class PowercapTree:
    """A fake /sys/class/powercap with real `name`, `energy_uj`, `max_energy_range_uj` files."""

    def __init__(self, root):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def zone(self, zone_dir: str, name: str, energy_uj: int = 0, max_range_uj: int = 262143328850):
        parts = zone_dir.split(":")
        directory = self.root / f"{parts[0]}:{parts[1]}"
        if len(parts) == 3:
            directory = directory / zone_dir
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "name").write_text(name + "\n")
        (directory / "energy_uj").write_text(f"{energy_uj}\n")
        (directory / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        return directory

    def set(self, zone_dir: str, energy_uj: int) -> None:
        parts = zone_dir.split(":")
        directory = self.root / f"{parts[0]}:{parts[1]}"
        if len(parts) == 3:
            directory = directory / zone_dir
        (directory / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path) -> PowercapTree:
    return PowercapTree(tmp_path / "powercap")


ENERGY_HELPER = '''
import fcntl
import os
import time
from pathlib import Path

ZONE = Path(os.environ["PYTEST_CARBON_POWERCAP_ROOT"]) / "intel-rapl:0"


def burn(joules, cpu_s=0.0):
    """Advance the fake RAPL package counter as if this much energy had been used, after
    `cpu_s` CPU-seconds of real work (for the run's share of it in process scope).

    pytest-xdist workers burn on the same counter at once: each read-add-write holds a
    lock, and the value is written in place in one call (a counter only grows, so it
    never gets shorter), never truncated first, so a meter reading it never sees it empty.
    """
    deadline = time.process_time() + cpu_s
    while time.process_time() < deadline:
        pass
    fd = os.open(ZONE / "energy_uj", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        value = int(os.pread(fd, 32, 0)) + round(joules * 1e6)
        os.pwrite(fd, f"{value}\\n".encode(), 0)
    finally:
        os.close(fd)
'''

# At 3600 gCO2e/kWh, one joule is exactly one milligram of CO2e.
ONE_JOULE_ONE_MG = ["--carbon-meters=rapl", "--carbon-intensity=3600"]


@pytest.fixture
def energy_suite(pytester, powercap, monkeypatch):
    """A pytester dir whose tests can `from energy import burn` to spend known joules."""
    powercap.zone("intel-rapl:0", "package-0")
    monkeypatch.setenv("PYTEST_CARBON_POWERCAP_ROOT", str(powercap.root))
    monkeypatch.setenv("COLUMNS", "300")  # keep short-summary lines whole
    # burn() spends joules without CPU time: the run's share of them (process scope, the
    # default) would follow the machine's load. Machine scope charges them exactly, and
    # the strict budget rule judges them exactly (the band rule would pass a figure over
    # its limit by less than the counter's resolution at this suite's made-up power).
    monkeypatch.setenv(
        "PYTEST_ADDOPTS",
        os.environ.get("PYTEST_ADDOPTS", "") + " --carbon-scope=machine --carbon-budget-rule=strict",
    )
    pytester.makepyfile(energy=ENERGY_HELPER)
    return pytester
