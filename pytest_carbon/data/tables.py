"""Bundled CSV tables: `#` header lines carry source, year and licence; rows follow."""

from __future__ import annotations

import csv
import io
from functools import cache
from pathlib import Path
from typing import NamedTuple

DATA = Path(__file__).parent


class Table(NamedTuple):
    name: str
    header: tuple[str, ...]  # the `#` lines, without the marker
    rows: tuple[dict[str, str], ...]

    def meta(self, key: str) -> str | None:
        """The value of a `# key: value` header line, if present."""
        prefix = key.lower() + ":"
        for line in self.header:
            if line.lower().startswith(prefix):
                return line[len(prefix) :].strip()
        return None


@cache
def load_table(name: str) -> Table:
    text = (DATA / name).read_text(encoding="utf-8")
    header = tuple(line[1:].strip() for line in text.splitlines() if line.startswith("#"))
    body = "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    rows = tuple(dict(row) for row in csv.DictReader(io.StringIO(body)))
    return Table(name, header, rows)
