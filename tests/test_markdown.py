"""The Markdown summary: GitHub's step summary file and --carbon-md."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from report_suite import MUCH, make_suite, read, set_work

from pytest_carbon.report.markdown import RESERVE, STEP_SUMMARY_LIMIT, MarkdownWriter, render_markdown


def unescape(text: str) -> str:
    """Markdown text as it reads once rendered: backslash escapes removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def rendered(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return str(markdown_it.MarkdownIt("commonmark").enable("table").render(text))


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def table_after(text: str, header_start: str) -> list[list[str]]:
    """The body rows of the first table whose header row starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    assert re.fullmatch(r"\|( ---:? \|)+", lines[start + 1]), lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


@pytest.mark.usefixtures("energy_suite")
def test_step_summary_is_appended_and_md_file_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step_summary"
    summary.write_text("# Earlier step\n\nkept\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    make_suite(pytester)
    result = pytester.runpytest("--carbon-md=out/summary.md", "--carbon-budget=100 kJ", "--carbon-json=carbon.json")
    assert result.ret == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# Earlier step\n\nkept\n")
    assert text.endswith((pytester.path / "out" / "summary.md").read_text(encoding="utf-8"))
    assert headings(text) == [
        "# Earlier step",
        "## Carbon footprint of the tests",
        "### Budgets",
        "### Top 3 of 3 tests",
    ]
    report = read(pytester.path / "carbon.json")
    rows = table_after(text, "| test | outcome | setup | call | teardown |")
    assert sorted(r[0] for r in rows) == sorted(f"`{t['nodeid']}`" for t in report["tests"])
    assert all(len(r) == 8 for r in rows)
    assert len(table_after(text, "| test | energy | CO2e | time | outcome |")) == 3
    assert ":white_check_mark: session within budget" in text
    assert ":white_check_mark: all 1 tests with a budget are within it" in text
    assert "<sub>How measured: rapl package-0 [measured]" in unescape(text)


@pytest.mark.usefixtures("energy_suite")
def test_summary_shows_overruns_and_the_comparison(pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suite(pytester)
    pytester.makepyprojecttoml(
        '[tool.pytest_carbon]\ncompare_min = "0.05 J"\n[tool.pytest_carbon.budgets]\n"*grows" = "0.01 J"\n'
    )
    assert pytester.runpytest("--carbon-json=base.json").ret == 0
    set_work(pytester, MUCH)
    result = pytester.runpytest(
        "--carbon-md=s.md", "--carbon-compare=base.json", "--carbon-compare-fail=50", "--carbon-action=warn"
    )
    assert result.ret == 0
    text = (pytester.path / "s.md").read_text(encoding="utf-8")
    assert "### Compared with the baseline" in headings(text)
    assert ":warning: 1 of 2 tests with a budget are over it (warning only)" in text
    over = table_after(text, "| test over budget |")
    assert [r[0] for r in over] == ["`test_work.py::test_grows`"]
    assert unescape(over[0][3]) == "[tool.pytest_carbon.budgets] '*grows'"
    changes = table_after(text, "| test | before | after | change | status |")
    assert [changes[0][0], changes[0][4]] == ["`test_work.py::test_grows`", "regressed"]
    assert "**regression beyond 50%** (warning only)" in text


def big_report(template: dict[str, Any], count: int) -> dict[str, Any]:
    report = copy.deepcopy(template)
    test = report["tests"][0]
    report["tests"] = [dict(test, nodeid=f"tests/test_big.py::test_case[{i}-{'x' * 150}]") for i in range(count)]
    return report


_REAL: list[dict[str, Any]] = []


@pytest.fixture
def real_report(energy_suite: pytest.Pytester) -> dict[str, Any]:
    """The record of a real run, made once for the tests that only render it."""
    if not _REAL:
        make_suite(energy_suite)
        assert energy_suite.runpytest("--carbon-json=carbon.json").ret == 0
        _REAL.append(read(energy_suite.path / "carbon.json"))
    return copy.deepcopy(_REAL[0])


def test_size_limit_truncates_the_tests_table(real_report: dict[str, Any], tmp_path: Path) -> None:
    report = big_report(real_report, 8000)  # ~2 MB of rows
    text = render_markdown(report)
    assert len(text.encode("utf-8")) <= STEP_SUMMARY_LIMIT - RESERVE
    kept = table_after(text, "| test | outcome | setup | call | teardown |")
    match = re.search(r"(\d+) of 8000 tests left out to stay within GitHub's 1 MiB step summary limit", text)
    assert match is not None
    assert len(kept) + int(match.group(1)) == 8000
    assert len(kept) > 1000
    assert text.rstrip().endswith("</sub>")  # the footer survives the cut

    small = render_markdown(big_report(real_report, 50))
    assert "left out" not in small and len(table_after(small, "| test | outcome |")) == 50


def test_appending_counts_what_the_step_already_wrote(real_report: dict[str, Any], tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    summary.write_text("x" * 600_000)
    MarkdownWriter(summary, 10, append=True)(big_report(real_report, 8000))
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT
    assert "tests left out" in summary.read_text()


def test_cells_cannot_break_the_table(real_report: dict[str, Any]) -> None:
    report = copy.deepcopy(real_report)
    report["tests"][0]["nodeid"] = "test_x.py::test_p[a|b<c>\nd]"
    text = render_markdown(report)
    rows = table_after(text, "| test | outcome | setup | call | teardown |")
    assert rows[0][0] == r"`test_x.py::test_p[a\|b<c> d]`"
    assert all(len(r) == 8 for r in rows)


HOSTILE = "test_x.py::test_p[`![x](http://e.example/a.png) [click](http://e.example) <b>*bold*</b> www.e.example`]"


def test_ids_and_warnings_render_as_text_never_as_links_images_or_html(real_report: dict[str, Any]) -> None:
    report = copy.deepcopy(real_report)
    report["tests"][0]["nodeid"] = HOSTILE
    report["session"]["warnings"] = ["see ![x](http://e.example/w.png) and [here](http://e.example) _now_ $x$"]
    text = render_markdown(report)
    html = rendered(text)
    assert "<a " not in html and "<img" not in html and "<b>" not in html and "<em>" not in html
    assert HOSTILE in html.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    # Outside code spans nothing reads as a bare URL (GitHub links those too).
    outside = re.sub(r"(`+).*?\1", "", text)
    assert "http://" not in outside and "www.e" not in outside


def test_every_table_counts_towards_the_step_summary_limit(real_report: dict[str, Any]) -> None:
    report = copy.deepcopy(real_report)
    template = report["tests"][0]
    budget = {
        "limit": 1.0,
        "unit": "J",
        "limit_text": "1 J",
        "source": "@pytest.mark.carbon",
        "measured": 2.0,
        "exceeded": True,
    }
    # Ids of 40 kB each: every table that lists tests (top, over budget) would pass 1 MiB alone.
    report["tests"] = [
        dict(template, nodeid=f"tests/test_long.py::test_case[{i}-{'y' * 40_000}]", budget=budget, verdict="exceeded")
        for i in range(60)
    ]
    report["session"]["warnings"] = ["w" * 100_000] * 100
    text = render_markdown(report, top=1000)
    assert len(text.encode("utf-8")) <= STEP_SUMMARY_LIMIT - RESERVE
    assert "### Top 60 of 60 tests" in text and "| test over budget |" in text
    assert "</sub>" in text and "... and 80 more warnings" in text

    many = copy.deepcopy(real_report)
    many["tests"] = [dict(template, nodeid=f"t.py::test_{i}_{'z' * 200}") for i in range(20_000)]
    text = render_markdown(many, top=20_000)  # --carbon-top as large as the suite
    assert len(text.encode("utf-8")) <= STEP_SUMMARY_LIMIT - RESERVE
    assert "cut to stay within GitHub's 1 MiB step summary limit" in text
    assert "</sub>" in text  # the closing lines survive
    assert text.count("<details>") == text.count("</details>")


def test_a_step_summary_already_full_gets_a_short_note(real_report: dict[str, Any], tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    summary.write_text("x" * (STEP_SUMMARY_LIMIT - 1000))
    MarkdownWriter(summary, 10, append=True)(real_report)
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT
    assert summary.read_text().endswith("already close to GitHub's 1 MiB limit.\n")
