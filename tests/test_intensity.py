"""Grid intensity: every form of --carbon-intensity, auto detection, PUE presets, errors."""

from __future__ import annotations

import pytest
from accounting_helpers import QUIET_PLUGINS, operational, run_json

from pytest_carbon.carbon.model import Intensity, choose_pue, resolve_intensity
from pytest_carbon.cli.intensities import main as intensities_main
from pytest_carbon.data.tables import load_table
from pytest_carbon.values.errors import CarbonConfigError


def table_value(table: str, column: str, key: str) -> float:
    row = next(r for r in load_table(table).rows if r[column] == key)
    return float(row["g_per_kwh"])


# -- each form, as pure logic -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "kind"),
    [
        (300, 300.0, "number"),
        ("12.5 g/kWh", 12.5, "number"),
        ("world", table_value("grid_countries.csv", "iso2", "WORLD"), "world"),
        ("FR", table_value("grid_countries.csv", "iso2", "FR"), "country"),
        ("fra", table_value("grid_countries.csv", "iso2", "FR"), "country"),
        ("UK", table_value("grid_countries.csv", "iso2", "GB"), "country"),
        ("gcp:europe-west1", table_value("gcp_regions.csv", "region", "europe-west1"), "gcp"),
        ("GCP:us-central1", table_value("gcp_regions.csv", "region", "us-central1"), "gcp"),
        ("aws:eu-west-3", table_value("grid_countries.csv", "iso2", "FR"), "aws"),
        ("azure:germanywestcentral", table_value("grid_countries.csv", "iso2", "DE"), "azure"),
        ("azure:West Europe", table_value("grid_countries.csv", "iso2", "NL"), "azure"),
    ],
)
def test_each_form_resolves_to_its_table_value(raw: object, expected: float, kind: str) -> None:
    intensity = resolve_intensity(raw, "--carbon-intensity", environ={})
    assert intensity.g_per_kwh == pytest.approx(expected)
    assert intensity.kind == kind
    assert intensity.origin == "--carbon-intensity"


def test_bundled_figures_match_the_published_reference_values() -> None:
    # Ember 2024 and Google region-carbon-info 2024, as quoted in the project's references.
    assert resolve_intensity("FR", "x").g_per_kwh == pytest.approx(44.2, abs=0.1)
    assert resolve_intensity("world", "x").g_per_kwh == pytest.approx(472.9, abs=0.5)
    assert resolve_intensity("gcp:europe-west9", "x").g_per_kwh == pytest.approx(16.3, abs=0.1)
    assert resolve_intensity("gcp:northamerica-northeast1", "x").g_per_kwh == pytest.approx(5.5, abs=0.1)


def test_aws_region_is_a_labelled_mapping_to_its_country() -> None:
    intensity = resolve_intensity("aws:eu-west-3", "--carbon-intensity")
    assert intensity.provider == "aws"
    assert intensity.zone == "FR"
    assert "mapped to France (FR)" in intensity.label
    assert intensity.note is not None and "no per-region figure" in intensity.note


def test_us_regions_use_the_national_figure_and_say_the_regional_grid_differs() -> None:
    intensity = resolve_intensity("aws:us-west-2", "x")
    assert intensity.g_per_kwh == table_value("grid_countries.csv", "iso2", "US")
    assert intensity.note is not None and "(WECC) differs" in intensity.note


def test_every_bundled_cloud_region_maps_to_a_bundled_country() -> None:
    codes = {r["iso2"] for r in load_table("grid_countries.csv").rows}
    rows = load_table("cloud_regions.csv").rows
    assert rows
    for row in rows:
        assert row["iso2"] in codes, row
        assert resolve_intensity(f"{row['provider']}:{row['region']}", "x").zone == row["iso2"]


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ("aws:eu-west-33", "'eu-west-3'"),
        ("gcp:europe-west99", "'europe-west9'"),
        ("azure:westeuropa", "'westeurope'"),
        ("FRR", "'FRA'"),
    ],
)
def test_unknown_region_or_country_names_it_and_suggests(raw: str, suggestion: str) -> None:
    with pytest.raises(CarbonConfigError) as info:
        resolve_intensity(raw, "--carbon-intensity")
    message = str(info.value)
    assert repr(raw) in message and "--carbon-intensity" in message
    assert suggestion in message


@pytest.mark.parametrize("raw", ["mars:olympus-1", "-5", "nan", True, "live:", "live:F R"])
def test_malformed_values_are_rejected(raw: object) -> None:
    with pytest.raises(CarbonConfigError):
        resolve_intensity(raw, "--carbon-intensity")


