"""`python -m pytest_carbon intensities [QUERY]`: list the bundled grid-intensity table rows."""

from __future__ import annotations

import argparse
import sys

from pytest_carbon.carbon.regions import all_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_carbon intensities",
        description="List the grid intensities pytest-carbon bundles: countries (Ember), GCP regions (Google), "
        "and AWS/Azure regions mapped to their country. The first column is what --carbon-intensity accepts.",
    )
    parser.add_argument("query", nargs="*", help="show only rows containing all these words (case-insensitive)")
    args = parser.parse_args(argv)
    words = [w.lower() for w in args.query]
    rows = [r for r in all_rows() if all(w in f"{r.form} {r.name} {r.source}".lower() for w in words)]
    if not rows:
        print(f"no bundled intensity matches {' '.join(args.query)!r}", file=sys.stderr)
        return 1
    width = max(len(r.form) for r in rows)
    print(f"{'setting':<{width}}  {'gCO2e/kWh':>9}  year  name (source)")
    for row in rows:
        print(f"{row.form:<{width}}  {row.g_per_kwh:>9.2f}  {row.year:>4}  {row.name} ({row.source})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
