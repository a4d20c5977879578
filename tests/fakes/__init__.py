"""Stand-ins for hardware libraries this CI lacks, and helpers to inject them as a user's
environment would hold them (a module on PYTHONPATH, or in sys.modules)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
FAKE_NVML_DIR = HERE / "fake_nvml"
FAKE_AMDSMI_DIR = HERE / "fake_amdsmi"


class FakeClock:
    """A clock the test moves by hand, shared by a meter and a fake library."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def load_fake(name: str, directory: Path) -> ModuleType:
    """A fresh copy of a fake library module, not yet placed in sys.modules."""
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(monkeypatch: pytest.MonkeyPatch, name: str, directory: Path, config: dict[str, Any] | None) -> ModuleType:
    module = load_fake(name, directory)
    module.configure(config)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def on_pythonpath(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, directory: Path, env_var: str, config: dict[str, Any]
) -> Path:
    """For subprocess runs: the fake first on PYTHONPATH, configured through a JSON file."""
    path = tmp_path / f"{env_var.lower()}.json"
    path.write_text(json.dumps(config))
    monkeypatch.setenv(env_var, str(path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH", "")])))
    return path
