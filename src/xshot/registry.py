"""One small registry mechanism for everything xshot looks up by name.

Methods, built-in datasets, file readers, executors and report sections are each a :class:`Registry`.
An entry is either the object itself or a ``"module:attribute"`` string imported on first use, so
listing the names (CLI help, errors, a study's schema) never imports torch. Registration order is
the display order. An unknown name is one error that lists the valid ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from xshot.errors import XshotError

T = TypeVar("T")


class Registry(Generic[T]):
    """``kind`` names the entries in errors (``unknown method 'x'; available: ...``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def add(self, name: str, entry: T | str) -> None:
        """Register ``entry``: the object, or ``"module:attribute"`` to import when first asked for."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def add_modules(self, package: str, modules: tuple[str, ...], attribute: str) -> None:
        """Register ``package.module:attribute`` for each module, named like the module with ``-`` for ``_``."""
        for module in modules:
            self.add(module.replace("_", "-"), f"{package}.{module}:{attribute}")

    def register(self, name: str):
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise XshotError(f"unknown {self.kind} {name!r}; available: {', '.join(self._entries)}")
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
