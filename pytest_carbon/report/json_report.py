"""Write the report record as JSON, atomically (temporary file in the same folder, then rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_carbon.schema import Report


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return target


def json_document(report: Report) -> dict[str, Any]:
    """The record as written: schema 1 also carries `session.summary_lines`, the terminal's
    attribution, worker and shard lines, for readers that show them as they are."""
    from pytest_carbon.report.terminal import session_attribution_lines

    lines = session_attribution_lines(report["session"])
    if not lines:
        return dict(report)
    return {**report, "session": {**report["session"], "summary_lines": lines}}


def write_json(path: str | os.PathLike[str], report: Report) -> Path:
    import json  # imported when a report is written, not at start-up

    return write_atomic(path, json.dumps(json_document(report), indent=1, sort_keys=False) + "\n")
