"""The one check for a number taken from outside: finite, a real int or float, never a bool."""

from __future__ import annotations

import math


def finite_number(raw: object) -> float | None:
    """`raw` as a float when it is an int or float (not a bool: TOML and JSON `true` is
    not 1) whose value is finite and fits a float; else None."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    try:
        value = float(raw)
    except OverflowError:  # an int too large for a float
        return None
    return value if math.isfinite(value) else None


def finite_number_or_text(raw: object) -> float | None:
    """As finite_number, also reading a number written as text ("1.2")."""
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    return finite_number(raw)


def non_negative(raw: object) -> float | None:
    """A finite number >= 0, or None."""
    value = finite_number(raw)
    return value if value is not None and value >= 0 else None


def is_number_text(raw: object) -> bool:
    """Whether `raw` reads as a number at all, finite or not ("inf", "1e999", 1e999)."""
    if isinstance(raw, bool):
        return False
    try:
        float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def scaled(value: float, factor: float) -> float | None:
    """value x factor (a unit conversion), or None when the product overflows to infinity
    or a non-zero value underflows to zero."""
    product = value * factor
    if not math.isfinite(product) or (product == 0 and value != 0):
        return None
    return product
