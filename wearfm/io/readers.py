"""The reader interface and its registry: one :class:`Reader` per input format.

Each format module ends with one registration line, e.g.
``READER = register_reader(Reader("cwa", sniff=sniff, read=read, extensions=(".cwa",)))``. The built-in
format modules are listed once in ``_BUILTIN_MODULES``, in detection order; they are imported (and so
registered) on the first call of :func:`get_reader` or :func:`list_readers`. Adding a format is one module that
registers a reader, one line in that list, and one test.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from wearfm.errors import UnsupportedFormatError

__all__ = ["Reader", "register_reader", "get_reader", "list_readers"]

log = logging.getLogger(__name__)

#: The built-in format modules in detection order: content sniffers run in this order, the fallback last.
_BUILTIN_MODULES = (
    "wearfm.io.cwa",
    "wearfm.io.gt3x",
    "wearfm.io.geneactiv",
    "wearfm.io.wisdm",
    "wearfm.io.spswhar",
    "wearfm.io.actilife_csv",
    "wearfm.io.geneactiv_csv",
    "wearfm.io.omgui_csv",
    "wearfm.io.csv",
)


@dataclass(frozen=True)
class Reader:
    """One input format: how to recognise its files and how to read them.

    Args:
        name: the ``--format`` name (``"cwa"``, ``"sp-sw-har"``).
        read: ``read(path, cfg)`` -> ``(chunks, info)``, ``cfg`` the reading options
            (:class:`~wearfm.io.options.ReadOptions`); with ``reads_bytes`` it also takes ``data=`` (the file's
            bytes, when the caller already holds them).
        sniff: ``sniff(head, path)`` -> whether the file's first bytes (and name) are of this format.
        accepts: ``accepts(path)`` -> whether a file found in a folder is a recording of this format (presets
            whose folders hold other files); ``None``: every file is.
        companions: ``companions(path)`` -> the files read together with ``path`` as one recording (e.g. the
            WISDM gyroscope file of an accelerometer file); ``None``: none.
        output_name: ``output_name(path)`` -> the recording's name; ``None``: the file name without extension.
        reads_bytes: ``read`` accepts ``data=`` (small sources are then read into memory once).
        extensions: file extensions (lower case, with the dot) that name this format when no sniffer claims a
            file.
        fallback: the reader of last resort: its sniffer runs after the extensions are looked up.
        module: the module that implements the reader (default: the module of ``read``).

    Examples:
        >>> r = get_reader("cwa")
        >>> r.name, r.extensions, r.reads_bytes
        ('cwa', ('.cwa',), False)
    """

    name: str
    read: Callable[..., tuple[Iterator[pa.Table], dict[str, Any]]]
    sniff: Callable[[bytes, Path], bool]
    accepts: Callable[[Path], bool] | None = None
    companions: Callable[[Path], list[Path]] | None = None
    output_name: Callable[[Path], str] | None = None
    reads_bytes: bool = False
    extensions: tuple[str, ...] = ()
    fallback: bool = False
    module: str = field(default="")

    def __post_init__(self) -> None:
        if not self.name or self.name == "auto":
            raise ValueError(f"a reader needs a name other than 'auto', got {self.name!r}")
        if not self.module:
            object.__setattr__(self, "module", str(getattr(self.read, "__module__", "") or ""))


_REGISTRY: dict[str, Reader] = {}
_loaded = False


def register_reader(reader: Reader) -> Reader:
    """Add ``reader`` to the registry and return it; a second reader of the same name raises ``ValueError``.

    Examples:
        >>> def read(path, cfg): ...
        >>> def sniff(head, path): return False
        >>> r = register_reader(Reader("doc-example", read=read, sniff=sniff))
        >>> "doc-example" in list_readers()
        True
        >>> _ = _REGISTRY.pop("doc-example")
    """
    if reader.name in _REGISTRY:
        raise ValueError(f"reader {reader.name!r} is already registered")
    _REGISTRY[reader.name] = reader
    return reader


def _load() -> None:
    """Import the built-in format modules once (each registers its reader), then order them for detection."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for modname in _BUILTIN_MODULES:
        try:
            importlib.import_module(modname)
        except ModuleNotFoundError as e:  # a format module left out of this installation
            if e.name != modname:
                raise
            log.debug("reader module %s is not available", modname)
    # detection order: the built-in list's order (format modules import one another), then later registrations
    rank = {m: i for i, m in enumerate(_BUILTIN_MODULES)}
    ordered = sorted(_REGISTRY.values(), key=lambda r: rank.get(r.module, len(rank)))
    _REGISTRY.clear()
    _REGISTRY.update((r.name, r) for r in ordered)


def list_readers() -> list[str]:
    """The registered format names, in detection order (built-in formats first, in ``_BUILTIN_MODULES`` order).

    Examples:
        >>> list_readers()[0], list_readers()[-1]
        ('cwa', 'csv')
    """
    _load()
    return list(_REGISTRY)


def get_reader(name: str) -> Reader:
    """The reader of format ``name``; an unknown name raises ``UnsupportedFormatError`` listing the formats.

    Examples:
        >>> get_reader("wisdm").companions is not None
        True
    """
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnsupportedFormatError(f"unknown format {name!r}; choose from {['auto', *_REGISTRY]}") from None
