"""The `carbon` marker: registration text and the closest marker of each test."""

from __future__ import annotations

from typing import Any

import pytest

MARKER_HELP = (
    "carbon(limit=None, *, max_g=None, max_mg=None, max_kg=None, max_j=None, max_wh=None): "
    "fail this test if its setup and call emit more than the limit, e.g. carbon(max_g=0.5) or carbon('10 J') "
    "(pytest-carbon)"
)


def closest_marker(
    item: pytest.Item, inherited: dict[int, pytest.Mark | None], name: str = "carbon"
) -> pytest.Mark | None:
    """item.get_closest_marker(name), with what each parent node (module, class) passes
    down worked out once (`inherited`, one per name): this runs for every collected test."""
    for mark in item.own_markers:
        if mark.name == name:
            return mark
    return _inherited_marker(item.parent, inherited, name)


def _inherited_marker(node: Any, inherited: dict[int, pytest.Mark | None], name: str) -> pytest.Mark | None:
    if node is None:
        return None
    key = id(node)
    if key in inherited:
        return inherited[key]
    found = next((mark for mark in node.own_markers if mark.name == name), None)
    if found is None:
        found = _inherited_marker(node.parent, inherited, name)
    inherited[key] = found
    return found
