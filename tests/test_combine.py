"""`python -m pytest_carbon combine`: one footprint and one budget across a suite's shards.

Every shard is a real pytest run whose tests burn known joules on the fake RAPL counter, the
run's only meter, so each figure is exact: at 3600 gCO2e/kWh one joule is one milligram.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ONE_JOULE_ONE_MG

from pytest_carbon.report.reading import check_report

SUITE = {
    "test_one": """
        import pathlib
        from energy import burn

        def test_a():
            burn(1.0)

        def test_b():
            burn(float(pathlib.Path(__file__).with_name("work.txt").read_text()))
    """,
    "test_two": """
        import pytest
        from energy import burn

        def test_c():
            burn(4.0)

        @pytest.mark.carbon("1 J")
        def test_d():
            burn(3.0)
    """,
    "test_three": """
        from energy import burn

        def test_e():
            burn(8.0)
    """,
}
TOTAL_J = 18.0  # 1 + 2 + 4 + 3 + 8 with work.txt at 2 J
SHARDS = {"1/3": "test_one.py", "2/3": "test_two.py", "3/3": "test_three.py"}


@pytest.fixture
def suite(energy_suite: pytest.Pytester) -> pytest.Pytester:
    energy_suite.makepyfile(**{name: _dedent(text) for name, text in SUITE.items()})
    (energy_suite.path / "work.txt").write_text("2.0")
    return energy_suite


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip()


def shard(pytester: pytest.Pytester, label: str, out: str, *args: str, intensity: str = "3600") -> dict[str, Any]:
    """Run one shard (the test file of `label`, or what `args` select) and return its report."""
    selected = list(args) or [SHARDS[label]]
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--carbon-meters=rapl",
        f"--carbon-intensity={intensity}",
        f"--carbon-json={out}",
        *([f"--carbon-shard={label}"] if label else []),
        *selected,
    )
    assert result.ret in (0, 1), result.stdout.str()
    return json.loads((pytester.path / out).read_text())


def combine(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_carbon", "combine", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def combined(cwd: Path, *args: str, out: str = "combined.json", code: int = 0) -> dict[str, Any]:
    done = combine(cwd, *args, f"--json={out}")
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return json.loads((cwd / out).read_text())


def energies(report: dict[str, Any]) -> dict[str, float]:
    return {t["nodeid"]: t["energy_j"] for t in report["tests"]}


def test_two_shards_add_up(suite: pytest.Pytester) -> None:
    shard(suite, "1/3", "shards/one.json")
    shard(suite, "2/3", "shards/two.json")
    done = combine(suite.path, "shards/one.json", "shards/two.json", "--json=all.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((suite.path / "all.json").read_text())
    check_report(report, "all.json")  # the same schema: combine, compare and the writers take it
    session = report["session"]
    assert session["energy_j"] == pytest.approx(10.0)
    assert session["co2e_g"] == pytest.approx(0.010)
    assert session["breakdown"]["tests_j"] == pytest.approx(10.0)
    assert energies(report) == pytest.approx(
        {"test_one.py::test_a": 1.0, "test_one.py::test_b": 2.0, "test_two.py::test_c": 4.0, "test_two.py::test_d": 3.0}
    )
    assert [(s["name"], s["tests"], round(s["energy_j"], 6)) for s in session["shards"]] == [
        ("1/3", 2, 3.0),
        ("2/3", 2, 7.0),
    ]
    assert {t["nodeid"]: t["shard"] for t in report["tests"]}["test_two.py::test_c"] == "2/3"
    # the shard's per-test verdict is kept as it was
    over = [t["nodeid"] for t in report["tests"] if t["verdict"] == "exceeded"]
    assert over == ["test_two.py::test_d"] and session["tests_over_budget"] == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "carbon: 2 reports, 2 shards combined"
    assert lines[1].startswith("session: 10.0 J, 10.0 mgCO2e over ")
    assert "shards: 2 on 1 host, each counted with its own intensity, PUE and embodied setting:" in done.stdout
    assert any(line.strip().startswith("1/3: ") and line.endswith("2 tests: 3.00 J, 3.00 mgCO2e") for line in lines)
    assert "  test_two.py::test_d: 3.00 J > 1.00 J (from @pytest.mark.carbon)" in lines
    assert "the shards' settings differ" not in done.stdout


def test_three_shards_from_pytest_split_in_a_directory(suite: pytest.Pytester) -> None:
    pytest.importorskip("pytest_split")
    for group in (1, 2, 3):
        # pytest-split names the shard; the CI artifacts land one folder per job
        shard(suite, "", f"artifacts/job-{group}/carbon.json", "--splits", "3", "--group", str(group))
    (suite.path / "artifacts" / "coverage.json").write_text('{"meta": {}}')
    report = combined(suite.path, "artifacts")
    names = sorted(s["name"] for s in report["session"]["shards"])
    assert names == ["1/3", "2/3", "3/3"]
    assert all(s["label"] == s["name"] for s in report["session"]["shards"])
    assert sorted(energies(report)) == sorted(
        f"{f}::{t}"
        for f, t in [
            ("test_one.py", "test_a"),
            ("test_one.py", "test_b"),
            ("test_two.py", "test_c"),
            ("test_two.py", "test_d"),
            ("test_three.py", "test_e"),
        ]
    )
    assert report["session"]["energy_j"] == pytest.approx(TOTAL_J)
    assert report["session"]["replaced_tests"] == []
    done = combine(suite.path, "artifacts/*/carbon.json")
    assert done.returncode == 0 and "3 shards combined" in done.stdout
    # the folder's coverage.json is not a report: skipped, and said so
    assert (
        "note: skipped artifacts/coverage.json: not a pytest-carbon report" in combine(suite.path, "artifacts").stderr
    )


def test_two_regions_keep_their_own_intensity(suite: pytest.Pytester) -> None:
    shard(suite, "1/3", "eu.json", intensity="3600")
    shard(suite, "2/3", "us.json", intensity="1800")  # half a milligram per joule
    report = combined(suite.path, "eu.json", "us.json")
    session = report["session"]
    assert session["energy_j"] == pytest.approx(10.0)
    assert session["co2e_g"] == pytest.approx(0.003 + 0.0035)
    tests = {t["nodeid"]: t["co2e_g"] for t in report["tests"]}
    assert tests["test_one.py::test_b"] == pytest.approx(0.002) and tests["test_two.py::test_c"] == pytest.approx(0.002)
    assert session["intensity_kind"] == "mixed"
    # the session's intensity makes its figures add up: energy x intensity = operational
    assert session["intensity_g_per_kwh"] * session["pue"] * 10.0 / 3.6e6 == pytest.approx(session["operational_g"])
    assert [s["intensity_g_per_kwh"] for s in session["shards"]] == [3600.0, 1800.0]
    assert len(session["shard_differences"]) == 1
    assert session["shard_differences"][0].startswith("grid intensity: 3600 gCO2e/kWh")
    text = combine(suite.path, "eu.json", "us.json").stdout
    assert "the shards' settings differ: grid intensity: 3600 gCO2e/kWh" in text
    assert "2/3: " in text and "1800 gCO2e/kWh" in text


def test_a_rerun_test_counts_once_from_the_later_report(suite: pytest.Pytester) -> None:
    shard(suite, "1/3", "first.json")
    shard(suite, "2/3", "two.json")
    (suite.path / "work.txt").write_text("5.0")
    shard(suite, "1/3", "rerun.json")  # the re-run of a failed CI job: the same tests, later
    for order in (["first.json", "two.json", "rerun.json"], ["rerun.json", "two.json", "first.json"]):
        report = combined(suite.path, *order)
        session = report["session"]
        assert energies(report)["test_one.py::test_b"] == pytest.approx(5.0)
        assert session["energy_j"] == pytest.approx(1.0 + 5.0 + 7.0)  # never counted twice
        assert len(report["tests"]) == 4
        shards = {s["report"]: s for s in session["shards"]}
        assert shards["first.json"]["tests"] == 0 and shards["first.json"]["energy_j"] == pytest.approx(0.0)
        assert sorted(shards["first.json"]["replaced"]) == ["test_one.py::test_a", "test_one.py::test_b"]
        kept, dropped = shards["rerun.json"]["name"], shards["first.json"]["name"]
        assert {kept, dropped} == {"1/3 (1)", "1/3 (2)"}
        assert sorted(session["replaced_tests"], key=lambda r: r["nodeid"]) == [
            {"nodeid": "test_one.py::test_a", "kept": kept, "replaced": [dropped]},
            {"nodeid": "test_one.py::test_b", "kept": kept, "replaced": [dropped]},
        ]
    text = combine(suite.path, "first.json", "two.json", "rerun.json").stdout
    assert (
        "2 tests ran in more than one shard, counted once from the report that ended last: test_one.py::test_a" in text
    )


def test_an_incomplete_shard_is_flagged(suite: pytest.Pytester) -> None:
    shard(suite, "1/3", "one.json")
    suite.makepyfile(
        test_killed="""
        import os, signal
        from energy import burn

        def test_killed():
            burn(1.0)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    suite.runpytest_subprocess(
        "-p", "no:cacheprovider", *ONE_JOULE_ONE_MG, "--carbon-json=killed.json", "--carbon-shard=2/3", "test_killed.py"
    )
    killed = json.loads((suite.path / "killed.json").read_text())
    assert killed["complete"] is False  # the placeholder a killed run leaves
    done = combine(suite.path, "one.json", "killed.json", "--json=all.json")
    assert done.returncode == 0, done.stderr
    report = json.loads((suite.path / "all.json").read_text())
    assert report["complete"] is False
    assert report["interrupted"].startswith("1 of 2 shards did not finish: 2/3 (the run did not finish")
    assert [s["complete"] for s in report["session"]["shards"]] == [True, False]
    assert report["session"]["energy_j"] == pytest.approx(3.0)
    assert "[incomplete: 1 of 2 shards did not finish" in done.stdout
    assert "warning: 1 of 2 shards did not finish" in done.stdout


