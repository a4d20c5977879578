"""pytest-carbon's entry: options, the marker, the `carbon` fixture; the session is built
for this process's role by session/assemble.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_carbon.config.settings import OPTIONS, Settings, find_pyproject, load_settings
from pytest_carbon.marker import PLUGIN_NAME as MARKER_PLUGIN
from pytest_carbon.session.markers import MARKER_HELP
from pytest_carbon.values.errors import CarbonConfigError

if TYPE_CHECKING:
    from pytest_carbon.session.block import CarbonMeasurer
    from pytest_carbon.session.manager import CarbonSession

SESSION_KEY: pytest.StashKey[CarbonSession] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("carbon", "carbon footprint and budgets (pytest-carbon)")
    for spec in OPTIONS:
        if spec.flag:
            if spec.is_switch:
                group.addoption(spec.flag, dest=f"carbon_{spec.key}", action="store_true", default=None, help=spec.help)
            else:
                group.addoption(
                    spec.flag, dest=f"carbon_{spec.key}", default=None, metavar=spec.metavar, help=spec.help
                )
        if spec.ini:
            parser.addini(spec.ini, spec.help + " (pytest-carbon)", type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(MARKER_PLUGIN):  # e.g. loaded with -p pytest_carbon.plugin
        config.addinivalue_line("markers", MARKER_HELP)
    if config.option.help or getattr(config.option, "version", False):
        return
    from pytest_carbon.session.assemble import assemble

    try:
        session = assemble(config, settings_from_config(config))
    except CarbonConfigError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION_KEY] = session


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


def settings_from_config(config: pytest.Config) -> Settings:
    cli = {spec.key: getattr(config.option, f"carbon_{spec.key}", None) for spec in OPTIONS}
    ini: dict[str, Any] = {}
    for spec in OPTIONS:
        if spec.ini:
            ini[spec.key] = config.getini(spec.ini)
    pyproject = find_pyproject(config.inipath, config.rootpath)
    ini_file = config.inipath.name if config.inipath else "ini"
    return load_settings(cli, ini, pyproject, ini_file)


@pytest.fixture
def carbon(request: pytest.FixtureRequest) -> CarbonMeasurer:
    """Measure a block inside a test: `with carbon.measure() as m: ...`, then `m.energy_j`, `m.co2e_g`."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip("pytest-carbon is not measuring this run")
    from pytest_carbon.session.block import CarbonMeasurer

    parts = session.parts
    return CarbonMeasurer(parts.read, parts.meter_set.channels, parts.facts.meter_measured, parts.model)
