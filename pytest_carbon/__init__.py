"""pytest-carbon: energy and carbon footprint of every test, with budgets."""

__version__ = "0.1.0"
