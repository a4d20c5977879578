"""One Settings object from CLI > pyproject [tool.pytest_carbon] > ini > defaults.

Every value remembers where it came from, so an error can name its source.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_carbon.carbon.model import parse_pue, resolve_intensity
from pytest_carbon.meters.discovery import parse_meter_list
from pytest_carbon.meters.gpu_devices import parse_gpus
from pytest_carbon.meters.proctree import parse_includes
from pytest_carbon.values.errors import CarbonConfigError
from pytest_carbon.values.numbers import finite_number_or_text
from pytest_carbon.values.quantities import Quantity, parse_quantity
from pytest_carbon.verdicts.budgets import PatternBudget

if TYPE_CHECKING:
    from pytest_carbon.schema import SettingRecord

PYPROJECT_TABLE = "tool.pytest_carbon"


class Setting(NamedTuple):
    value: Any
    origin: str  # "--carbon-budget", "pyproject.toml [tool.pytest_carbon] budget", "default", ...


def _quantity(raw: object, origin: str) -> Quantity:
    return parse_quantity(raw, origin)


def _choice(*choices: str) -> Callable[[object, str], str]:
    def parse(raw: object, origin: str) -> str:
        if not isinstance(raw, str) or raw.strip().lower() not in choices:
            raise CarbonConfigError(raw, origin, "is not one of the choices", " or ".join(choices))
        return raw.strip().lower()

    return parse


def _count(raw: object, origin: str) -> int:
    accepted = "a whole number >= 0"
    if isinstance(raw, bool):
        raise CarbonConfigError(raw, origin, "is not a whole number", accepted)
    try:
        value: int = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise CarbonConfigError(raw, origin, "is not a whole number", accepted) from None
    if isinstance(raw, float) and raw != value or value < 0:
        raise CarbonConfigError(raw, origin, "is not a whole number >= 0", accepted)
    return value


def _path(raw: object, origin: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise CarbonConfigError(raw, origin, "is not a file path", "a file path, e.g. 'carbon.json'")
    return raw.strip()


def _percent(raw: object, origin: str) -> float:
    accepted = "a percentage >= 0, e.g. 10, '10' or '10%'"
    value = finite_number_or_text(raw.strip().removesuffix("%") if isinstance(raw, str) else raw)
    if value is None:
        raise CarbonConfigError(raw, origin, "is not a percentage", accepted)
    if value < 0:
        raise CarbonConfigError(raw, origin, "is not a percentage >= 0", accepted)
    return value


SHARD_ACCEPTED = "a shard label of printable characters, at most 100, e.g. '3/8' (shard 3 of 8) or 'linux-py312'"


def _shard(raw: object, origin: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise CarbonConfigError(raw, origin, "is not a shard label", SHARD_ACCEPTED)
    label = str(raw).strip()
    if not label or len(label) > 100 or not label.isprintable():
        raise CarbonConfigError(raw, origin, "is not a shard label", SHARD_ACCEPTED)
    index, slash, total = label.partition("/")
    if slash and index.strip().isdigit() and total.strip().isdigit():
        if not 1 <= int(index) <= int(total):
            raise CarbonConfigError(
                raw,
                origin,
                f"is shard {int(index)} of {int(total)}",
                "INDEX/TOTAL with 1 <= INDEX <= TOTAL, e.g. '3/8'",
            )
        label = f"{int(index)}/{int(total)}"
    return label


def _flag(raw: object, origin: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return raw.strip().lower() in ("true", "1", "yes", "on")
    raise CarbonConfigError(raw, origin, "is not true or false", "true or false")


LLM_MODES = ("auto", "on", "off")


def _llm_mode(raw: object, origin: str) -> str:
    """A mode, or pyproject's [tool.pytest_carbon.llm] table with its `mode` key."""
    if isinstance(raw, dict):
        table = origin.removesuffix("] llm") + ".llm]" if origin.endswith("] llm") else origin
        raw, origin = raw.get("mode", "auto"), f"{table} mode"
    return _choice(*LLM_MODES)(raw, origin)


class OptionSpec(NamedTuple):
    key: str  # pyproject key in [tool.pytest_carbon]
    flag: str | None  # command-line flag
    ini: str | None  # pytest ini option
    parse: Callable[[object, str], Any]
    default: Any
    help: str
    metavar: str = "VALUE"
    is_switch: bool = False  # a flag without a value (store_true)


