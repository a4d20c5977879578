"""Embodied emissions (SCI share of the hardware) and the per-test SCI figure."""

from __future__ import annotations

import pytest
from accounting_helpers import QUIET_PLUGINS, operational, run_json

from pytest_carbon.carbon.embodied import SECONDS_PER_YEAR, parse_hardware, server_total_kg
from pytest_carbon.values.errors import CarbonConfigError

WHERE = "pyproject.toml [tool.pytest_carbon]"


def test_default_server_is_the_base_model() -> None:
    model = parse_hardware({}, WHERE, machine_vcpus=2)
    assert model.total_kg == 1000.0
    assert model.lifetime_years == 4.0 and model.resource_share == 1.0
    assert model.g_per_s == pytest.approx(1_000_000 / (4 * SECONDS_PER_YEAR))
    assert model.g_per_s * 3600 == pytest.approx(28.5, abs=0.05)


def test_component_model_adds_each_part() -> None:
    # 1000 base + 1 extra CPU x 100 + (64 - 16) GB x 1.39 + 2 SSD x 100 + 1 GPU x 150
    assert server_total_kg(cpus=2, memory_gb=64, ssds=2, gpus=1) == pytest.approx(1516.72)
    model = parse_hardware({"cpus": 2, "memory_gb": 64, "ssds": 2, "gpus": 1}, WHERE, machine_vcpus=2)
    assert model.total_kg == pytest.approx(1516.72)
    assert model.basis == "server from pyproject"


def test_share_of_a_shared_runner_matches_the_eco_ci_figure() -> None:
    # A 4-vCPU runner on a 128-thread host, 1151.7 kgCO2e over 4 years: about 1.03 g per hour.
    model = parse_hardware({"total_kg": 1151.7, "host_vcpus": 128}, WHERE, machine_vcpus=4)
    assert model.resource_share == 4 / 128
    assert model.g_per_s * 3600 == pytest.approx(1.03, abs=0.005)
    assert model.label(True).startswith(
        "embodied 1.03 g/h included (total_kg from pyproject 1151.7 kgCO2e, 4-year life, share 0.0312)"
    )
    assert model.label(False) == "embodied emissions excluded (use --carbon-embodied to include)"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"total_kgs": 5}, "'total_kgs' is an unknown key (did you mean 'total_kg'?)"),
        ({"cpus": "two"}, "embodied_hardware] cpus: 'two' is not a number"),
        ({"cpus": 1.5}, "is not a whole number"),
        ({"resource_share": 1.5}, "resource_share: 1.5 is out of range"),
        ({"lifetime_years": 0}, "lifetime_years: 0 is out of range"),
        ({"total_kg": 900, "cpus": 2}, "cannot be combined with total_kg"),
        ({"resource_share": 0.5, "host_vcpus": 8}, "cannot be combined with resource_share"),
        ({"host_vcpus": 1}, "is fewer than the 2 vCPUs this machine has"),
        ({"gpus": True}, "gpus: True is not a number"),
    ],
)
def test_bad_hardware_table_names_the_key(table: dict[str, object], says: str) -> None:
    with pytest.raises(CarbonConfigError) as info:
        parse_hardware(table, WHERE, machine_vcpus=2)
    assert says in str(info.value)
    assert "[tool.pytest_carbon.embodied_hardware]" in str(info.value)


# -- through pytest ----------------------------------------------------------------------


def test_without_the_flag_embodied_is_excluded_but_the_sci_counts_it(pytester: pytest.Pytester) -> None:
    result, report = run_json(pytester, "--carbon-intensity=FR")
    session = report["session"]
    assert session["embodied_g"] == 0.0 and session["embodied"]["included"] is False
    assert session["co2e_g"] == pytest.approx(operational(session["energy_j"], session))
    test = report["tests"][0]
    rate = session["embodied"]["g_per_s"]
    assert test["sci_g"] == pytest.approx(test["operational_g"] + test["duration_s"] * rate)
    assert test["sci_g"] > test["co2e_g"]
    result.stdout.fnmatch_lines(["carbon: embodied emissions excluded (use --carbon-embodied to include)"])


@pytest.mark.parametrize(
    ("args", "config"),
    [
        (["--carbon-embodied"], ""),
        ([], "embodied = true\n"),
    ],
)
def test_embodied_share_is_added_per_second_of_use(pytester: pytest.Pytester, args: list[str], config: str) -> None:
    pytester.makepyprojecttoml(
        f"[tool.pytest_carbon]\n{config}\n[tool.pytest_carbon.embodied_hardware]\ntotal_kg = 1151.7\nresource_share = 0.03125\n"
    )
    result, report = run_json(pytester, "--carbon-intensity=gcp:europe-west1", *args)
    session = report["session"]
    embodied = session["embodied"]
    assert embodied["included"] is True
    assert (embodied["total_kg"], embodied["lifetime_years"], embodied["resource_share"]) == (1151.7, 4.0, 0.03125)
    rate = 1151.7e3 * 0.03125 / (4 * SECONDS_PER_YEAR)
    assert embodied["g_per_s"] == pytest.approx(rate)
    assert session["embodied_g"] == pytest.approx(session["duration_s"] * rate)
    assert session["operational_g"] == pytest.approx(session["energy_j"] / 3.6e6 * 1.1 * 103.37)
    assert session["co2e_g"] == pytest.approx(session["operational_g"] + session["embodied_g"])
    for test in report["tests"]:
        assert test["embodied_g"] == pytest.approx(test["duration_s"] * rate)
        assert test["co2e_g"] == pytest.approx(test["operational_g"] + test["embodied_g"])
        assert test["sci_g"] == pytest.approx(test["co2e_g"])
    assert session["sci"]["tests"] == 1
    assert session["sci"]["g_per_test"] == pytest.approx(session["co2e_g"])
    result.stdout.fnmatch_lines(
        ["carbon: embodied 1.03 g/h included (total_kg from pyproject 1151.7 kgCO2e, 4-year life, share 0.0312)"]
    )


def test_ini_switch_and_host_vcpus_share(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", tox="[pytest]\ncarbon_embodied = true\n")
    pytester.makepyprojecttoml("[tool.pytest_carbon.embodied_hardware]\nhost_vcpus = 512\nmemory_gb = 256\n")
    _, report = run_json(pytester)
    embodied = report["session"]["embodied"]
    assert embodied["included"] is True
    assert embodied["resource_share"] == pytest.approx(report["session"]["vcpus"] / 512)
    assert embodied["total_kg"] == pytest.approx(1000 + 240 * 1.39)
    assert embodied["resource_share_source"] == f"{report['session']['vcpus']} of 512 host vCPUs"


@pytest.mark.parametrize(
    ("pyproject", "says"),
    [
        (
            "[tool.pytest_carbon.embodied_hardware]\nlifetime = 5\n",
            "[tool.pytest_carbon.embodied_hardware]: 'lifetime' is an unknown key (did you mean 'lifetime_years'?)",
        ),
        (
            '[tool.pytest_carbon]\nembodied = "sometimes"\n',
            "[tool.pytest_carbon] embodied: 'sometimes' is not true or false",
        ),
        ("[tool.pytest_carbon]\nembodied_hardware = 3\n", "[tool.pytest_carbon] embodied_hardware: 3 is not a table"),
    ],
)
def test_bad_embodied_settings_are_usage_errors(pytester: pytest.Pytester, pyproject: str, says: str) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.makepyprojecttoml(pyproject)
    result = pytester.runpytest_subprocess(*QUIET_PLUGINS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str()
