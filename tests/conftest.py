from __future__ import annotations

import pytest

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
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
