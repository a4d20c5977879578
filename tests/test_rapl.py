"""RAPL through a fake powercap tree: zone selection, wraparound, permissions, plugin runs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from pytest_carbon.meters.rapl import RaplMeter, find_zones, probe_rapl, select_zones


def test_package_and_dram_are_counted_and_copies_are_not(powercap):
    powercap.zone("intel-rapl:0", "package-0")
    powercap.zone("intel-rapl:0:0", "core")
    powercap.zone("intel-rapl:0:1", "uncore")
    powercap.zone("intel-rapl:0:2", "dram")
    powercap.zone("intel-rapl:1", "psys")
    powercap.zone("intel-rapl-mmio:0", "package-0")
    chosen, skipped = select_zones(find_zones(powercap.root))
    assert sorted(z.label for z in chosen) == ["package-0", "package-0/dram"]
    skipped_text = "\n".join(skipped)
    assert "psys" in skipped_text and "includes the package" in skipped_text
    assert "intel-rapl-mmio:0" in skipped_text and "second view" in skipped_text
    assert "core" in skipped_text and "uncore" in skipped_text


def test_two_sockets_are_both_counted(powercap):
    powercap.zone("intel-rapl:0", "package-0")
    powercap.zone("intel-rapl:1", "package-1")
    chosen, _ = select_zones(find_zones(powercap.root))
    assert [z.label for z in chosen] == ["package-0", "package-1"]


def test_psys_alone_is_used_when_no_package_zone_exists(powercap):
    powercap.zone("intel-rapl:1", "psys")
    probe = probe_rapl(powercap.root)
    assert probe.available
    assert [c.name for c in probe.meter.channels] == ["psys"]
    assert probe.covers == {"cpu", "memory"}


def test_mmio_is_used_when_it_is_the_only_view(powercap):
    powercap.zone("intel-rapl-mmio:0", "package-0")
    chosen, _ = select_zones(find_zones(powercap.root))
    assert [(z.control_type, z.label) for z in chosen] == [("intel-rapl-mmio", "package-0")]


def test_package_without_dram_leaves_memory_to_the_estimate(powercap):
    powercap.zone("intel-rapl:0", "package-0")
    probe = probe_rapl(powercap.root)
    assert probe.covers == {"cpu"}


def test_counter_wraparound_is_widened(powercap):
    powercap.zone("intel-rapl:0", "package-0", energy_uj=900_000, max_range_uj=1_000_000)
    meter = RaplMeter(select_zones(find_zones(powercap.root))[0])
    meter.start()
    try:
        powercap.set("intel-rapl:0", 990_000)
        assert meter.read() == pytest.approx((0.09,))
        powercap.set("intel-rapl:0", 40_000)  # wrapped: 10_000 to the top, then 40_000
        assert meter.read() == pytest.approx((0.14,))
        powercap.set("intel-rapl:0", 30_000)  # wrapped again (poll reads in between)
        meter.poll()
        powercap.set("intel-rapl:0", 50_000)
        assert meter.read() == pytest.approx((0.14 + 0.99 + 0.02,))
    finally:
        meter.close()


def test_poll_interval_reads_often_enough_to_catch_every_wrap(powercap):
    # 65.5 kJ range: at 1 kW a wrap takes 65 s, so polling must be well under that.
    powercap.zone("intel-rapl:0", "package-0", max_range_uj=65_532_610_987)
    meter = probe_rapl(powercap.root).meter
    assert 0.5 <= meter.poll_interval_s <= 65.5 / 2


def test_missing_powercap_says_why(tmp_path):
    probe = probe_rapl(tmp_path / "absent")
    assert not probe.available
    assert "no RAPL zones" in probe.summary


def _probe_as_other_user(root: Path) -> dict:
    """Probe from a child process that cannot read root-only files."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            probe = probe_rapl(root)
            payload = json.dumps({"available": probe.available, "summary": probe.summary, "fix": probe.fix})
            os.write(write_end, payload.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)


def test_root_only_energy_files_are_detected_with_the_fix():
    base = Path(tempfile.mkdtemp(prefix="powercap-", dir="/tmp"))
    try:
        base.chmod(0o755)
        zone = base / "intel-rapl:0"
        zone.mkdir()
        (zone / "name").write_text("package-0\n")
        (zone / "max_energy_range_uj").write_text("262143328850\n")
        (zone / "energy_uj").write_text("12345\n")
        for path in (zone, zone / "name", zone / "max_energy_range_uj"):
            path.chmod(0o755 if path.is_dir() else 0o444)
        (zone / "energy_uj").chmod(0o400)  # as the kernel ships it since 5.10
        if os.geteuid() == 0:
            result = _probe_as_other_user(base)
        else:
            (zone / "energy_uj").chmod(0o000)
            probe = probe_rapl(base)
            result = {"available": probe.available, "summary": probe.summary, "fix": probe.fix}
    finally:
        shutil.rmtree(base)
    assert result["available"] is False
    assert "not readable" in result["summary"] and "package-0" in result["summary"]
    assert "sudo chmod a+r" in result["fix"] and "intel-rapl:0/energy_uj" in result["fix"]


SUITE_WRITING_ENERGY = """
import os
from pathlib import Path

ZONE = Path(os.environ["PYTEST_CARBON_POWERCAP_ROOT"]) / "intel-rapl:0"
DRAM = ZONE / "intel-rapl:0:0"

def add(zone, joules):
    path = zone / "energy_uj"
    maximum = int((zone / "max_energy_range_uj").read_text())
    value = int(path.read_text()) + int(joules * 1e6)
    path.write_text(str(value % maximum))

def test_five_joules():
    add(ZONE, 5)
    add(DRAM, 1)

def test_wraps_once():
    add(ZONE, 7)  # the package counter is near its top: this wraps

def test_nothing():
    pass
"""


def test_plugin_attributes_rapl_energy_to_the_test_that_used_it(pytester, powercap, monkeypatch):
    powercap.zone("intel-rapl:0", "package-0", energy_uj=0, max_range_uj=10_000_000)  # wraps every 10 J
    powercap.zone("intel-rapl:0:0", "dram", energy_uj=0)
    powercap.zone("intel-rapl:1", "psys", energy_uj=0)
    pytester.makepyfile(SUITE_WRITING_ENERGY)
    monkeypatch.setenv("PYTEST_CARBON_POWERCAP_ROOT", str(powercap.root))
    result = pytester.runpytest_subprocess(
        "--carbon-meters=rapl", "--carbon-scope=machine", "--carbon-json=report.json"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["carbon: rapl package-0, package-0/dram [[]measured[]]*"])
    report = json.loads((pytester.path / "report.json").read_text())
    tests = {t["nodeid"].split("::")[1]: t for t in report["tests"]}
    assert tests["test_five_joules"]["phases"]["call"]["energy_j"] == pytest.approx(6.0)
    assert tests["test_five_joules"]["by_channel"] == pytest.approx({"rapl/package-0": 5.0, "rapl/package-0/dram": 1.0})
    assert tests["test_wraps_once"]["energy_j"] == pytest.approx(7.0)
    assert tests["test_nothing"]["energy_j"] == pytest.approx(0.0)
    assert report["session"]["energy_j"] == pytest.approx(13.0)
    assert report["session"]["measured"] is True
    assert report["session"]["estimated_components"] == []
