"""Run a function when a module has been imported, without importing it: a small finder
at the front of sys.meta_path that steps aside for every other name.

A run whose code never imports an LLM SDK pays one dictionary look-up per import and
nothing else; the SDKs and EcoLogits stay unimported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

Hook = Callable[[ModuleType], None]
# Hooks that raised: (module, error). A hook must never break the import it follows.
FAILED: list[tuple[str, str]] = []


def _run(hook: Hook, module: ModuleType) -> None:
    try:
        hook(module)
    except Exception as error:
        FAILED.append((module.__name__, f"{type(error).__name__}: {error}"))


class _HookedLoader(importlib.abc.Loader):
    """The module's own loader, then the hook; the module keeps its own loader."""

    def __init__(self, loader: importlib.abc.Loader, hook: Hook) -> None:
        self.loader = loader
        self.hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is not None:
            spec.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _run(self.hook, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class PostImportFinder(importlib.abc.MetaPathFinder):
    def __init__(self, hooks: dict[str, Hook]) -> None:
        self.hooks = hooks
        self._finding: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        hook = self.hooks.get(fullname)
        if hook is None or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _HookedLoader(spec.loader, hook)
        return spec


_finder: PostImportFinder | None = None


def when_imported(hooks: dict[str, Hook]) -> None:
    """Call each hook with its module once the module is imported (now, if it already is)."""
    global _finder
    pending = {}
    for name, hook in hooks.items():
        module = sys.modules.get(name)
        if module is not None:
            _run(hook, module)
        else:
            pending[name] = hook
    if not pending:
        return
    if _finder is None or _finder not in sys.meta_path:
        _finder = PostImportFinder({})
        sys.meta_path.insert(0, _finder)
    _finder.hooks.update(pending)


def forget() -> None:
    """Stop watching (the hooks that already ran keep their effect)."""
    global _finder
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
