"""Grid intensity from the bundled tables: world, countries, and cloud regions.

Google publishes a grid intensity per GCP region; AWS and Azure do not, so their regions
are mapped to the country their data centres are in and that country's Ember figure is
used (the Intensity's note says so).
"""

from __future__ import annotations

from typing import NamedTuple

from pytest_carbon.data.tables import load_table

PROVIDERS = ("gcp", "aws", "azure")
PROVIDER_NAMES = {"gcp": "Google Cloud", "aws": "AWS", "azure": "Azure"}
# Codes in common use that ISO 3166 spells otherwise: the EU writes EL for Greece and UK for
# the United Kingdom.
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
WORLD_CODES = ("world", "wld")  # WLD: the world row's alpha-3 code in the table


class Found(NamedTuple):
    """A table figure: what the Intensity is built from."""

    g_per_kwh: float
    label: str
    kind: str  # "world", "country", "gcp", "aws", "azure"
    zone: str
    provider: str | None = None
    note: str | None = None


def world_row() -> dict[str, str]:
    return next(r for r in load_table("grid_countries.csv").rows if r["iso2"] == "WORLD")


def world() -> Found:
    row = world_row()
    return Found(float(row["g_per_kwh"]), f"world average, Ember {row['year']}", "world", "WORLD")


def country_row(code: str) -> dict[str, str] | None:
    wanted = COUNTRY_ALIASES.get(code.strip().upper(), code.strip().upper())
    for row in load_table("grid_countries.csv").rows:
        if wanted in (row["iso2"], row["iso3"]) and row["iso2"] != "WORLD":
            return row
    return None


def country(code: str) -> Found | None:
    row = country_row(code)
    if row is None:
        return None
    return Found(
        float(row["g_per_kwh"]), f"{row['country']} ({row['iso2']}), Ember {row['year']}", "country", row["iso2"]
    )


def country_codes() -> list[str]:
    rows = load_table("grid_countries.csv").rows
    return [r["iso2"] for r in rows if r["iso2"] != "WORLD"] + [r["iso3"] for r in rows if r["iso2"] != "WORLD"]


def normalise_region(provider: str, region: str) -> str:
    text = region.strip().lower()
    # Azure tools accept display names ("West Europe") for "westeurope".
    return text.replace(" ", "") if provider == "azure" else text


def region_names(provider: str) -> list[str]:
    if provider == "gcp":
        return [r["region"] for r in load_table("gcp_regions.csv").rows]
    return [r["region"] for r in load_table("cloud_regions.csv").rows if r["provider"] == provider]


def cloud_region(provider: str, region: str) -> Found | None:
    """The figure for a cloud region, or None if the bundled table does not know it."""
    name = normalise_region(provider, region)
    if provider == "gcp":
        for row in load_table("gcp_regions.csv").rows:
            if row["region"] == name:
                return Found(
                    float(row["g_per_kwh"]),
                    f"gcp:{name} ({row['location']}), Google region-carbon-info {row['year']}",
                    "gcp",
                    name,
                    provider="gcp",
                )
        return None
    for row in load_table("cloud_regions.csv").rows:
        if row["provider"] == provider and row["region"] == name:
            grid = country_row(row["iso2"])
            if grid is None:  # every bundled region maps to a bundled country (tested)
                return None
            note = f"{PROVIDER_NAMES[provider]} publishes no per-region figure: mapped to the country's grid average"
            if row["grid_zone"]:
                note += f"; the regional grid ({row['grid_zone']}) differs from the national average"
            return Found(
                float(grid["g_per_kwh"]),
                f"{provider}:{name} ({row['location']}) mapped to {grid['country']} ({grid['iso2']}), Ember {grid['year']}",
                provider,
                grid["iso2"],
                provider=provider,
                note=note,
            )
    return None


def suggest(value: str, choices: list[str]) -> str:
    """' (did you mean ...?)' for the closest choices, or ''."""
    from difflib import get_close_matches  # only error messages need it

    close = get_close_matches(value, choices, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


class Row(NamedTuple):
    """One line of `python -m pytest_carbon intensities`."""

    form: str
    g_per_kwh: float
    name: str
    year: str
    source: str


def all_rows() -> list[Row]:
    rows: list[Row] = []
    for row in load_table("grid_countries.csv").rows:
        form = "world" if row["iso2"] == "WORLD" else f"{row['iso2']} / {row['iso3']}"
        rows.append(Row(form, float(row["g_per_kwh"]), row["country"], row["year"], "Ember"))
    for row in load_table("gcp_regions.csv").rows:
        rows.append(
            Row(
                f"gcp:{row['region']}",
                float(row["g_per_kwh"]),
                row["location"],
                row["year"],
                "Google region-carbon-info",
            )
        )
    for row in load_table("cloud_regions.csv").rows:
        grid = country_row(row["iso2"])
        if grid is None:
            continue
        rows.append(
            Row(
                f"{row['provider']}:{row['region']}",
                float(grid["g_per_kwh"]),
                f"{row['location']} -> {grid['country']} ({grid['iso2']})",
                grid["year"],
                "Ember (mapped by country)",
            )
        )
    return rows
