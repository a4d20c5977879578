"""Where report files go: pytest's convention, and the summary names each file."""

from __future__ import annotations

import pytest


def test_command_line_paths_follow_the_invocation_directory_config_paths_their_file(pytester: pytest.Pytester) -> None:
    suite = pytester.mkdir("suite")
    (suite / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nminversion = "8"\n\n[tool.pytest_carbon]\njson = "reports/from-pyproject.json"\n'
    )
    (suite / "test_a.py").write_text("def test_a():\n    pass\n")
    result = pytester.runpytest("suite", "--carbon-html=out.html", "--carbon-md=out/summary.md")
    assert result.ret == 0
    html = pytester.path / "out.html"  # where pytest was started, as --junitxml
    markdown = pytester.path / "out" / "summary.md"
    json_report = suite / "reports" / "from-pyproject.json"  # next to the pyproject.toml that names it
    assert html.is_file() and markdown.is_file() and json_report.is_file()
    assert not (suite / "out.html").exists()
    result.stdout.fnmatch_lines(
        [
            f"*carbon report: {json_report.resolve()}*",
            f"*carbon report: {markdown.resolve()}*",
            f"*carbon report: {html.resolve()}*",
        ]
    )


def test_an_ini_path_is_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    config = pytester.mkdir("config")
    (config / "pytest.ini").write_text("[pytest]\ncarbon_json = carbon.json\n")
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest("-c", str(config / "pytest.ini"), "--rootdir", str(pytester.path), str(pytester.path))
    assert result.ret == 0
    assert (config / "carbon.json").is_file()
    result.stdout.fnmatch_lines([f"*carbon report: {(config / 'carbon.json').resolve()}*"])
