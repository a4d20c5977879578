"""Live grid intensity from the Electricity Maps API, fetched once per session and cached.

Any failure (no key, a bad setting, timeout, HTTP error, bad body) falls back to the table
value for the zone, with one warning: measurement problems never stop a run.

What comes from outside is never trusted: the key is checked before it goes into a header
and never appears in a message; the whole request, not each socket read, has one deadline;
the key goes to the configured host only (a redirect elsewhere is refused); every field of
the answer and of the cache is validated before it reaches a terminal or a report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_carbon.carbon.limits import MAX_INTENSITY
from pytest_carbon.values.numbers import non_negative
from pytest_carbon.values.text import printable

DEFAULT_API_URL = "https://api.electricitymap.org"
DEFAULT_TIMEOUT_S = 3.0
MAX_TIMEOUT_S = 60.0
CACHE_TTL_S = 3600.0
MAX_BODY = 1_000_000
MAX_REDIRECTS = 3
KEY_VAR = "ELECTRICITYMAPS_API_KEY"
URL_VAR = "ELECTRICITYMAPS_API_URL"
TIMEOUT_VAR = "PYTEST_CARBON_LIVE_TIMEOUT"
CACHE_VAR = "PYTEST_CARBON_CACHE_DIR"
# An API key is a token: visible ASCII only (no space, no control character).
_KEY = r"[!-~]{1,512}"
_ISO_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?"


@dataclass(frozen=True)
class LiveReading:
    g_per_kwh: float
    zone: str
    datetime: str | None  # the hour the value is for, as the API gives it (validated ISO 8601)
    age_s: float  # 0 when fetched now, else how old the cached value is


class LiveError(Exception):
    """Why no live value could be had (shown in the warning; never holds the key)."""


def cache_dir(environ: Mapping[str, str]) -> Path:
    if environ.get(CACHE_VAR):
        return Path(environ[CACHE_VAR])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-carbon"


def _cache_file(directory: Path, base_url: str, zone: str) -> Path:
    import hashlib

    digest = hashlib.sha256(f"{base_url}\n{zone}".encode()).hexdigest()[:20]
    return directory / f"electricitymaps-{digest}.json"


def _private_dir(directory: Path) -> bool:
    """Create the cache folder (0700) if needed; use it only when it is a real folder that
    this user owns and no one else can write to: another user must not plant or swap files."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = os.lstat(directory)
    except OSError:
        return False
    import stat

    if not stat.S_ISDIR(status.st_mode):
        return False
    if hasattr(os, "getuid"):
        return status.st_uid == os.getuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return True


def valid_timestamp(raw: object) -> str | None:
    """`raw` when it is an ISO 8601 date and time (as the API gives it), else None."""
    if not isinstance(raw, str) or len(raw) > 40 or not re.fullmatch(_ISO_TIME, raw, re.ASCII):
        return None
    try:  # the pattern checks the form; this, that the date and time exist
        dt.datetime.strptime(raw[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return raw


def _read_cache(path: Path, base_url: str, zone: str, now: float) -> LiveReading | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as handle:
            data = json.loads(handle.read(MAX_BODY))
        if data["base_url"] != base_url or data["zone"] != zone:
            return None
        fetched_at = non_negative(data["fetched_at"])
        value = _intensity_value(data["g_per_kwh"])
        stamp = data["datetime"]
    except (OSError, ValueError, KeyError, TypeError, LiveError, RecursionError):
        return None
    if fetched_at is None or (stamp is not None and valid_timestamp(stamp) is None):
        return None
    age = now - fetched_at
    if not 0 <= age < CACHE_TTL_S:
        return None
    return LiveReading(value, zone, stamp, age)


def _write_cache(path: Path, base_url: str, reading: LiveReading, now: float) -> None:
    import tempfile

    payload = {
        "base_url": base_url,
        "zone": reading.zone,
        "g_per_kwh": reading.g_per_kwh,
        "datetime": reading.datetime,
        "fetched_at": now,
    }
    try:
        # mkstemp: an unpredictable name, created with O_EXCL (and O_NOFOLLOW where there is one).
        fd, temporary = tempfile.mkstemp(prefix=".electricitymaps-", suffix=".tmp", dir=path.parent)
    except OSError:
        return  # a cache we cannot write only costs a request next time
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, allow_nan=False))
        os.replace(temporary, path)
    except (OSError, ValueError):
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _intensity_value(raw: object) -> float:
    value = non_negative(raw)
    if value is None or value > MAX_INTENSITY:
        shown = raw if isinstance(raw, (int, float)) or raw is None else type(raw).__name__
        raise LiveError(f"carbonIntensity is {shown!r}, not a number from 0 to {MAX_INTENSITY:g}")
    return value


