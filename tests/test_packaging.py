"""The built wheel: what a user installs from PyPI, installed into a fresh environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the build backend comes from the test environment, so nothing
    # is downloaded.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("pytest_carbon-*.whl")
    return built


def test_the_wheel_carries_data_types_licence_and_notices(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("grid_countries.csv", "gcp_regions.csv", "cloud_regions.csv", "cpu_power.csv", "constants.csv"):
        assert f"pytest_carbon/data/{data}" in names
    assert "pytest_carbon/py.typed" in names
    assert "pytest_carbon/data/NOTICE" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    from pytest_carbon import __version__

    assert f"Version: {__version__}" in text
    assert "License-Expression: MIT" in text


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh environment with the wheel installed: its python and its site-packages."""
    tmp_path = tmp_path_factory.mktemp("installed")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    # Dependencies (pytest, psutil, numpy...) come from this environment's site-packages,
    # read through a .pth line (which does not run this environment's own .pth files, so
    # the editable install of the checkout stays out); the plugin itself is the wheel's.
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    site_packages.mkdir(parents=True, exist_ok=True)
    (site_packages / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    return python, site_packages


def test_the_installed_wheel_runs_the_example_suite(installed: tuple[Path, Path], tmp_path: Path) -> None:
    python, site_packages = installed
    report = tmp_path / "carbon.json"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--carbon-json={report}",
            str(ROOT / "examples" / "ai_suite"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")},
    )
    assert "carbon footprint" in result.stdout, result.stdout + result.stderr
    located = subprocess.run(
        [str(python), "-c", "import pytest_carbon; print(pytest_carbon.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(located).resolve().is_relative_to(site_packages.resolve())
    data = json.loads(report.read_text())
    assert data["complete"] is True
    assert len(data["tests"]) >= 5
    # The example suite's training test is over its budget on purpose: the run fails for it.
    assert result.returncode == 1
    assert any(t["verdict"] == "exceeded" for t in data["tests"])


def test_the_plugins_modules_are_imported_without_assertion_rewriting(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    # pytest marks every package of a plugin's wheel for assertion rewriting; importing
    # through its rewriting importer cost this plugin a large part of its start-up. The
    # plugin's modules are imported plainly; a user's test module is still rewritten.
    python, _ = installed
    (tmp_path / "test_loaders.py").write_text(
        "import sys\n"
        "def loader(name):\n"
        "    return type(sys.modules[name].__loader__).__name__\n"
        "def test_loaders():\n"
        "    assert loader('pytest_carbon.plugin') == 'SourceFileLoader', loader('pytest_carbon.plugin')\n"
        "    assert loader('pytest_carbon.ledger') == 'SourceFileLoader', loader('pytest_carbon.ledger')\n"
        "    assert loader(__name__) == 'AssertionRewritingHook'\n"
    )
    result = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_loaders.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
