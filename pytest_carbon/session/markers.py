"""The `carbon` marker: registration text and the closest marker of each test."""

from __future__ import annotations

from typing import Any

import pytest

MARKER_HELP = (
    "carbon(limit=None, *, max_g=None, max_mg=None, max_kg=None, max_j=None, max_wh=None): "
    "fail this test if its setup and call emit more than the limit, e.g. carbon(max_g=0.5) or carbon('10 J') "
    "(pytest-carbon)"
)


def closest_carbon_marker(item: pytest.Item, inherited: dict[int, pytest.Mark | None]) -> pytest.Mark | None:
    """item.get_closest_marker("carbon"), with what each parent node (module, class)
    passes down worked out once: this runs for every collected test."""
    for mark in item.own_markers:
        if mark.name == "carbon":
            return mark
    return _inherited_marker(item.parent, inherited)


def _inherited_marker(node: Any, inherited: dict[int, pytest.Mark | None]) -> pytest.Mark | None:
    if node is None:
        return None
    key = id(node)
    if key in inherited:
        return inherited[key]
    found = next((mark for mark in node.own_markers if mark.name == "carbon"), None)
    if found is None:
        found = _inherited_marker(node.parent, inherited)
    inherited[key] = found
    return found
