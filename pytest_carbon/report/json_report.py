"""Write report files: a regular file atomically (a temporary file in the same folder, then
a rename), anything else (a device, a pipe, /dev/stdout) by writing through it.

A rename only ever replaces a regular file: a symbolic link stays a link (its target is
replaced), a device node or a pipe is written to, never swapped for a file. A new report
gets the mode the umask gives; an existing one keeps its mode.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_carbon.schema import Report


def _umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_through(path: str, text: str) -> None:
    """Write to a device, pipe or terminal as it is: never blocks on a pipe with no reader."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)  # opened before anything is written: a bad target writes nothing
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def _special(path: str) -> bool:
    """Whether `path` names something other than a regular file (or nothing yet)."""
    try:
        status = os.stat(path)  # follows links: what a write would reach
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(f"{path} is a folder")
    if not stat.S_ISREG(status.st_mode):
        return True
    # /dev/stdout, /dev/fd/N, /proc/self/fd/N name a process's open file, even a regular
    # one (`pytest > out.txt`): writing through keeps the shell's file, renaming would not.
    real = os.path.realpath(path)
    return any(p.startswith(("/dev/", "/proc/")) for p in (os.path.abspath(path), real))


def write_atomic(path: str | os.PathLike[str], text: str | Iterable[str]) -> Path:
    """Write `text` (or its pieces, written as they come: a large report is never held
    whole in memory) to `path`."""
    target = Path(path)
    if _special(os.fspath(target)):
        _write_through(os.fspath(target), text if isinstance(text, str) else "".join(text))
        return target
    # A link stays a link: the file it points to is the one replaced.
    final = Path(os.path.realpath(target)) if target.is_symlink() else target
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing: os.stat_result | None = os.stat(final)
    except FileNotFoundError:
        existing = None
    fd, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", buffering=1 << 16) as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        if existing is not None:
            os.chmod(temporary, stat.S_IMODE(existing.st_mode))
            if hasattr(os, "chown") and existing.st_uid != os.geteuid():
                try:  # root writing another user's report: it stays theirs
                    os.chown(temporary, existing.st_uid, existing.st_gid)
                except OSError:
                    pass
        else:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, final)
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


def _finite(value: Any, where: str, found: list[str]) -> Any:
    """`value` with every infinite or NaN number replaced by None, noting where."""
    if isinstance(value, float) and not math.isfinite(value):
        found.append(where)
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{where}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v, f"{where}[{i}]", found) for i, v in enumerate(value)]
    return value


def json_text(document: dict[str, Any]) -> str:
    """Strict JSON: a number that is not finite (which strict parsers reject) is written as
    null, and the report's warnings say where."""
    import json  # imported when a report is written, not at start-up

    try:
        return json.dumps(document, indent=1, allow_nan=False) + "\n"
    except ValueError:
        found: list[str] = []
        cleaned = _finite(document, "report", found)
        session = cleaned.get("session")
        if isinstance(session, dict) and isinstance(session.get("warnings"), list):
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            session["warnings"].append(f"numbers too large to compute were written as null: {shown}")
        return json.dumps(cleaned, indent=1, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], report: Report) -> Path:
    import json  # imported when a report is written, not at start-up

    document = json_document(report)
    # Written piece by piece: the text of 100,000 tests as one string took 700 MB to build.
    pieces = iter(json.JSONEncoder(indent=1, allow_nan=False).iterencode(document))
    batches = itertools.chain(iter(lambda: "".join(itertools.islice(pieces, 8192)), ""), "\n")
    try:
        return write_atomic(path, batches)
    except ValueError:  # a number that is not finite: nothing was kept, write it strictly
        return write_atomic(path, json_text(document))
