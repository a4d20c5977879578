from __future__ import annotations

import pytest

from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.quantities import format_column, format_energy, format_mass, format_pair, parse_quantity


@pytest.mark.parametrize(
    ("text", "amount", "dimension"),
    [
        ("5g", 5.0, "mass"),
        ("0.5 g", 0.5, "mass"),
        ("  0.5g  ", 0.5, "mass"),
        ("300mg", 0.3, "mass"),
        ("300 mgCO2e", 0.3, "mass"),
        ("2 g CO2e", 2.0, "mass"),
        ("1.5kg", 1500.0, "mass"),
        ("0.001t", 1000.0, "mass"),
        ("250ug", 250e-6, "mass"),
        ("250 \u00b5g", 250e-6, "mass"),
        ("250 \u03bcg", 250e-6, "mass"),
        (".5g", 0.5, "mass"),
        ("1e-3 kg", 1.0, "mass"),
        ("0g", 0.0, "mass"),
        ("10J", 10.0, "energy"),
        ("250 mJ", 0.25, "energy"),
        ("3 kJ", 3000.0, "energy"),
        ("2MJ", 2e6, "energy"),
        ("500 mWh", 1800.0, "energy"),
        ("12 Wh", 43200.0, "energy"),
        ("0.1kWh", 360000.0, "energy"),
    ],
)
def test_valid_quantities(text, amount, dimension):
    quantity = parse_quantity(text, "--carbon-budget")
    assert quantity.amount == pytest.approx(amount)
    assert quantity.dimension == dimension


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("5", "has no unit (did you mean '5g' or '5 J'?)"),
        ("  0.5 ", "has no unit"),
        ("", "is not a quantity"),
        ("abc", "is not a quantity"),
        ("5 KG", "did you mean 'kg'?"),
        ("5 kwh", "did you mean 'kWh'?"),
        ("5 lb", "unknown unit 'lb'"),
        ("-1g", "is negative"),
        ("5 JCO2e", "CO2e suffix on an energy unit"),
        ("1e999 g", "not a finite number"),
        ("5g 3g", "unknown unit"),
        (5, 'write it as a string with a unit, e.g. "5g"'),
        (0.5, 'e.g. "0.5g"'),
        (True, "is not a quantity string"),
        (None, "is not a quantity string"),
    ],
)
def test_invalid_quantities_name_value_origin_and_what_is_accepted(raw, problem):
    with pytest.raises(CarbonConfigError) as info:
        parse_quantity(raw, "pyproject.toml [tool.pytest_carbon] budget")
    message = str(info.value)
    assert problem in message
    assert "pyproject.toml [tool.pytest_carbon] budget" in message
    assert repr(raw) in message
    assert "Accepted: a number with a unit" in message


def test_formatting_scales_to_readable_units():
    assert format_mass(0.73) == "730 mgCO2e"
    assert format_mass(1234.0) == "1.23 kgCO2e"
    assert format_mass(0.000123) == "123 \u00b5gCO2e"
    assert format_energy(12345.0) == "12.3 kJ"
    assert format_energy(0.5) == "500 mJ"
    assert format_pair(0.73, 0.5, "mass") == ("730 mgCO2e", "500 mgCO2e")
    assert format_pair(0.073, 0.05, "mass") == ("73.0 mgCO2e", "50.0 mgCO2e")


def test_each_figure_of_a_pair_in_its_own_unit_and_never_shown_alike():
    assert format_pair(15.32e-6, 5.0, "mass") == ("15.3 \u00b5gCO2e", "5.00 gCO2e")  # a 5 g budget
    assert format_pair(33.64e-3, 1e-6, "energy") == ("33.6 mJ", "1.00 \u00b5J")  # a 1 uJ budget
    assert format_pair(1.004, 1.0, "mass") == ("1.004 gCO2e", "1.000 gCO2e")  # over by a little: shown so
    assert format_pair(2.0, 2.0, "energy") == ("2.00 J", "2.00 J")


def test_a_column_shares_one_unit():
    assert format_column([0.73, 0.08928, 0.0], "energy") == ["730 mJ", "89.3 mJ", "0 mJ"]
    assert format_column([120.0, 5e-6], "energy") == ["120 J", "<0.001 J"]
    assert format_column([0.000909, 0.00091], "mass") == ["909 \u00b5gCO2e", "910 \u00b5gCO2e"]