def _bad(path: Path, kind: str) -> None:
    report = json.loads((path.parent / "good.json").read_text())
    if kind == "version":
        report["schema_version"] = 2
    elif kind == "not a report":
        report = {"coverage": 99}
    elif kind == "bad figure":
        report["tests"][0]["energy_j"] = "lots"
    elif kind == "not a number":
        report["session"]["energy_j"] = float("nan")
    if kind == "broken":
        path.write_text("{")
    else:
        path.write_text(json.dumps(report))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("version", "bad.json: has schema_version 2; this pytest-carbon (1) reads schema_version 1 only"),
        ("not a report", 'bad.json: is not a pytest-carbon report (it has no "schema": "pytest-carbon/report")'),
        ("bad figure", "bad.json: is not a valid report: report.tests[0].energy_j is 'lots', not a finite number"),
        ("not a number", "bad.json: is not a valid report: report.session.energy_j is nan, not a finite number"),
        ("broken", "bad.json: is not valid JSON"),
        ("missing", "bad.json: no such file"),
    ],
)
def test_a_report_that_cannot_be_used_is_an_error(suite: pytest.Pytester, kind: str, words: str) -> None:
    shard(suite, "1/3", "good.json")
    if kind != "missing":
        _bad(suite.path / "bad.json", kind)
    done = combine(suite.path, "good.json", "bad.json", "--json=all.json")
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {words}"), done.stderr
    assert "Traceback" not in done.stderr and not (suite.path / "all.json").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "error: no reports given"),
        (["empty"], "error: empty: the directory holds no .json report"),
        (["nothing/*.json"], "error: nothing/*.json: no file matches"),
        (["--budget=5"], "error: --budget: '5' has no unit"),
        (["--top=many"], "error: --top: 'many' is not a whole number"),
    ],
)
def test_bad_arguments_exit_4(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "empty").mkdir()
    done = combine(tmp_path, *args)
    assert done.returncode == 4 and done.stderr.startswith(words), done.stderr


