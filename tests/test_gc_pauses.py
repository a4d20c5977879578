"""Full garbage collections are the session's overhead, wherever they land."""

from __future__ import annotations

import json

from conftest import ONE_JOULE_ONE_MG

# A gc callback of the suite's own spends known joules during every full collection:
# registered after the plugin's, it runs inside the stretch the plugin charges to "gc".
SUITE = """
import gc
import pytest
from energy import burn


def spend_in_full_collections(phase, info):
    if phase == "start" and info["generation"] == 2:
        burn(7)


@pytest.fixture
def collecting():
    gc.callbacks.append(spend_in_full_collections)
    try:
        gc.collect()
        yield
    finally:
        gc.callbacks.remove(spend_in_full_collections)


@pytest.mark.carbon(max_j=1)
def test_full_collection_in_setup(collecting):
    burn(0.25)


@pytest.mark.carbon(max_j=1)
def test_full_collection_in_call():
    burn(0.25)
    gc.callbacks.append(spend_in_full_collections)
    try:
        gc.collect(2)
    finally:
        gc.callbacks.remove(spend_in_full_collections)


@pytest.mark.carbon(max_j=1)
def test_young_collections_stay_with_the_test():
    gc.callbacks.append(spend_in_full_collections)
    try:
        gc.collect(0)
        gc.collect(1)
    finally:
        gc.callbacks.remove(spend_in_full_collections)
    burn(0.25)
"""


def test_a_full_collection_is_charged_to_the_session_not_the_test(energy_suite):
    energy_suite.makepyfile(test_a=SUITE)
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-json=out.json")
    result.assert_outcomes(passed=3)
    report = json.loads((energy_suite.path / "out.json").read_text())
    tests = {t["nodeid"].split("::")[1]: t for t in report["tests"]}
    for name in ("test_full_collection_in_setup", "test_full_collection_in_call"):
        assert 0.25 <= tests[name]["energy_j"] < 1, tests[name]
    assert 0.25 <= tests["test_young_collections_stay_with_the_test"]["energy_j"] < 1
    gc_part = report["session"]["overhead"]["gc"]
    assert 14 <= gc_part["energy_j"] < 14.5, gc_part
    assert report["session"]["breakdown"]["gc_j"] == gc_part["energy_j"]
    assert report["session"]["energy_j"] >= 14.75
    result.stdout.fnmatch_lines(["*(of which full garbage collections 14.*J)*"])


def test_a_full_collection_counts_towards_the_session_budget(energy_suite):
    energy_suite.makepyfile(test_a=SUITE)
    result = energy_suite.runpytest(*ONE_JOULE_ONE_MG, "--carbon-budget=10mg")
    result.assert_outcomes(passed=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*session*carbon budget exceeded*"])
