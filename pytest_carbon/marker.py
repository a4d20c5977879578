"""Registers the `carbon` marker, and nothing else.

A second pytest11 entry point (`carbon_marker`): `-p no:carbon` turns the measuring off but
not this, so a suite that uses `@pytest.mark.carbon` under `--strict-markers` still collects.
"""

from __future__ import annotations

import pytest

from pytest_carbon.session.markers import MARKER_HELP

PLUGIN_NAME = "carbon_marker"  # the entry point's name, which pytest registers it under


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
