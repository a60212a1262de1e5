"""A small name -> factory registry used for encoders and pretraining methods."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Generic, TypeVar

from wearfm.errors import ConfigError

__all__ = ["Registry"]

F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")


class Registry(Generic[F]):
    """Maps names to factory callables.

    Args:
        kind: what is registered ("encoder", "method"); used in error messages.

    Examples:
        >>> reg: Registry = Registry("encoder")
        >>> @reg.register
        ... def tiny(**kw): return kw
        >>> reg.names()
        ['tiny']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, F] = {}

    def register(self, fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register ``fn`` under ``name`` (default: its ``__name__``); usable as a decorator."""

        def _add(f: F) -> F:
            key = name or f.__name__  # type: ignore[attr-defined]
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._entries[key] = f
            return f

        return _add(fn) if fn is not None else _add

    def get(self, name: str) -> F:
        """Return the factory for ``name``; raise ``ConfigError`` listing valid names if unknown."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose from {self.names()}") from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching the fnmatch ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