def test_the_same_run_twice_is_an_error(suite: pytest.Pytester) -> None:
    shard(suite, "1/3", "one.json")
    shard(suite, "2/3", "two.json")
    assert combine(suite.path, "one.json", "two.json", "--json=both.json").returncode == 0
    done = combine(suite.path, "both.json", "one.json")
    assert done.returncode == 4
    assert "error: one.json: the run of " in done.stderr and "is already included through both.json" in done.stderr
    # one file named twice (a glob and its name) is read once
    assert combine(suite.path, "one.json", "*.json", "--json=again.json").returncode == 4  # both.json holds one.json
    assert combine(suite.path, "one.json", "one.json", "two.json").returncode == 0


def test_budget_exit_and_pyproject(suite: pytest.Pytester) -> None:
    for label in SHARDS:
        shard(suite, label, f"shards/{label[0]}.json")
    over = combine(suite.path, "shards", "--budget=10 mg")
    assert over.returncode == 1
    assert "session carbon budget exceeded: 18.0 mgCO2e > 10.0 mgCO2e (from --budget)" in over.stdout
    assert combine(suite.path, "shards", "--budget=20 mg").returncode == 0
    assert combine(suite.path, "shards", "--budget=17 J").returncode == 1  # an energy budget counts joules
    suite.makefile(".toml", pyproject='[tool.pytest_carbon]\nbudget = "10 mg"\ntop = 1\n')
    from_file = combine(suite.path, "shards")
    assert from_file.returncode == 1
    assert "(from pyproject.toml [tool.pytest_carbon] budget)" in from_file.stdout
    assert "top 1 of 5 tests:" in from_file.stdout
    assert combine(suite.path, "shards", "--budget=1 g").returncode == 0  # the command line wins
    suite.makefile(".toml", pyproject='[tool.pytest_carbon]\nbudget = "10 mg"\naction = "warn"\n')
    warned = combine(suite.path, "shards")
    assert warned.returncode == 0 and "session carbon budget exceeded (warning only)" in warned.stdout
    suite.makefile(".toml", pyproject='[tool.pytest_carbon]\nbudget = "ten"\n')
    bad = combine(suite.path, "shards")
    assert bad.returncode == 4 and "error: pyproject.toml [tool.pytest_carbon] budget: 'ten'" in bad.stderr


