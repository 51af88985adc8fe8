"""One registry pattern for tasks, metrics and analysers: an explicit list of modules, each exposing a
tuple of entries under one attribute name (TASKS, METRICS, ANALYSERS), read once on first use.

Adding an entry = one module that defines it + its name in the registry's module list. Users can add
their own without editing the package: modules named in the CODETUNE_PLUGINS environment variable
(comma-separated import paths, e.g. `my_metrics,lab.analysers`) are read by every registry too, for
whatever of TASKS / METRICS / ANALYSERS they define.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
PLUGINS_ENV = "CODETUNE_PLUGINS"


class UnknownEntry(KeyError):
    """A name no registry entry has; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown entry"


def plugin_modules() -> list[str]:
    """The extra modules named in CODETUNE_PLUGINS, in order."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


class Registry(Generic[T]):
    """Entries by name from `modules` (and the plugin modules), built on first use and then fixed.

    what: what an entry is called in messages ("task", "metric", "analyser").
    attribute: the module attribute holding the tuple of entries.
    name_of: the entry's registry key.
    make: turns what a module lists into the entry (e.g. instantiate a class); identity by default.
    """

    def __init__(self, what: str, attribute: str, modules: Sequence[str],
                 name_of: Callable[[T], str] = lambda entry: entry.name,  # type: ignore[attr-defined]
                 make: Callable[[object], T] = lambda item: item):  # type: ignore[assignment,return-value]
        self.what = what
        self.attribute = attribute
        self.modules = tuple(modules)
        self._name_of = name_of
        self._make = make
        self._entries: dict[str, T] | None = None
        self._plugins: tuple[str, ...] = ()

    def _build(self) -> dict[str, T]:
        plugins = tuple(plugin_modules())
        if self._entries is not None and plugins == self._plugins:
            return self._entries
        found: dict[str, T] = {}
        for module_name in (*self.modules, *plugins):
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                if module_name in plugins:
                    raise ImportError(f"plugin module '{module_name}' (from {PLUGINS_ENV}) cannot be imported: "
                                      f"{exc}. Fix: put it on PYTHONPATH or remove it from {PLUGINS_ENV}") from exc
                raise
            for item in getattr(module, self.attribute, ()):
                entry = self._make(item)
                name = self._name_of(entry)
                if name in found:
                    raise RuntimeError(f"{self.what} '{name}' is registered twice (again in {module_name})")
                found[name] = entry
        self._entries, self._plugins = found, plugins
        return found

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._build())

    def entries(self) -> list[T]:
        """Every registered entry, in registration order."""
        return list(self._build().values())

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs in registration order."""
        return list(self._build().items())

    def get(self, name: str) -> T:
        """The entry called `name`; UnknownEntry lists the known names."""
        entries = self._build()
        if name not in entries:
            raise UnknownEntry(f"unknown {self.what} '{name}'; known: {', '.join(entries) or 'none'}")
        return entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._build()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._build())