def _timeout(environ: Mapping[str, str]) -> float:
    raw = environ.get(TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise LiveError(
            f"{TIMEOUT_VAR}={printable(raw, 40)!r} is not a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}"
        )
    return value


def _base_url(environ: Mapping[str, str]) -> tuple[str, tuple[str, str, int]]:
    """The configured API URL and its origin (scheme, host, port); only http(s) URLs."""
    import urllib.parse

    raw = environ.get(URL_VAR, "").strip() or DEFAULT_API_URL
    problem = f"{URL_VAR} is not an http:// or https:// URL with a host"
    try:
        parts = urllib.parse.urlsplit(raw)
        origin = _origin(parts.scheme, parts.hostname, parts.port)
    except ValueError:
        raise LiveError(problem) from None
    if origin is None or not printable(raw) == raw:
        raise LiveError(problem)
    if parts.username is not None or parts.password is not None:
        raise LiveError(f"{URL_VAR} carries a user name or password: give the key in {KEY_VAR} only")
    return raw, origin


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int] | None:
    scheme = scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host.lower(), port if port is not None else (443 if scheme == "https" else 80)


def _opener(origin: tuple[str, str, int], sockets: list[Any], expired: threading.Event) -> Any:
    """An opener for http(s) only, that follows a redirect only within `origin` and records
    each socket it opens so the deadline can close it."""
    import http.client
    import urllib.parse
    import urllib.request

    def tracked(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Tracked(base):  # type: ignore[valid-type, misc]
            def connect(self) -> None:
                super().connect()
                sockets.append(self.sock)
                if expired.is_set():  # connected after the deadline: hang up at once
                    self.sock.close()

        return Tracked

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPConnection), req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tracked(http.client.HTTPSConnection), req)

    class SameOrigin(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(
            self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> urllib.request.Request | None:
            try:
                parts = urllib.parse.urlsplit(newurl)
                target = _origin(parts.scheme, parts.hostname, parts.port)
            except ValueError:
                target = None
            if target != origin:
                # The key is in the request's headers: it goes to the configured host only.
                raise LiveError(f"HTTP {code} redirect to another host refused")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        Http(),
        Https(),
        SameOrigin(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _request(base_url: str, origin: tuple[str, str, int], zone: str, key: str, timeout: float) -> LiveReading:
    """One request with one deadline for all of it: name lookup, connection, headers, body."""
    import urllib.parse
    import urllib.request

    url = f"{base_url.rstrip('/')}/v3/carbon-intensity/latest?{urllib.parse.urlencode({'zone': zone})}"
    request = urllib.request.Request(url, headers={"auth-token": key, "Accept": "application/json"})
    sockets: list[Any] = []
    expired = threading.Event()
    outcome: list[bytes | BaseException] = []

    def run() -> None:
        try:
            with _opener(origin, sockets, expired).open(request, timeout=timeout) as response:
                outcome.append(response.read(MAX_BODY))
        except BaseException as error:  # handed to the waiting thread
            outcome.append(error)

    worker = threading.Thread(target=run, name="pytest-carbon-live", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        expired.set()
        for sock in list(sockets):  # wakes the worker thread, which then ends
            try:
                sock.close()
            except OSError:
                pass
        raise LiveError(f"no answer within {timeout:g}s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise LiveError(_failure(result, timeout)) from None
    return _reading(result, zone)


def _failure(error: BaseException, timeout: float) -> str:
    """A short reason, made of our words and numbers only: nothing the server or a header sent."""
    import http
    import urllib.error

    if isinstance(error, LiveError):
        return str(error)
    if isinstance(error, urllib.error.HTTPError):
        try:
            phrase = http.HTTPStatus(error.code).phrase
        except ValueError:
            phrase = ""
        return f"HTTP {error.code} {phrase}".rstrip()
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
        return f"no answer within {timeout:g}s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"request failed: {printable(reason.strerror, 80)}"
    return f"request failed ({type(reason).__name__})"


def _reading(body: bytes, zone: str) -> LiveReading:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise LiveError("the answer is not JSON") from None
    if not isinstance(data, dict) or "carbonIntensity" not in data:
        raise LiveError("the answer has no carbonIntensity field")
    value = _intensity_value(data["carbonIntensity"])
    raw_stamp = data.get("datetime")
    stamp = valid_timestamp(raw_stamp)
    if raw_stamp is not None and stamp is None:
        raise LiveError("the answer's datetime is not an ISO 8601 time")
    return LiveReading(value, zone, stamp, 0.0)


def _key(environ: Mapping[str, str]) -> str:
    key = environ.get(KEY_VAR, "").strip()
    if not key:
        raise LiveError(f"{KEY_VAR} is not set")
    if not re.fullmatch(_KEY, key, re.ASCII):
        raise LiveError(f"{KEY_VAR} holds characters an API key cannot have (spaces or control characters)")
    return key


def fetch(zone: str, environ: Mapping[str, str], now: float | None = None) -> LiveReading:
    """The current intensity for `zone`, from the cache (under an hour old) or the API.

    Raises LiveError with a short reason on any failure; makes no request without a key.
    """
    key = _key(environ)
    base_url, origin = _base_url(environ)
    timeout = _timeout(environ)
    now = time.time() if now is None else now
    directory = cache_dir(environ)
    usable = _private_dir(directory)
    path = _cache_file(directory, base_url, zone)
    if usable:
        cached = _read_cache(path, base_url, zone, now)
        if cached is not None:
            return cached
    try:
        reading = _request(base_url, origin, zone, key, timeout)
    except LiveError as error:
        raise LiveError(str(error).replace(key, "***")) from None
    if usable:
        _write_cache(path, base_url, reading, now)
    return reading
