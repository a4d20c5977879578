"""`python -m pytest_carbon COMMAND`: diagnose meters, list intensities, compare and combine reports."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module

COMMANDS: dict[str, tuple[str, str]] = {
    "meters": ("pytest_carbon.cli.meters", "what this machine can measure, what it lacks, and how to fix it"),
    "intensities": ("pytest_carbon.cli.intensities", "list the bundled grid intensities (countries, cloud regions)"),
    "compare": ("pytest_carbon.cli.compare", "compare two JSON reports test by test (--fail=PCT to gate CI)"),
    "budgets": ("pytest_carbon.cli.budgets", "suggest budgets for pyproject.toml from the reports of a few runs"),
    "combine": ("pytest_carbon.cli.combine", "combine the JSON reports of a suite's shards: one footprint, one budget"),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print("usage: python -m pytest_carbon COMMAND [ARGS]\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<12} {summary}")
        if args and args[0] not in ("-h", "--help"):
            print(f"\nunknown command: {args[0]!r}", file=sys.stderr)
            return 2
        return 0
    module, _ = COMMANDS[args[0]]
    entry: Callable[[list[str]], int] = import_module(module).main
    return entry(args[1:])


def run() -> int:
    try:
        return main()
    except BrokenPipeError:  # e.g. `python -m pytest_carbon intensities | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(run())