# -- auto --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "zone", "provider", "says"),
    [
        ({"PYTEST_CARBON_REGION": "gcp:europe-west1"}, "europe-west1", "gcp", "PYTEST_CARBON_REGION=gcp:europe-west1"),
        ({"PYTEST_CARBON_REGION": "FR", "AWS_REGION": "us-east-1"}, "FR", None, "PYTEST_CARBON_REGION=FR"),
        ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-east-1"}, "FR", "aws", "AWS_REGION=eu-west-3"),
        ({"AWS_DEFAULT_REGION": "eu-central-1"}, "DE", "aws", "AWS_DEFAULT_REGION=eu-central-1"),
        ({"GOOGLE_CLOUD_REGION": "europe-west9"}, "europe-west9", "gcp", "GOOGLE_CLOUD_REGION=europe-west9"),
        ({"CLOUDSDK_COMPUTE_REGION": "us-west1"}, "us-west1", "gcp", "CLOUDSDK_COMPUTE_REGION=us-west1"),
        ({"AZURE_REGION": "swedencentral"}, "SE", "azure", "AZURE_REGION=swedencentral"),
        ({"REGION_NAME": "North Europe", "WEBSITE_SITE_NAME": "app"}, "IE", "azure", "REGION_NAME=North Europe"),
        ({"REGION_NAME": "northeurope"}, "WORLD", None, "no region in the environment"),
        ({}, "WORLD", None, "no region in the environment"),
    ],
)
def test_auto_detects_the_region_and_says_how(
    environ: dict[str, str], zone: str, provider: str | None, says: str
) -> None:
    intensity = resolve_intensity("auto", "--carbon-intensity", environ=environ)
    assert (intensity.zone, intensity.provider) == (zone, provider)
    assert intensity.note is not None and says in intensity.note
    assert intensity.origin == "--carbon-intensity"


def test_auto_skips_an_unknown_cloud_region_with_a_warning() -> None:
    intensity = resolve_intensity(
        "auto", "--carbon-intensity", environ={"AWS_REGION": "xx-nowhere-1", "CLOUDSDK_COMPUTE_REGION": "europe-west1"}
    )
    assert intensity.zone == "europe-west1"
    assert intensity.warning is not None and "AWS_REGION=xx-nowhere-1" in intensity.warning


def test_auto_rejects_a_bad_user_region_naming_the_variable() -> None:
    with pytest.raises(CarbonConfigError) as info:
        resolve_intensity("auto", "--carbon-intensity", environ={"PYTEST_CARBON_REGION": "aws:nowhere"})
    assert "PYTEST_CARBON_REGION" in str(info.value) and "'aws:nowhere'" in str(info.value)


# -- PUE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "pue"), [("aws", 1.135), ("gcp", 1.1), ("azure", 1.185)])
def test_pue_preset_per_provider(provider: str, pue: float) -> None:
    intensity = Intensity(100.0, "x", provider, "--carbon-intensity", provider=provider)
    value, origin = choose_pue(None, "default", intensity)
    assert value == pue
    assert origin.startswith(f"preset for {provider}") and "Cloud Carbon Footprint" in origin
    assert choose_pue(1.4, "--carbon-pue", intensity) == (1.4, "--carbon-pue")


def test_pue_without_a_cloud_region_is_one() -> None:
    assert choose_pue(None, "default", resolve_intensity("FR", "x"))[0] == 1.0


# -- through pytest, the way users run it -----------------------------------------------


