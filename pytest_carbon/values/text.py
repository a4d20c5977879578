"""Text from outside (an API, a file, an environment variable) made safe to show."""

from __future__ import annotations

import unicodedata


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control or format character (newline, ESC, bidi overrides, ...)
    written as an escape such as \\x1b, cut to `limit` characters with an ellipsis."""
    shown = "".join(ch if unicodedata.category(ch)[0] != "C" else ascii(ch)[1:-1] for ch in text)
    if limit is not None and len(shown) > limit:
        return shown[: max(limit - 1, 0)] + "\u2026"
    return shown
