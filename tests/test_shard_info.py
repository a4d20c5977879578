"""Each run's report says which shard of the suite it was, for `combine` to name it."""

from __future__ import annotations

import json

import pytest
from conftest import ONE_JOULE_ONE_MG


def shard_of(pytester: pytest.Pytester, *args: str) -> object:
    pytester.makepyfile(test_it="def test_it():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *ONE_JOULE_ONE_MG, "--carbon-json=r.json", *args)
    assert result.ret == 0, result.stdout.str()
    return json.loads((pytester.path / "r.json").read_text())["session"].get("shard")


@pytest.mark.usefixtures("energy_suite")
def test_flag_and_ci_job(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shard_of(pytester) is None  # nothing says the suite is split
    monkeypatch.setenv("GITHUB_JOB", "tests")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2\x1b[31m")  # text from outside: no escape reaches a report
    assert shard_of(pytester, "--carbon-shard=03/8") == {
        "label": "3/8",
        "origin": "--carbon-shard",
        "index": 3,
        "total": 8,
        "ci": {"GITHUB_JOB": "tests", "GITHUB_RUN_ATTEMPT": "2?[31m"},
    }
    assert shard_of(pytester, "--carbon-shard=linux py3.12") == {
        "label": "linux py3.12",
        "origin": "--carbon-shard",
        "index": None,
        "total": None,
        "ci": {"GITHUB_JOB": "tests", "GITHUB_RUN_ATTEMPT": "2?[31m"},
    }


@pytest.mark.usefixtures("energy_suite")
def test_from_gitlab_parallel_and_pyproject(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_JOB_NAME", "tests 2/4")
    monkeypatch.setenv("CI_NODE_INDEX", "2")
    monkeypatch.setenv("CI_NODE_TOTAL", "4")
    found = shard_of(pytester)
    assert isinstance(found, dict)
    assert (found["label"], found["origin"]) == ("2/4", "CI_NODE_INDEX/CI_NODE_TOTAL")
    assert found["ci"]["CI_JOB_NAME"] == "tests 2/4"
    pytester.makefile(".toml", pyproject='[tool.pytest_carbon]\nshard = "eu-west"\n')
    found = shard_of(pytester)
    assert isinstance(found, dict)
    assert (found["label"], found["origin"]) == ("eu-west", "pyproject.toml [tool.pytest_carbon] shard")


@pytest.mark.usefixtures("energy_suite")
def test_from_pytest_split(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_split")
    found = shard_of(pytester, "--splits", "2", "--group", "1")
    assert isinstance(found, dict)
    assert (found["label"], found["origin"], found["index"], found["total"]) == (
        "1/2",
        "pytest-split --group/--splits",
        1,
        2,
    )
    found = shard_of(pytester, "--splits", "2", "--group", "1", "--carbon-shard=first")
    assert isinstance(found, dict) and found["label"] == "first"  # the flag wins


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("9/8", "--carbon-shard: '9/8' is shard 9 of 8. Accepted: INDEX/TOTAL with 1 <= INDEX <= TOTAL"),
        ("", "--carbon-shard: '' is not a shard label. Accepted: a shard label of printable characters"),
        ("x" * 101, "is not a shard label"),
    ],
)
def test_a_bad_label_is_a_usage_error(pytester: pytest.Pytester, value: str, words: str) -> None:
    pytester.makepyfile(test_it="def test_it():\n    pass\n")
    result = pytester.runpytest("--carbon-meters=estimate", f"--carbon-shard={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()
