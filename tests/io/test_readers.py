"""The reader registry: every format is one registered :class:`Reader`, found by name and by detection."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from wearfm.config import IngestConfig
from wearfm.errors import UnsupportedFormatError
from wearfm.io import readers
from wearfm.io._devutil import make_table
from wearfm.io.detect import FORMATS, detect_format
from wearfm.io.ingest import ingest
from wearfm.io.readers import Reader, get_reader, list_readers, register_reader
from wearfm.io.schema import read_metadata

# the order content sniffers run in; a device format must be claimed before the text presets and plain CSV
DETECTION_ORDER = [
    "cwa",
    "gt3x",
    "geneactiv",
    "wisdm",
    "sp-sw-har",
    "actilife-csv",
    "geneactiv-csv",
    "omgui-csv",
    "csv",
]


def test_builtin_readers_in_detection_order() -> None:
    assert list_readers() == DETECTION_ORDER
    assert FORMATS == ("auto", *DETECTION_ORDER)
    assert [r.name for r in map(get_reader, list_readers()) if r.fallback] == ["csv"]


def test_cli_format_choices_are_the_registered_readers() -> None:
    cli_ingest = importlib.import_module("wearfm.cli.ingest")
    assert set(typing.get_args(cli_ingest.Format)) == set(FORMATS)


@pytest.mark.parametrize("name", DETECTION_ORDER)
def test_reader_declares_the_interface(name: str) -> None:
    r = get_reader(name)
    assert r.name == name
    assert r.module.startswith("wearfm.io.")
    params = inspect.signature(r.read).parameters
    assert list(params)[:2] == ["path", "cfg"]
    assert ("data" in params) == r.reads_bytes  # convert_file passes data= exactly to the readers that take it
    assert r.sniff(b"", Path("empty.unknown")) is False
    assert all(e.startswith(".") and e == e.lower() for e in r.extensions)


def test_unknown_format_lists_the_formats() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"unknown format 'nope'; choose from \['auto', 'cwa'"):
        get_reader("nope")


def test_a_name_registers_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_reader(get_reader("csv"))
    with pytest.raises(ValueError, match="other than 'auto'"):
        Reader("auto", read=get_reader("csv").read, sniff=get_reader("csv").sniff)


_MAGIC = b"TINY1\n"
_CALLS: list[dict[str, Any]] = []


def _tiny_sniff(head: bytes, path: Path) -> bool:
    return head.startswith(_MAGIC)


def _tiny_read(path: Path, cfg: IngestConfig, data: bytes | None = None) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    _CALLS.append({"path": path, "data": data})
    raw = path.read_bytes() if data is None else data
    values = np.loadtxt(raw[len(_MAGIC) :].decode().splitlines(), delimiter=",", ndmin=2)
    time_ns = (values[:, 0] * 1e6).astype(np.int64)
    return iter([make_table(time_ns, values[:, 1:4].astype(np.float32))]), {"sample_rate_nominal_hz": 25.0}


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Reader:
    """A format registered the way a format module does it, on a copy of the registry."""
    monkeypatch.setattr(readers, "_REGISTRY", dict(readers._REGISTRY))
    _CALLS.clear()
    return register_reader(Reader("tiny", read=_tiny_read, sniff=_tiny_sniff, reads_bytes=True, extensions=(".tny",)))


def _write_tiny(path: Path, seconds: int = 8, magic: bool = True) -> Path:
    t = np.arange(seconds * 25) * 40.0 + 1.6e12  # ms, 25 Hz
    rows = "".join(f"{ti:.0f},0.1,0.2,1.0\n" for ti in t)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((_MAGIC if magic else b"") + rows.encode())
    return path


def test_registered_reader_is_detected_and_ingested(tiny: Reader, tmp_path: Path) -> None:
    assert list_readers()[-1] == "tiny" and get_reader("tiny") is tiny
    src = _write_tiny(tmp_path / "in" / "p07.dat")
    assert detect_format(src) == "tiny"  # by content, before the CSV fallback that .dat would reach
    s = ingest([tmp_path / "in"], tmp_path / "out")
    assert (s.recordings, s.rows, s.errors) == (1, 200, [])
    assert _CALLS[-1]["data"] == src.read_bytes()  # reads_bytes: the source's bytes were read once, handed over
    meta = read_metadata(next((tmp_path / "out").glob("p07*.parquet")))
    assert meta["reader"] == "test_readers"  # info names no reader: the implementing module's name
    assert meta["subject"] == "p07"


def test_extension_names_a_registered_reader(tiny: Reader, tmp_path: Path) -> None:
    src = _write_tiny(tmp_path / "x.tny", magic=False)  # no sniffer claims it: the extension decides
    assert detect_format(src) == "tiny"


def test_reader_without_reads_bytes_reads_the_path(tiny: Reader, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(readers._REGISTRY, "tiny", Reader("tiny", read=_tiny_read, sniff=_tiny_sniff))
    _write_tiny(tmp_path / "in" / "p08.dat")
    ingest([tmp_path / "in"], tmp_path / "out", IngestConfig(format="tiny"))
    assert _CALLS and all(c["data"] is None for c in _CALLS)