OPTIONS: list[OptionSpec] = [
    OptionSpec(
        "budget",
        "--carbon-budget",
        "carbon_budget",
        _quantity,
        None,
        "fail the session if it emits more than this (e.g. 5g, 200mg, 10Wh)",
        "QUANTITY",
    ),
    OptionSpec(
        "test_budget",
        "--carbon-test-budget",
        "carbon_test_budget",
        _quantity,
        None,
        "default budget for every test (markers and [tool.pytest_carbon.budgets] patterns win)",
        "QUANTITY",
    ),
    OptionSpec(
        "action",
        "--carbon-action",
        "carbon_action",
        _choice("fail", "warn"),
        "fail",
        "what a budget overrun does: fail (default) or warn",
        "fail|warn",
    ),
    OptionSpec(
        "intensity",
        "--carbon-intensity",
        "carbon_intensity",
        resolve_intensity,
        None,
        "grid intensity: gCO2e/kWh number, world, country code (FR), gcp:/aws:/azure:<region>, "
        "auto, or live:<zone> (default: world average)",
        "SPEC",
    ),
    OptionSpec(
        "pue",
        "--carbon-pue",
        "carbon_pue",
        parse_pue,
        None,
        "data-centre power usage effectiveness (default: the provider's preset for a cloud region, else 1.0)",
        "RATIO",
    ),
    OptionSpec(
        "embodied",
        "--carbon-embodied",
        "carbon_embodied",
        _flag,
        False,
        "include the hardware's embodied emissions (SCI share; see [tool.pytest_carbon.embodied_hardware])",
        is_switch=True,
    ),
    OptionSpec(
        "meters",
        "--carbon-meters",
        "carbon_meters",
        parse_meter_list,
        ("auto",),
        "auto (default) or a comma-separated list of meters, e.g. rapl,estimate",
        "LIST",
    ),
    OptionSpec(
        "gpus",
        "--carbon-gpus",
        "carbon_gpus",
        parse_gpus,
        "visible",
        "GPUs to meter: visible (default, as CUDA_VISIBLE_DEVICES allows), all, or indices such as 0,2",
        "all|visible|LIST",
    ),
    OptionSpec(
        "group",
        "--carbon-group",
        "carbon_group",
        _choice("file", "module", "dir"),
        None,
        "add a roll-up of the tests' energy and gCO2e by file, module or directory to the summary and reports",
        "file|module|dir",
    ),
    OptionSpec(
        "scope",
        "--carbon-scope",
        "carbon_scope",
        _choice("process", "machine"),
        "process",
        "charge tests this run's own energy: its process tree's share of the machine (process, the "
        "default), or everything the machine used while they ran (machine)",
        "process|machine",
    ),
    OptionSpec(
        "include",
        "--carbon-include",
        "carbon_include",
        parse_includes,
        (),
        "charge the run with other processes the tests drive: comma-separated name:COMMAND, "
        "pidfile:PATH or cgroup:PATH (e.g. name:ollama,pidfile:/run/postgres.pid)",
        "LIST",
    ),
    OptionSpec(
        "budget_rule",
        "--carbon-budget-rule",
        "carbon_budget_rule",
        _choice("band", "strict"),
        "band",
        "band (default): a figure over its budget by less than its resolution passes as 'within "
        "uncertainty'; strict: any figure over its budget fails",
        "band|strict",
    ),
    OptionSpec(
        "top",
        "--carbon-top",
        "carbon_top",
        _count,
        5,
        "how many of the costliest tests the summary lists (default 5)",
        "N",
    ),
    OptionSpec(
        "shard",
        "--carbon-shard",
        "carbon_shard",
        _shard,
        None,
        "which shard of the suite this run is, e.g. 3/8, recorded in the report for "
        "`python -m pytest_carbon combine` (default: pytest-split's --group/--splits, or the CI's node index)",
        "LABEL",
    ),
    OptionSpec(
        "llm",
        "--carbon-llm",
        "carbon_llm",
        _llm_mode,
        "auto",
        "charge tests for the hosted-model (LLM API) calls they make, estimated with EcoLogits: "
        "auto (default: on when EcoLogits is installed), on, off",
        "auto|on|off",
    ),
    OptionSpec("json", "--carbon-json", "carbon_json", _path, None, "write the JSON report to this path", "PATH"),
    OptionSpec(
        "md",
        "--carbon-md",
        "carbon_md",
        _path,
        None,
        "write a Markdown summary to this path (also appended to $GITHUB_STEP_SUMMARY when set)",
        "PATH",
    ),
    OptionSpec(
        "html",
        "--carbon-html",
        "carbon_html",
        _path,
        None,
        "write a self-contained HTML report with charts to this path",
        "PATH",
    ),
    OptionSpec(
        "compare",
        "--carbon-compare",
        "carbon_compare",
        _path,
        None,
        "compare with this earlier JSON report (a missing file only warns)",
        "PATH",
    ),
    OptionSpec(
        "compare_fail",
        "--carbon-compare-fail",
        "carbon_compare_fail",
        _percent,
        None,
        "fail the run when a test or the session grows by more than PCT percent against --carbon-compare",
        "PCT",
    ),
    OptionSpec(
        "compare_min",
        "--carbon-compare-min",
        "carbon_compare_min",
        _quantity,
        None,
        "noise floor for the comparison: smaller changes never count (default 1 J)",
        "QUANTITY",
    ),
]
TABLE_KEYS = {
    "budgets": "a table mapping node-id glob patterns to quantities",
    "embodied_hardware": "a table describing the hardware for embodied emissions (total_kg, cpus, memory_gb, ...)",
}