def test_comparison_with_a_combined_baseline(suite: pytest.Pytester) -> None:
    for label in SHARDS:
        shard(suite, label, f"before/{label[0]}.json")
    assert combine(suite.path, "before", "--json=baseline.json").returncode == 0
    (suite.path / "work.txt").write_text("20.0")
    for label in SHARDS:
        shard(suite, label, f"after/{label[0]}.json")
    failed = combine(suite.path, "after", "--compare=baseline.json", "--compare-fail=50", "--json=after.json")
    assert failed.returncode == 1, failed.stdout
    assert "carbon regression: 1 test and the session grew by more than 50%" in failed.stdout
    assert "  test_one.py::test_b: 2.00 J -> 20.0 J (+900%)" in failed.stdout
    comparison = json.loads((suite.path / "after.json").read_text())["comparison"]
    assert comparison["regressed"] == ["test_one.py::test_b"] and comparison["session"]["before"] == pytest.approx(18)
    assert combine(suite.path, "after", "--compare=baseline.json", "--compare-fail=1000").returncode == 0
    suite.makefile(".toml", pyproject='[tool.pytest_carbon]\ncompare = "baseline.json"\ncompare_fail = "50%"\n')
    assert combine(suite.path, "after").returncode == 1
    # `compare` takes a combined report too
    done = subprocess.run(
        [sys.executable, "-m", "pytest_carbon", "compare", "baseline.json", "after.json", "--fail=50"],
        cwd=suite.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "regressed test_one.py::test_b" in done.stdout
    missing = combine(suite.path, "after", "--compare=none.json", "--compare-fail=5")
    assert (
        missing.returncode == 0 and "warning: no baseline to compare with: none.json does not exist" in missing.stdout
    )


def test_markdown_and_html_of_a_combined_report(suite: pytest.Pytester) -> None:
    shard(suite, "<b>eu</b>", "eu.json", "test_one.py", intensity="3600")
    shard(suite, "2/3", "us.json", intensity="1800")
    done = combine(suite.path, "eu.json", "us.json", "--md=out/summary.md", "--html=out/report.html", "--budget=1 g")
    assert done.returncode == 0, done.stderr
    markdown = (suite.path / "out/summary.md").read_text()
    assert "**10.0 J, 6.50 mgCO2e** for 4 tests" in markdown
    assert "### 2 shards" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `<b>eu</b>` | ") and "| 3600 g/kWh |" in rows[0]
    assert rows[0].endswith(" s | 2 | 3.00 J | 3.00 mgCO2e |")
    assert rows[1].startswith("| `2/3` | ") and "| 1800 g/kWh |" in rows[1]
    assert rows[1].endswith(" s | 2 | 7.00 J | 3.50 mgCO2e |")
    # Cells escape Markdown punctuation: the line renders as "grid intensity: 3600 gCO2e/kWh".
    assert "- the shards' settings differ: grid intensity\\: 3600 gCO2e\\/kWh" in markdown
    assert "| `test_two.py::test_d` | 3.00 J | 1.00 J | \\@pytest\\.mark\\.carbon |" in markdown
    assert ":white_check_mark: session within budget" in markdown
    html = (suite.path / "out/report.html").read_text()
    assert '<h2 id="shards">2 shards</h2>' in html
    assert "<code>&lt;b&gt;eu&lt;/b&gt;</code>" in html and "<b>eu</b>" not in html
    assert ">7.00 J</td>" in html and "the shards&#x27; settings differ: grid intensity" in html
    assert "test_two.py::test_d" in html.split('id="budgets"')[1].split("<h2")[0]


def rounded(value: Any) -> Any:
    """Figures compared to 1e-9 J or g: sums taken in another order differ in the last bits."""
    if isinstance(value, float):
        return round(value, 9) + 0.0
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def figures(report: dict[str, Any]) -> dict[str, Any]:
    session = report["session"]
    return {
        "totals": [session[k] for k in ("energy_j", "co2e_g", "operational_g", "embodied_g", "duration_s")],
        "sci": session["sci"]["total_g"],
        "breakdown": session["breakdown"],
        "by_meter": session["by_meter"],
        "channels": {c["name"]: c["energy_j"] for m in session["meters"] for c in m["channels"]},
        "tests": {t["nodeid"]: (t["energy_j"], t["co2e_g"], t["shard"], t["verdict"]) for t in report["tests"]},
        "fixtures": {f["label"]: (f["energy_j"], f["setups"], f["shards"]) for f in report["fixtures"]},
        "overhead": {k: v["energy_j"] for k, v in session["overhead"].items()},
        "shards": [
            (s["name"], s["report"], s["tests"], s["energy_j"], s["co2e_g"], sorted(s["replaced"]))
            for s in session["shards"]
        ],
        "replaced": sorted((r["nodeid"], r["kept"], tuple(r["replaced"])) for r in session["replaced_tests"]),
        "differences": session["shard_differences"],
        "intensity": session["intensity_g_per_kwh"],
        "complete": (report["complete"], report["interrupted"]),
        "over": session["tests_over_budget"],
    }


def test_combining_a_combined_report_again_gives_the_same_figures(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        """
        import pytest
        from energy import burn

        @pytest.fixture(scope="session", autouse=True)
        def warm():
            burn(0.5)
        """
    )
    shard(suite, "1/3", "a.json", intensity="3600")
    shard(suite, "2/3", "b.json", intensity="1800")
    (suite.path / "work.txt").write_text("3.0")
    shard(suite, "", "c.json", "test_one.py", "test_three.py", intensity="900")  # re-runs a's tests, later
    assert combine(suite.path, "a.json", "b.json", "--json=ab.json").returncode == 0
    nested = combined(suite.path, "ab.json", "c.json", out="nested.json")
    flat = combined(suite.path, "a.json", "b.json", "c.json", out="flat.json")
    assert rounded(figures(nested)) == rounded(figures(flat))
    assert nested["session"]["energy_j"] == pytest.approx(7.0 + 1.0 + 3.0 + 8.0 + 3 * 0.5)
    # Other plugins may add shared fixtures of their own (pytest-asyncio's event loop policy).
    assert rounded(figures(flat)["fixtures"])["warm (session)"] == [1.5, 3, 3]
    assert [s["name"] for s in flat["session"]["shards"]] == ["1/3", "2/3", "c.json"]
    # and the other way round
    assert combine(suite.path, "b.json", "c.json", "--json=bc.json").returncode == 0
    assert rounded(figures(combined(suite.path, "a.json", "bc.json", out="other.json"))) == rounded(figures(flat))


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_ci_examples_call_combine_as_it_reads_its_arguments(name: str) -> None:
    import re
    import shlex

    from pytest_carbon.cli.combine import parser

    text = (Path(__file__).parent.parent / "examples" / "ci" / name).read_text()
    # the folded YAML block that starts with the command, up to the next key or list item
    block = re.search(r"^( +)(?:- |run: )>\n((?:\1 +python -m pytest_carbon combine.*\n)(?:\1 +--.*\n)+)", text, re.M)
    assert block is not None, text
    words = shlex.split(" ".join(line.strip() for line in block.group(2).splitlines()))
    assert words[:4] == ["python", "-m", "pytest_carbon", "combine"]
    args = parser().parse_args(words[4:])
    assert args.reports == ["shards"] and args.budget == "5g" and args.compare_fail == "10"
    assert args.json == "carbon.json" and args.compare.endswith(".json")
