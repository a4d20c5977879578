"""pytest-carbon: energy and carbon footprint of every test, with budgets."""

import sys

__version__ = "0.1.0"


def _import_without_assert_rewriting() -> None:
    """pytest marks every package of a plugin's distribution for assertion rewriting, so
    each of this package's modules would be imported through its rewriting importer,
    which costs several times a plain import: almost half of what the plugin added to a
    one-test run (docs/benchmarks.md). Its asserts are internal checks no user reads, so
    its name is unmarked here, before any other of its modules is imported. A pytest
    without these attributes is left as it is."""
    for finder in sys.meta_path:
        marked = getattr(finder, "_must_rewrite", None)
        if isinstance(marked, set) and __name__ in marked:
            marked.discard(__name__)
            cache = getattr(finder, "_marked_for_rewrite_cache", None)
            if isinstance(cache, dict):
                cache.clear()


_import_without_assert_rewriting()