def test_cloud_region_sets_intensity_pue_and_the_arithmetic(pytester: pytest.Pytester) -> None:
    result, report = run_json(pytester, "--carbon-intensity=aws:eu-west-3")
    session = report["session"]
    assert session["intensity_g_per_kwh"] == table_value("grid_countries.csv", "iso2", "FR")
    assert session["pue"] == 1.135
    assert session["intensity_provider"] == "aws" and session["intensity_zone"] == "FR"
    assert session["energy_j"] > 0
    assert session["co2e_g"] == pytest.approx(operational(session["energy_j"], session))
    assert session["co2e_g"] == pytest.approx(session["energy_j"] / 3.6e6 * 1.135 * 44.18)
    test = report["tests"][0]
    assert test["co2e_g"] == pytest.approx(operational(test["energy_j"], session))
    result.stdout.fnmatch_lines(
        [
            "carbon: intensity 44.18 gCO2e/kWh (aws:eu-west-3 (Europe (Paris)) mapped to France (FR), Ember 2024;"
            "*no per-region figure*; from --carbon-intensity)",
            "carbon: PUE 1.135 (preset for aws (Cloud Carbon Footprint*)*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "config", "pue", "origin"),
    [
        (["--carbon-pue=1.3"], None, 1.3, "--carbon-pue"),
        ([], ("pyproject", "pue = 1.25"), 1.25, "pyproject.toml [tool.pytest_carbon] pue"),
        ([], ("ini", "carbon_pue = 1.4"), 1.4, "tox.ini option carbon_pue"),
    ],
)
def test_a_pue_setting_always_wins_over_the_preset(
    pytester: pytest.Pytester, args: list[str], config: tuple[str, str] | None, pue: float, origin: str
) -> None:
    if config and config[0] == "pyproject":
        pytester.makepyprojecttoml(f'[tool.pytest_carbon]\nintensity = "gcp:europe-west1"\n{config[1]}\n')
        args = [*args]
    elif config:
        pytester.makefile(".ini", tox=f"[pytest]\ncarbon_intensity = gcp:europe-west1\n{config[1]}\n")
    else:
        args = [*args, "--carbon-intensity=gcp:europe-west1"]
    _, report = run_json(pytester, *args)
    session = report["session"]
    assert session["intensity_g_per_kwh"] == table_value("gcp_regions.csv", "region", "europe-west1")
    assert (session["pue"], session["pue_source"]) == (pue, origin)
    assert session["co2e_g"] == pytest.approx(session["energy_j"] / 3.6e6 * pue * session["intensity_g_per_kwh"])


def test_default_is_the_world_average_with_no_overhead(pytester: pytest.Pytester) -> None:
    result, report = run_json(pytester)
    session = report["session"]
    assert session["intensity_kind"] == "world" and session["pue"] == 1.0
    assert session["intensity_g_per_kwh"] == table_value("grid_countries.csv", "iso2", "WORLD")
    result.stdout.fnmatch_lines(
        ["carbon: intensity 473.05 gCO2e/kWh (world average, Ember 2024; from default)", "carbon: PUE 1.0 (default*"]
    )


def test_auto_through_pytest_names_the_variable_in_the_header(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "europe-north1")
    pytester.makepyprojecttoml('[tool.pytest_carbon]\nintensity = "auto"\n')
    result, report = run_json(pytester)
    assert report["session"]["intensity_zone"] == "europe-north1" and report["session"]["pue"] == 1.1
    result.stdout.fnmatch_lines(
        ["carbon: *(gcp:europe-north1 (Finland)*; auto: GOOGLE_CLOUD_REGION=europe-north1; from pyproject.toml*"]
    )


def test_auto_with_nothing_found_uses_the_world_average_and_says_so(pytester: pytest.Pytester) -> None:
    result, report = run_json(pytester, "--carbon-intensity=auto")
    assert report["session"]["intensity_kind"] == "world"
    result.stdout.fnmatch_lines(
        ["carbon: *world average*auto: no region in the environment (checked PYTEST_CARBON_REGION, AWS_REGION*"]
    )


@pytest.mark.parametrize(
    ("how", "value", "named"),
    [
        ("flag", "aws:eu-west-33", "--carbon-intensity: 'aws:eu-west-33' is not a region in the bundled AWS table"),
        (
            "pyproject",
            "gcp:europe-wst1",
            "[tool.pytest_carbon] intensity: 'gcp:europe-wst1' is not a region in the bundled Google Cloud table",
        ),
        ("pyproject", "XYZ", "[tool.pytest_carbon] intensity: 'XYZ' is not a country in the bundled table"),
        (
            "env",
            "azure:mars",
            "environment variable PYTEST_CARBON_REGION (read by --carbon-intensity=auto): 'azure:mars'",
        ),
    ],
)
def test_unknown_region_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, value: str, named: str
) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    args = [*QUIET_PLUGINS]
    if how == "flag":
        args.append(f"--carbon-intensity={value}")
    elif how == "pyproject":
        pytester.makepyprojecttoml(f'[tool.pytest_carbon]\nintensity = "{value}"\n')
    else:
        monkeypatch.setenv("PYTEST_CARBON_REGION", value)
        args.append("--carbon-intensity=auto")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert named in result.stderr.str()


# -- the table listing -------------------------------------------------------------------


def test_intensities_listing_filters_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert intensities_main(["paris"]) == 0
    out = capsys.readouterr().out
    assert "aws:eu-west-3" in out and "gcp:europe-west9" in out and "azure:francecentral" in out
    assert "gcp:europe-west1 " not in out
    assert intensities_main(["no-such-place"]) == 1


@pytest.mark.parametrize(
    ("value", "zone", "label"),
    [
        ("EL", "GR", "Greece (GR)"),
        ("el", "GR", "Greece (GR)"),
        ("WLD", "WORLD", "world average"),
        ("wld", "WORLD", "world average"),
    ],
)
def test_eu_and_table_codes_a_user_would_type(pytester: pytest.Pytester, value: str, zone: str, label: str) -> None:
    # EL is the EU's code for Greece; WLD is the world row's alpha-3 code in the table.
    result, report = run_json(pytester, f"--carbon-intensity={value}")
    session = report["session"]
    assert session["intensity_zone"] == zone
    assert session["intensity_g_per_kwh"] == table_value("grid_countries.csv", "iso2", zone)
    result.stdout.fnmatch_lines([f"carbon: *intensity * gCO2e/kWh ({label}*"])
