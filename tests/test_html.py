"""The self-contained HTML report: structure (stdlib parser) and rendering (headless Chromium)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_suite import MUCH, make_suite, read, set_work

from pytest_carbon.report.html import render_html


class Page(HTMLParser):
    """Collects tags with their attributes, the text under ids of interest, and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[str] = []
        self.ids: dict[str, list[str]] = {}
        self.open_ids: list[tuple[str, int]] = []
        self.rows: list[list[str]] = []
        self.in_tests = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag in ("br", "meta", "img", "input", "link"):
            return
        self.stack.append(tag)
        if "id" in values:
            self.open_ids.append((values["id"], len(self.stack)))
            self.ids[values["id"]] = []
        if tag == "table" and values.get("id") == "tests":
            self.in_tests = True
        if self.in_tests and tag == "tr" and values.get("class") == "test":
            self.rows.append([])
        if self.in_tests and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.rows:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        if tag == "table":
            self.in_tests = False
        while self.open_ids and self.open_ids[-1][1] >= len(self.stack):
            self.open_ids.pop()
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for name, _ in self.open_ids:
            self.ids[name].append(data)
        if self.cell is not None:
            self.cell.append(data)

    def text(self, element_id: str) -> str:
        return "".join(self.ids[element_id])


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture
def html_run(energy_suite: pytest.Pytester) -> tuple[Page, dict[str, Any], Path]:
    make_suite(energy_suite)
    energy_suite.makepyprojecttoml('[tool.pytest_carbon]\ncompare_min = "0.05 J"\n')
    assert energy_suite.runpytest("--carbon-json=base.json").ret == 0
    set_work(energy_suite, MUCH)
    result = energy_suite.runpytest(
        "--carbon-html=report/carbon.html",
        "--carbon-json=new.json",
        "--carbon-budget=1 kJ",
        "--carbon-compare=base.json",
        "--carbon-compare-fail=50",
    )
    assert result.ret == 1  # the regression fails the run; the page is still written
    path = energy_suite.path / "report" / "carbon.html"
    return parse(path.read_text(encoding="utf-8")), read(energy_suite.path / "new.json"), path


def test_structure_verdicts_and_escaping(html_run: tuple[Page, dict[str, Any], Path]) -> None:
    page, report, path = html_run
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "xlink:href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), (tag, attrs)
        assert tag not in ("link", "iframe", "img"), tag
        if tag == "script":
            assert "src" not in attrs
    # one row per test, with the phases in their own columns
    assert sorted(r[0] for r in page.rows) == sorted(t["nodeid"] for t in report["tests"])
    assert all(len(r) == 9 for r in page.rows)
    # charts: inline SVG bars, one per phase segment of the top tests, one per meter channel
    bars = [a for t, a in page.tags if t == "rect" and a.get("class") == "bar"]
    assert any(t == "svg" for t, _ in page.tags)
    assert "Top 3 of 3 tests by energy" in page.text("chart-tests")
    assert "Session energy by meter" in page.text("chart-meters")
    channels = sum(len(m["channels"]) for m in report["session"]["meters"])
    assert len(bars) >= len(report["tests"]) + channels
    # settings and provenance, with where each value came from
    settings = page.text("settings-block")
    assert "compare_fail" in settings and "--carbon-compare-fail" in settings
    assert "--carbon-html" in settings and "how measured" in settings
    # budget verdicts and the comparison
    assert "Session within its carbon budget:" in path.read_text(encoding="utf-8")
    assert "test_work.py::test_grows" in page.text("changes")
    assert "regressed" in page.text("changes")

    # an overrun, and a node id that tries to inject markup
    report = copy.deepcopy(report)
    report["tests"][0]["nodeid"] = "test_x.py::test_p[<script>alert(1)</script>]"
    report["tests"][0]["verdict"] = "exceeded"
    report["tests"][0]["budget"] = {
        "limit": 0.001,
        "unit": "J",
        "limit_text": "1 mJ",
        "source": "@pytest.mark.carbon",
        "measured": 0.5,
        "exceeded": True,
    }
    text = render_html(report)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = parse(text)
    row = next(r for r in page.rows if r[0].startswith("test_x.py"))
    assert row[-1] == "500 mJ > 1.00 mJ"
    assert "1 of 2 tests with a budget are over it" in text
    assert "Session within its carbon budget" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: apt-get install chromium)")
def test_renders_and_sorts_in_a_browser(html_run: tuple[Page, dict[str, Any], Path]) -> None:
    _, report, path = html_run
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                path.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    page = parse(done.stdout)
    tests_table = next(a for t, a in page.tags if t == "table" and a.get("id") == "tests")
    assert tests_table.get("data-ready") == "1"  # the sorting script ran
    energy_heading = [a for t, a in page.tags if t == "th" and a.get("aria-sort")]
    assert [a["aria-sort"] for a in energy_heading] == ["descending"]
    ranked = [t["nodeid"] for t in sorted(report["tests"], key=lambda t: t["energy_j"], reverse=True)]
    assert [r[0] for r in page.rows] == ranked


def test_a_hundred_thousand_tests_make_a_page_that_opens_at_once(html_run: tuple[Page, dict[str, Any], Path]) -> None:
    from pytest_carbon.report.html import MAX_ROWS

    _, report, _ = html_run
    big = copy.deepcopy(report)
    template = big["tests"][0]
    big["tests"] = [
        dict(template, nodeid=f"tests/test_many.py::test_case[{i}]", energy_j=float(i % 977)) for i in range(100_000)
    ]
    text = render_html(big)
    page = parse(text)
    # A table of MAX_ROWS rows at most, already in order: nothing has to sort before it shows.
    energies = [t["energy_j"] for t in big["tests"]]
    listed = [r for r in page.rows if r[0].startswith("tests/test_many.py")]
    assert len(listed) == MAX_ROWS
    shown = sorted(energies, reverse=True)[:MAX_ROWS]
    by_id = {t["nodeid"]: t["energy_j"] for t in big["tests"]}
    assert [by_id[r[0]] for r in listed] == shown
    assert "data-sort" not in text
    heading = [a for t, a in page.tags if t == "th" and a.get("aria-sort")]
    assert [a["aria-sort"] for a in heading] == ["descending"]
    assert f"The costliest {MAX_ROWS:,} of 100,000 tests are listed" in text
    assert len(text.encode("utf-8")) < 8_000_000