def option_spec(key: str) -> OptionSpec:
    return next(spec for spec in OPTIONS if spec.key == key)


@dataclass
class Settings:
    values: dict[str, Setting]
    pyproject: Path | None = None
    patterns: list[PatternBudget] = field(default_factory=list)
    raw_table: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Setting:
        return self.values[key]

    def value(self, key: str) -> Any:
        return self.values[key].value


def find_pyproject(inipath: Path | None, rootpath: Path) -> Path | None:
    """The pyproject.toml that configures this run: the ini file if it is one, else the
    nearest one at or above the rootdir."""
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    for directory in (rootpath, *rootpath.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_table(pyproject: Path | None) -> dict[str, Any]:
    if pyproject is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with pyproject.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CarbonConfigError(
            str(pyproject), "pyproject.toml", f"cannot be read ({error})", "a valid TOML file"
        ) from None
    table = document.get("tool", {}).get("pytest_carbon", {})
    if not isinstance(table, dict):
        raise CarbonConfigError(
            table, f"{pyproject} [tool] pytest_carbon", "is not a table", "a [tool.pytest_carbon] table"
        )
    return table


def load_settings(
    cli: dict[str, Any],
    ini: dict[str, Any],
    pyproject: Path | None,
    ini_file: str = "ini",
) -> Settings:
    """Resolve every option. `cli` and `ini` map option keys to raw values (None = unset)."""
    table = read_table(pyproject)
    where = f"{pyproject.name if pyproject else 'pyproject.toml'} [{PYPROJECT_TABLE}]"
    known = [spec.key for spec in OPTIONS] + list(TABLE_KEYS)
    for key in table:
        if key not in known:
            from difflib import get_close_matches

            close = get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CarbonConfigError(
                key, f"{pyproject}", f"is an unknown key in [{PYPROJECT_TABLE}]{hint}", "the keys " + ", ".join(known)
            )
    values: dict[str, Setting] = {}
    for spec in OPTIONS:
        if cli.get(spec.key) not in (None, False) and spec.flag:
            origin, raw = spec.flag, cli[spec.key]
        elif spec.key in table:
            origin, raw = f"{where} {spec.key}", table[spec.key]
        elif ini.get(spec.key) not in (None, "") and spec.ini:
            origin, raw = f"{ini_file} option {spec.ini}", ini[spec.key]
        else:
            values[spec.key] = Setting(
                spec.default if spec.key != "intensity" else resolve_intensity(None, "default"), "default"
            )
            continue
        values[spec.key] = Setting(spec.parse(raw, origin), origin)
    patterns: list[PatternBudget] = []
    budgets = table.get("budgets", {})
    if not isinstance(budgets, dict):
        raise CarbonConfigError(budgets, f"{where} budgets", "is not a table", TABLE_KEYS["budgets"])
    for pattern, raw in budgets.items():
        origin = f"{where.rstrip(']')}.budgets] {pattern!r}"
        patterns.append(PatternBudget(pattern, parse_quantity(raw, origin), origin))
    return Settings(values, pyproject, patterns, table)


def shown(value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, Quantity):
        return value.text
    if isinstance(value, (tuple, list)):
        return ", ".join(str(getattr(v, "text", v)) for v in value) or "none"
    describe = getattr(value, "describe", None)  # an Intensity
    return str(describe()) if callable(describe) else str(value)


def settings_record(settings: Settings) -> dict[str, SettingRecord]:
    """Every setting as text with where it came from, for the reports' provenance block."""
    record: dict[str, SettingRecord] = {
        key: {"value": shown(setting.value), "origin": setting.origin} for key, setting in settings.values.items()
    }
    for pattern in settings.patterns:
        record[f"budgets {pattern.pattern!r}"] = {"value": pattern.limit.text, "origin": pattern.origin}
    return record
