"""JUnit XML: every <testcase> carries its energy, carbon and budget as properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from report_suite import make_suite, read


def properties(path: str) -> dict[str, dict[str, str]]:
    root = ET.parse(path).getroot()
    found = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        found[name] = {p.get("name"): p.get("value") for p in case.iter("property")}
    return found


@pytest.mark.usefixtures("energy_suite")
def test_properties_match_the_json_report(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    pytester.makepyprojecttoml('[tool.pytest_carbon.budgets]\n"*test_steady" = "5 g"\n')
    result = pytester.runpytest("--junitxml=junit.xml", "--carbon-json=carbon.json")
    assert result.ret == 0
    found = properties(str(pytester.path / "junit.xml"))
    report = read(pytester.path / "carbon.json")
    assert len(found) == len(report["tests"]) == 3
    for test in report["tests"]:
        props = found["test_work." + test["nodeid"].split("::")[-1]]
        assert float(props["carbon_energy_j"]) == pytest.approx(test["energy_j"], rel=1e-5)
        assert float(props["carbon_co2e_g"]) == pytest.approx(test["co2e_g"], rel=1e-5)
        assert float(props["carbon_energy_j"]) > 0
    assert found["test_work.test_budgeted"]["carbon_budget"] == "100 J (from @pytest.mark.carbon)"
    assert found["test_work.test_steady"]["carbon_budget"] == "5 g (from [tool.pytest_carbon.budgets] '*test_steady')"
    assert "carbon_budget" not in found["test_work.test_grows"]


@pytest.mark.usefixtures("energy_suite")
def test_failed_and_skipped_tests_get_properties_too_in_xunit2(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mixed="""
        import pytest
        from energy import burn
        def test_fails():
            assert 0
        def test_skips():
            pytest.skip("no")
        @pytest.mark.carbon("0.001 J")
        def test_over():
            burn(0.002)
        """
    )
    result = pytester.runpytest("--carbon-meters=rapl", "--junitxml=junit.xml", "-o", "junit_family=xunit2")
    result.assert_outcomes(failed=2, skipped=1)
    assert "::error" not in result.stdout.str()  # annotations only on GitHub Actions
    found = properties(str(pytester.path / "junit.xml"))
    assert set(found) == {"test_mixed.test_fails", "test_mixed.test_skips", "test_mixed.test_over"}
    for props in found.values():
        assert {"carbon_energy_j", "carbon_co2e_g"} <= set(props)
    assert found["test_mixed.test_over"]["carbon_budget"] == "0.001 J (from @pytest.mark.carbon)"
    assert float(found["test_mixed.test_over"]["carbon_energy_j"]) > 0.001


def test_no_listener_without_junitxml(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(request):\n    pass\n")
    config = pytester.parseconfigure()
    from pytest_carbon.plugin import SESSION_KEY

    assert config.stash[SESSION_KEY].test_listeners == []
