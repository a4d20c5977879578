"""live:<zone>: Electricity Maps against a fake server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from accounting_helpers import run_json

from pytest_carbon.carbon import live
from pytest_carbon.carbon.model import fetch_live, resolve_intensity
from pytest_carbon.data.tables import load_table

FRANCE = float(next(r for r in load_table("grid_countries.csv").rows if r["iso2"] == "FR")["g_per_kwh"])
GOOD_BODY = json.dumps({"zone": "FR", "carbonIntensity": 57, "datetime": "2026-01-01T10:00:00.000Z"}).encode()


class FakeElectricityMaps:
    """What the server answers, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body = GOOD_BODY
        self.delay_s = 0.0
        self.requests: list[tuple[str, str | None]] = []  # (path, auth-token)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        fake = self.server.fake
        fake.requests.append((self.path, self.headers.get("auth-token")))
        if fake.delay_s:
            time.sleep(fake.delay_s)
        self.send_response(fake.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(fake.body)))
        self.end_headers()
        self.wfile.write(fake.body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeElectricityMaps

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on a slow answer: expected in the timeout test


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeElectricityMaps]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeElectricityMaps()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("ELECTRICITYMAPS_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "test-key")
    monkeypatch.setenv("PYTEST_CARBON_LIVE_TIMEOUT", "0.3")
    monkeypatch.setenv("PYTEST_CARBON_CACHE_DIR", str(tmp_path / "cache"))
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()


def test_live_value_is_fetched_with_the_key_and_used(pytester: pytest.Pytester, fake_api: FakeElectricityMaps) -> None:
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert fake_api.requests == [("/v3/carbon-intensity/latest?zone=FR", "test-key")]
    session = report["session"]
    assert session["intensity_g_per_kwh"] == 57.0
    assert session["intensity_kind"] == "live" and session["intensity_zone"] == "FR"
    assert session["pue"] == 1.0
    assert session["co2e_g"] == pytest.approx(session["energy_j"] / 3.6e6 * 57.0)
    assert session["warnings"] == []
    result.stdout.fnmatch_lines(
        [
            "carbon: *intensity 57 gCO2e/kWh (Electricity Maps live, zone FR for 2026-01-01T10:00:00.000Z; fetched now; from --carbon-intensity)*"
        ]
    )


def test_second_session_within_the_hour_uses_the_cache(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps
) -> None:
    run_json(pytester, "--carbon-intensity=live:FR")
    fake_api.body = json.dumps({"carbonIntensity": 999}).encode()
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert len(fake_api.requests) == 1
    assert report["session"]["intensity_g_per_kwh"] == 57.0
    result.stdout.fnmatch_lines(["carbon: *(Electricity Maps live, zone FR*; cached 0 min ago;*"])


@pytest.mark.parametrize(
    ("status", "body", "delay_s", "reason"),
    [
        (401, b'{"error": "unauthorized"}', 0.0, "HTTP 401"),
        (500, b"oops", 0.0, "HTTP 500"),
        (200, b"<html>not json</html>", 0.0, "the answer is not JSON"),
        (200, b'{"zone": "FR"}', 0.0, "no carbonIntensity field"),
        (200, b'{"carbonIntensity": null}', 0.0, "carbonIntensity is None"),
        (200, GOOD_BODY, 1.5, "no answer within 0.3s"),
    ],
)
def test_any_failure_falls_back_to_the_table_with_one_warning(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, status: int, body: bytes, delay_s: float, reason: str
) -> None:
    fake_api.status, fake_api.body, fake_api.delay_s = status, body, delay_s
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert len(fake_api.requests) == 1
    session = report["session"]
    assert session["intensity_g_per_kwh"] == FRANCE
    assert session["co2e_g"] == pytest.approx(session["energy_j"] / 3.6e6 * FRANCE)
    warnings = [w for w in session["warnings"] if "live intensity" in w]
    assert len(warnings) == 1 and reason in warnings[0]
    result.stdout.fnmatch_lines([f"warning: live intensity for zone FR unavailable (*{reason}*France (FR)*"])
    assert result.stdout.str().count("live intensity for zone FR unavailable") == 1


def test_a_failure_is_not_cached(pytester: pytest.Pytester, fake_api: FakeElectricityMaps) -> None:
    fake_api.status = 500
    run_json(pytester, "--carbon-intensity=live:FR")
    fake_api.status = 200
    _, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert len(fake_api.requests) == 2
    assert report["session"]["intensity_g_per_kwh"] == 57.0


def test_without_a_key_no_request_is_made(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELECTRICITYMAPS_API_KEY")
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert fake_api.requests == []
    assert report["session"]["intensity_g_per_kwh"] == FRANCE
    result.stdout.fnmatch_lines(
        ["warning: live intensity for zone FR unavailable (ELECTRICITYMAPS_API_KEY is not set)*"]
    )


def test_live_zone_in_pyproject_and_the_subprocess_path(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps
) -> None:
    pytester.makepyprojecttoml('[tool.pytest_carbon]\nintensity = "live:de"\n')
    _, report = run_json(pytester, subprocess=True)
    assert fake_api.requests == [("/v3/carbon-intensity/latest?zone=DE", "test-key")]
    assert report["session"]["intensity_g_per_kwh"] == 57.0
    assert report["session"]["intensity_origin"] == "pyproject.toml [tool.pytest_carbon] intensity"


# -- pure logic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"), [("FR", "FR"), ("DK-DK1", "DK"), ("US-CAL-CISO", "US"), ("XX-YY", "WORLD")]
)
def test_fallback_table_value_for_a_zone(zone: str, expected: str) -> None:
    intensity = resolve_intensity(f"live:{zone}", "--carbon-intensity")
    assert intensity.live_zone == zone
    assert intensity.zone == expected


def test_cache_expires_after_an_hour_and_is_keyed_by_zone_and_url(
    fake_api: FakeElectricityMaps, tmp_path: Path
) -> None:
    environ = {name: os.environ[name] for name in ("ELECTRICITYMAPS_API_KEY", "ELECTRICITYMAPS_API_URL")}
    environ["PYTEST_CARBON_CACHE_DIR"] = str(tmp_path / "c")
    start = 1_000_000.0
    assert live.fetch("FR", environ, now=start).age_s == 0
    assert live.fetch("FR", environ, now=start + 3599).age_s == pytest.approx(3599)
    assert len(fake_api.requests) == 1
    live.fetch("FR", environ, now=start + 3601)
    assert len(fake_api.requests) == 2
    live.fetch("DE", environ, now=start + 3601)
    assert len(fake_api.requests) == 3
    fake_api.status = 500
    other = dict(environ, ELECTRICITYMAPS_API_URL=environ["ELECTRICITYMAPS_API_URL"] + "/")
    with pytest.raises(live.LiveError, match="HTTP 500"):
        live.fetch("FR", other, now=start + 3601)
    assert len(fake_api.requests) == 4


def test_fetch_live_leaves_other_intensities_alone() -> None:
    intensity = resolve_intensity("FR", "x")
    assert fetch_live(intensity, {}) is intensity
