"""live:<zone>: Electricity Maps against a fake server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import contextlib
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
        self.drip_s = 0.0  # send the headers, then the body one byte every drip_s seconds
        self.location: str | None = None  # answer requests to the API's path with a redirect there
        self.url = ""
        self.requests: list[tuple[str, str | None]] = []  # (path, auth-token)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        fake = self.server.fake
        fake.requests.append((self.path, self.headers.get("auth-token")))
        if fake.delay_s:
            time.sleep(fake.delay_s)
        if fake.location is not None and self.path.startswith("/v3/"):
            self.send_response(302)
            self.send_header("Location", fake.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(fake.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(fake.body)))
        self.end_headers()
        if fake.drip_s:
            for byte in fake.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(fake.drip_s)
            return
        self.wfile.write(fake.body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeElectricityMaps

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on a slow answer: expected in the timeout test


@contextlib.contextmanager
def serving() -> Iterator[FakeElectricityMaps]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeElectricityMaps()
    server.fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeElectricityMaps]:
    with serving() as fake:
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", fake.url)
        monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "test-key")
        monkeypatch.setenv("PYTEST_CARBON_LIVE_TIMEOUT", "0.3")
        monkeypatch.setenv("PYTEST_CARBON_CACHE_DIR", str(tmp_path / "cache"))
        yield fake


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


# -- hostile or broken servers and settings ------------------------------------------------


def _warning(report: dict[str, Any]) -> str:
    (warning,) = [w for w in report["session"]["warnings"] if "live intensity" in w]
    return warning


def test_a_server_that_drips_its_answer_is_cut_off_at_the_deadline(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps
) -> None:
    # Headers at once, then one byte every 0.2 s: each socket read is quick, the whole is not.
    fake_api.drip_s = 0.2
    start = time.monotonic()
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert time.monotonic() - start < 0.3 * len(GOOD_BODY) * 0.2  # the body alone would take 10 s
    assert "no answer within 0.3s" in _warning(report)
    assert report["session"]["intensity_g_per_kwh"] == FRANCE


def test_the_key_is_never_sent_to_another_host_on_a_redirect(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps
) -> None:
    with serving() as elsewhere:
        fake_api.location = elsewhere.url + "/v3/carbon-intensity/latest?zone=FR"
        _, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert elsewhere.requests == []
    assert "redirect to another host refused" in _warning(report)
    assert report["session"]["intensity_g_per_kwh"] == FRANCE


def test_a_redirect_within_the_host_is_followed_with_the_key(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps
) -> None:
    fake_api.location = fake_api.url + "/moved?zone=FR"
    _, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert [path for path, _ in fake_api.requests] == ["/v3/carbon-intensity/latest?zone=FR", "/moved?zone=FR"]
    assert [key for _, key in fake_api.requests] == ["test-key", "test-key"]
    assert report["session"]["intensity_g_per_kwh"] == 57.0


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("ELECTRICITYMAPS_API_URL", "notaurl", "ELECTRICITYMAPS_API_URL is not an http:// or https:// URL"),
        ("ELECTRICITYMAPS_API_URL", "http://[::1", "ELECTRICITYMAPS_API_URL is not an http:// or https:// URL"),
        ("ELECTRICITYMAPS_API_URL", "file:///etc/passwd", "ELECTRICITYMAPS_API_URL is not an http:// or https:// URL"),
        ("ELECTRICITYMAPS_API_URL", "ftp://127.0.0.1/", "ELECTRICITYMAPS_API_URL is not an http:// or https:// URL"),
        ("ELECTRICITYMAPS_API_URL", "http://user:pw@127.0.0.1/", "carries a user name or password"),
        ("PYTEST_CARBON_LIVE_TIMEOUT", "inf", "PYTEST_CARBON_LIVE_TIMEOUT='inf' is not a number of seconds"),
        ("PYTEST_CARBON_LIVE_TIMEOUT", "nan", "PYTEST_CARBON_LIVE_TIMEOUT='nan' is not a number of seconds"),
        ("PYTEST_CARBON_LIVE_TIMEOUT", "-1", "PYTEST_CARBON_LIVE_TIMEOUT='-1' is not a number of seconds"),
        ("PYTEST_CARBON_LIVE_TIMEOUT", "soon", "PYTEST_CARBON_LIVE_TIMEOUT='soon' is not a number of seconds"),
    ],
)
def test_bad_url_or_timeout_settings_fall_back_with_a_warning(
    pytester: pytest.Pytester,
    fake_api: FakeElectricityMaps,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result, report = run_json(pytester, "--carbon-intensity=live:FR", subprocess=True)
    assert fake_api.requests == []
    assert reason in _warning(report)
    assert report["session"]["intensity_g_per_kwh"] == FRANCE
    assert "pw@" not in result.stdout.str()


SECRET = "s3cr3t-k3y-part"


@pytest.mark.parametrize(
    ("key", "status"),
    [(f"abc\n{SECRET}", 200), (f"{SECRET} \x1b[31m", 200), (SECRET, 401)],
)
def test_the_key_appears_in_no_message_and_no_report(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, monkeypatch: pytest.MonkeyPatch, key: str, status: int
) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", key)
    fake_api.status = status
    result, report = run_json(pytester, "--carbon-intensity=live:FR", "--carbon-html=r.html", "--carbon-md=r.md")
    if status == 200:  # a key no header can carry is refused before any request
        assert fake_api.requests == []
        assert "ELECTRICITYMAPS_API_KEY holds characters an API key cannot have" in _warning(report)
    else:
        assert fake_api.requests[0][1] == SECRET
        assert "HTTP 401" in _warning(report)
    for text in (
        result.stdout.str(),
        result.stderr.str(),
        (pytester.path / "carbon.json").read_text(),
        (pytester.path / "r.html").read_text(),
        (pytester.path / "r.md").read_text(),
    ):
        assert "s3cr3t" not in text and "k3y" not in text


@pytest.mark.parametrize(
    "answer",
    [
        {"carbonIntensity": 57, "datetime": "2026-01-01T10:00:00Z\n::error file=x,line=1::pwned"},
        {"carbonIntensity": 57, "datetime": "\x1b[2J2026-01-01T10:00:00Z"},
        {"carbonIntensity": 57, "datetime": "2026-13-45T10:00:00Z"},
        {"carbonIntensity": 57, "datetime": 20260101},
        {"carbonIntensity": 1e308},
        {"carbonIntensity": "57"},
    ],
)
def test_every_field_of_the_answer_is_validated(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, answer: dict[str, Any]
) -> None:
    fake_api.body = json.dumps(answer).encode()
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert report["session"]["intensity_g_per_kwh"] == FRANCE
    assert "live intensity for zone FR unavailable" in _warning(report)
    output = result.stdout.str()
    assert "::error" not in output and "\x1b[2J" not in output and "pwned" not in output


def _plant_cache(directory: Path, url: str, **fields: Any) -> None:
    payload = {"base_url": url, "zone": "FR", "g_per_kwh": 11.0, "datetime": None, "fetched_at": time.time()}
    payload.update(fields)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = live._cache_file(directory, url, "FR")
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize(
    "fields",
    [
        {"datetime": "2026-01-01T10:00Z\n::error::x"},
        {"g_per_kwh": -5},
        {"g_per_kwh": 1e300},
        {"fetched_at": "now"},
        {"zone": "DE"},
    ],
)
def test_every_field_of_the_cache_is_validated(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, tmp_path: Path, fields: dict[str, Any]
) -> None:
    _plant_cache(tmp_path / "cache", fake_api.url, **fields)
    result, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert len(fake_api.requests) == 1  # the planted entry was not used
    assert report["session"]["intensity_g_per_kwh"] == 57.0
    assert "::error" not in result.stdout.str()


def test_a_valid_cache_entry_is_used(pytester: pytest.Pytester, fake_api: FakeElectricityMaps, tmp_path: Path) -> None:
    _plant_cache(tmp_path / "cache", fake_api.url, datetime="2026-01-01T09:00:00Z")
    _, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert fake_api.requests == []
    assert report["session"]["intensity_g_per_kwh"] == 11.0


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX file ownership")
def test_a_cache_folder_others_can_write_to_is_not_used(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, tmp_path: Path
) -> None:
    shared = tmp_path / "cache"
    _plant_cache(shared, fake_api.url)
    shared.chmod(0o777)
    for _ in range(2):
        _, report = run_json(pytester, "--carbon-intensity=live:FR")
        assert report["session"]["intensity_g_per_kwh"] == 57.0  # not the planted 11
    assert len(fake_api.requests) == 2  # nothing was cached there either
    assert json.loads(live._cache_file(shared, fake_api.url, "FR").read_text())["g_per_kwh"] == 11.0


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_the_cache_write_never_follows_a_planted_link(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = live._cache_file(cache, fake_api.url, "FR")
    # The old writer's predictable temporary name, and the cache file itself, both as links.
    os.symlink(victim, target.with_suffix(f".{os.getpid()}.tmp"))
    os.symlink(victim, target)
    _, report = run_json(pytester, "--carbon-intensity=live:FR")
    assert report["session"]["intensity_g_per_kwh"] == 57.0
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and json.loads(target.read_text())["g_per_kwh"] == 57.0
    assert [p.name for p in cache.iterdir() if p.name.startswith(".electricitymaps-")] == []


@pytest.mark.parametrize("answers", [True, False])
def test_under_xdist_one_lookup_serves_the_whole_session(
    pytester: pytest.Pytester, fake_api: FakeElectricityMaps, answers: bool
) -> None:
    pytest.importorskip("xdist")
    fake_api.delay_s = 0.0 if answers else 1.0  # a timeout is not cached: each worker would ask again
    pytester.makepyfile(**{f"test_{i}": f"def test_{i}():\n    pass\n" for i in range(8)})
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "4", "--carbon-intensity=live:FR", "--carbon-json=carbon.json"
    )
    assert result.ret == 0, result.stdout.str()
    assert len(fake_api.requests) == 1
    report = json.loads((pytester.path / "carbon.json").read_text())
    intensity = 57.0 if answers else FRANCE
    assert report["session"]["intensity_g_per_kwh"] == intensity
    assert all(t["co2e_g"] == pytest.approx(t["energy_j"] / 3.6e6 * intensity) for t in report["tests"])
    warned = 0 if answers else 1
    assert len([w for w in report["session"]["warnings"] if "live intensity" in w]) == warned
    assert result.stdout.str().count("live intensity for zone FR unavailable") == warned
