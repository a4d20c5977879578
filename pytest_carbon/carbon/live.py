"""Live grid intensity from the Electricity Maps API, fetched once per session and cached.

Any failure (no key, timeout, HTTP error, bad body) falls back to the table value for the
zone, with one warning: measurement problems never stop a run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_carbon.values.numbers import non_negative

DEFAULT_API_URL = "https://api.electricitymap.org"
DEFAULT_TIMEOUT_S = 3.0
CACHE_TTL_S = 3600.0
KEY_VAR = "ELECTRICITYMAPS_API_KEY"
URL_VAR = "ELECTRICITYMAPS_API_URL"
TIMEOUT_VAR = "PYTEST_CARBON_LIVE_TIMEOUT"
CACHE_VAR = "PYTEST_CARBON_CACHE_DIR"


@dataclass(frozen=True)
class LiveReading:
    g_per_kwh: float
    zone: str
    datetime: str | None  # the hour the value is for, as the API gives it
    age_s: float  # 0 when fetched now, else how old the cached value is


class LiveError(Exception):
    """Why no live value could be had (shown in the warning)."""


def cache_dir(environ: Mapping[str, str]) -> Path:
    if environ.get(CACHE_VAR):
        return Path(environ[CACHE_VAR])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-carbon"


def _cache_file(environ: Mapping[str, str], base_url: str, zone: str) -> Path:
    import hashlib

    digest = hashlib.sha256(f"{base_url}\n{zone}".encode()).hexdigest()[:20]
    return cache_dir(environ) / f"electricitymaps-{digest}.json"


def _read_cache(path: Path, base_url: str, zone: str, now: float) -> LiveReading | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["base_url"] != base_url or data["zone"] != zone:
            return None
        age = now - float(data["fetched_at"])
        value = _intensity_value(data["g_per_kwh"])
    except (OSError, ValueError, KeyError, TypeError, LiveError):
        return None
    if not 0 <= age < CACHE_TTL_S:
        return None
    return LiveReading(value, zone, data.get("datetime"), age)


def _write_cache(path: Path, base_url: str, reading: LiveReading, now: float) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "base_url": base_url,
            "zone": reading.zone,
            "g_per_kwh": reading.g_per_kwh,
            "datetime": reading.datetime,
            "fetched_at": now,
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a cache we cannot write only costs a request next time


def _intensity_value(raw: object) -> float:
    value = non_negative(raw)
    if value is None:
        raise LiveError(f"carbonIntensity is {raw!r}, not a non-negative number")
    return value


def _timeout(environ: Mapping[str, str]) -> float:
    try:
        value = float(environ.get(TIMEOUT_VAR, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def _request(base_url: str, zone: str, key: str, timeout: float) -> LiveReading:
    import urllib.error  # imported here: only a live intensity needs the network stack
    import urllib.parse
    import urllib.request
    from http.client import HTTPException

    url = f"{base_url.rstrip('/')}/v3/carbon-intensity/latest?{urllib.parse.urlencode({'zone': zone})}"
    request = urllib.request.Request(url, headers={"auth-token": key, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(1_000_000)
    except urllib.error.HTTPError as error:
        raise LiveError(f"HTTP {error.code} {error.reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError, HTTPException, ValueError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
            raise LiveError(f"no answer within {timeout:g}s") from None
        raise LiveError(f"request failed: {reason}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise LiveError("the answer is not JSON") from None
    if not isinstance(data, dict) or "carbonIntensity" not in data:
        raise LiveError("the answer has no carbonIntensity field")
    stamp = data.get("datetime")
    return LiveReading(_intensity_value(data["carbonIntensity"]), zone, stamp if isinstance(stamp, str) else None, 0.0)


def fetch(zone: str, environ: Mapping[str, str], now: float | None = None) -> LiveReading:
    """The current intensity for `zone`, from the cache (under an hour old) or the API.

    Raises LiveError with a short reason on any failure; makes no request without a key.
    """
    key = environ.get(KEY_VAR, "").strip()
    if not key:
        raise LiveError(f"{KEY_VAR} is not set")
    base_url = environ.get(URL_VAR, "").strip() or DEFAULT_API_URL
    now = time.time() if now is None else now
    path = _cache_file(environ, base_url, zone)
    cached = _read_cache(path, base_url, zone, now)
    if cached is not None:
        return cached
    reading = _request(base_url, zone, key, _timeout(environ))
    _write_cache(path, base_url, reading, now)
    return reading
