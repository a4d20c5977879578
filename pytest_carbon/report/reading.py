"""Read a JSON report back from a file, strictly: every figure a reader uses is checked, and
every string is made safe to print, before any of it reaches a terminal or another report.

`combine` reads whole reports (each shard's figures, tests, fixtures and settings), so a
report that is missing, unreadable, of another schema version or not a pytest-carbon report
is an error naming the file and, for a bad value, where in the file it is.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from typing import Any, cast

from pytest_carbon.schema import SCHEMA, SCHEMA_VERSION, Report
from pytest_carbon.values.numbers import finite_number

Check = Callable[[object, str], None]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ReportFileError(Exception):
    """A file that cannot be used as a report; the message names the file."""


class _Invalid(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}")


def safe_text(text: str) -> str:
    """Control characters (terminal escapes, line breaks) shown as escapes, never acted on."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def _neutralise(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        return [_neutralise(v) for v in value]
    if isinstance(value, dict):
        return {safe_text(str(k)): _neutralise(v) for k, v in value.items()}
    return value


# -- checks: each takes (value, where) and raises _Invalid naming the place --------------


def number(value: object, where: str) -> None:
    if finite_number(value) is None:
        raise _Invalid(where, f"is {value!r}, not a finite number")


def whole(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(where, f"is {value!r}, not a whole number >= 0")


def text(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _Invalid(where, f"is {value!r}, not a string")


def flag(value: object, where: str) -> None:
    if not isinstance(value, bool):
        raise _Invalid(where, f"is {value!r}, not true or false")


def timestamp(value: object, where: str) -> None:
    text(value, where)
    try:
        parsed = dt.datetime.fromisoformat(cast(str, value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _Invalid(where, f"is {value!r}, not an ISO 8601 time with a UTC offset")


def anything(value: object, where: str) -> None:
    pass


def maybe(check: Check) -> Check:
    def run(value: object, where: str) -> None:
        if value is not None:
            check(value, where)

    return run


def one_of(*choices: object) -> Check:
    def run(value: object, where: str) -> None:
        if value not in choices:
            raise _Invalid(where, f"is {value!r}, not one of {', '.join(repr(c) for c in choices)}")

    return run


def list_of(check: Check) -> Check:
    def run(value: object, where: str) -> None:
        if not isinstance(value, list):
            raise _Invalid(where, "is not a list")
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")

    return run


def table_of(check: Check) -> Check:
    """An object whose keys are free (meter names, parts) and whose values pass `check`."""

    def run(value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _Invalid(where, "is not an object")
        for key, item in value.items():
            check(item, f"{where}.{key}")

    return run


def record(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    def run(value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _Invalid(where, "is not an object")
        for key, check in required.items():
            if key not in value:
                raise _Invalid(f"{where}.{key}", "is missing")
            check(value[key], f"{where}.{key}")
        for key, check in (optional or {}).items():
            if key in value:
                check(value[key], f"{where}.{key}")

    return run


# -- the report's shape (pytest_carbon/schema.py) ----------------------------------------

JOULES = table_of(number)
PART = record({"duration_s": number, "energy_j": number, "co2e_g": number}, {"by_meter": JOULES})
BUDGET = record(
    {
        "limit": number,
        "unit": one_of("gCO2e", "J"),
        "limit_text": text,
        "source": text,
        "measured": number,
        "exceeded": flag,
    }
)
TEST = record(
    {
        "nodeid": text,
        "location": record({"path": text, "line": maybe(whole)}),
        "outcome": text,
        "duration_s": number,
        "energy_j": number,
        "co2e_g": number,
        "operational_g": number,
        "embodied_g": number,
        "sci_g": number,
        "phases": table_of(PART),
        "by_meter": JOULES,
        "by_channel": JOULES,
        "budget": maybe(BUDGET),
        "verdict": one_of("ok", "exceeded", None),
        "flags": list_of(text),
    },
    {"worker": text, "shard": text},
)
FIXTURE = record(
    {
        "name": text,
        "scope": text,
        "baseid": text,
        "label": text,
        "setups": whole,
        "duration_s": number,
        "energy_j": number,
        "co2e_g": number,
        "parts": table_of(PART),
        "by_meter": JOULES,
    },
    {"workers": whole, "shards": whole},
)
CHANNEL = record({"name": text, "component": text, "energy_j": number, "details": table_of(text)})
METER = record(
    {
        "name": text,
        "measured": flag,
        "description": text,
        "energy_j": number,
        "channels": list_of(CHANNEL),
        "dropped": maybe(text),
    }
)
# What a session and each shard of a combined report count.
TOTALS: dict[str, Check] = {"energy_j": number, "co2e_g": number, "operational_g": number, "embodied_g": number}
# How energy became gCO2e: the same keys in a run's session and in a combined report's shards.
MODEL_KEYS: dict[str, Check] = {
    "intensity_g_per_kwh": number,
    "intensity_source": text,
    "intensity_kind": text,
    "intensity_zone": maybe(text),
    "intensity_provider": maybe(text),
    "intensity_origin": text,
    "intensity_note": maybe(text),
    "pue": number,
    "pue_source": text,
    "embodied_included": flag,
    "embodied_label": text,
    "embodied": table_of(anything),
}
SHARD_INFO = record(
    {"label": maybe(text), "origin": maybe(text), "index": maybe(whole), "total": maybe(whole), "ci": table_of(text)}
)
SHARD = record(
    {
        "name": text,
        "label": maybe(text),
        "report": text,
        "ci": table_of(text),
        "host": text,
        "cpu_model": text,
        "vcpus": whole,
        "platform": table_of(anything),
        "start": timestamp,
        "end": timestamp,
        "duration_s": number,
        "complete": flag,
        "interrupted": maybe(text),
        "tests": whole,
        **TOTALS,
        "sci_total_g": number,
        "replaced": list_of(text),
        "replaced_energy_j": number,
        "meters": list_of(
            record({"name": text, "description": text, "measured": flag, "energy_j": number, "dropped": maybe(text)})
        ),
        "scope": text,
        **MODEL_KEYS,
        "budget": maybe(BUDGET),
        "warnings": list_of(text),
        "notes": list_of(text),
    },
    {"machine_energy_j": number, "workers": whole},
)
SESSION = record(
    {
        "start": timestamp,
        "end": timestamp,
        "duration_s": number,
        **TOTALS,
        **MODEL_KEYS,
        "sci": record({"total_g": number}),
        "measured": flag,
        "estimated_components": list_of(text),
        "meters": list_of(METER),
        "by_meter": JOULES,
        "breakdown": JOULES,
        "overhead": table_of(PART),
        "scope": text,
        "action": one_of("fail", "warn"),
        "budget": maybe(BUDGET),
        "platform": table_of(anything),
        "cpu_model": text,
        "vcpus": whole,
        "warnings": list_of(text),
        "notes": list_of(text),
    },
    {
        "machine_energy_j": number,
        "workers": list_of(table_of(anything)),
        "shard": SHARD_INFO,
        "shards": list_of(SHARD),
        "replaced_tests": list_of(record({"nodeid": text, "kept": text, "replaced": list_of(text)})),
    },
)
REPORT = record(
    {
        "complete": flag,
        "interrupted": maybe(text),
        "session": SESSION,
        "tests": list_of(TEST),
        "fixtures": list_of(FIXTURE),
    }
)


def is_report(document: object) -> bool:
    """Whether a parsed JSON document says it is a pytest-carbon report (of any version)."""
    return isinstance(document, dict) and document.get("schema") == SCHEMA


def read_json(path: str | os.PathLike[str]) -> object:
    shown = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ReportFileError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ReportFileError(f"{shown}: is a directory, not a report file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportFileError(f"{shown}: cannot be read ({error})") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise ReportFileError(f"{shown}: is not valid JSON ({error})") from None


def check_report(document: object, shown: str) -> Report:
    """A parsed document as a report record, or a ReportFileError naming what is wrong."""
    if not is_report(document):
        raise ReportFileError(f'{shown}: is not a pytest-carbon report (it has no "schema": "{SCHEMA}")')
    assert isinstance(document, dict)
    version = document.get("schema_version")
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise ReportFileError(
            f"{shown}: has schema_version {version!r}; this pytest-carbon ({SCHEMA_VERSION}) reads "
            f"schema_version {SCHEMA_VERSION} only: combine reports written by the same version"
        )
    try:
        REPORT(document, "report")
    except _Invalid as problem:
        raise ReportFileError(f"{shown}: is not a valid report: {safe_text(str(problem))}") from None
    return cast(Report, _neutralise(document))


def load_report(path: str | os.PathLike[str]) -> Report:
    return check_report(read_json(path), os.fspath(path))
