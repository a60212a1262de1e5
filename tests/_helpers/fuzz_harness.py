"""Seeded mutation fuzzing of every reader through ``wearfm.io.ingest.ingest``, and the outcome checks.

Each case is a mutated copy of a real file (``$WEARFM_DATA`` / ``../shared/data``) written under its original
name, ingested in-process into a folder that already holds one good recording. The outcome is one of:

- ``ok``: ingest succeeded and every invariant holds (schema, finite values, time strictly increasing within
  each recording file, manifest rows = file rows = summary rows, non-negative integer counters, and for CWA the
  block accounting ``blocks + corrupt + other + held <= data blocks``);
- ``error``: a wearfm error (what the CLI shows as one red line with exit 1) whose message is one line;
- anything else is a defect: ``traceback`` (any other exception), ``hang`` (over the time limit),
  ``memory`` (MemoryError), ``partial`` (a recording or temporary file left after an error), ``changed``
  (the earlier recording or its manifest row changed), ``invariant`` (success with broken data).

``case(reader, index, seed)`` rebuilds any case from its id, so a failure prints what is needed to rerun it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import traceback
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from wearfm.config import IngestConfig
from wearfm.errors import WearfmError

__all__ = ["READERS", "DEFECTS", "Case", "Outcome", "case", "cases", "run_case", "sources", "data_dir"]

READERS = ("cwa", "gt3x", "geneactiv", "csv", "wisdm", "sp-sw-har", "actilife-csv", "geneactiv-csv", "omgui-csv")
# device CSV exports have no shared real files: fuzzed from the layout generators of tests/_helpers/exports.py
_EXPORT_READERS = ("actilife-csv", "geneactiv-csv", "omgui-csv")
DEFECTS = ("traceback", "hang", "memory", "partial", "changed", "invariant")
TEXT_ROWS = 300  # lines of a real text file kept as the fuzzing source
BLOCK = 512
_DEVICE_READERS = ("cwa", "gt3x", "geneactiv")
_CLEAN_ERRORS = (WearfmError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def data_dir() -> Path | None:
    """``$WEARFM_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("WEARFM_DATA")
    d = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return d if d.is_dir() else None


@dataclass(frozen=True)
class Case:
    """One mutated input: its id, the file name to write it under, its bytes and what was done."""

    reader: str
    index: int
    seed: int
    name: str
    data: bytes
    mutation: str

    @property
    def id(self) -> str:
        return f"{self.reader}:{self.seed}:{self.index}"


@dataclass
class Outcome:
    """What ingesting one case gave."""

    case: str
    mutation: str
    kind: str  # ok | error | traceback | hang | memory | partial | changed | invariant
    detail: str = ""
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------ sources
def _text_slice(path: Path, rows: int) -> bytes:
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(rows))


def sources(reader: str, full: bool = False) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` of the real files a reader is fuzzed from (``full`` adds the large ones)."""
    if reader in _EXPORT_READERS:
        return [_export_source(reader)]
    d = data_dir()
    if d is None:
        raise FileNotFoundError("real data not found: set WEARFM_DATA or place it at ../shared/data")
    dev = d / "devices"
    if reader == "cwa":
        files = sorted((dev / "cwa").glob("*.cwa")) + sorted((dev / "corrupt").glob("*.cwa"))
    elif reader == "gt3x":
        files = [p for p in sorted((dev / "gt3x").glob("*.gt3x")) if full or p.stat().st_size < 1_000_000]
    elif reader == "geneactiv":
        files = sorted((dev / "geneactiv").glob("*.bin"))
    elif reader in ("csv", "sp-sw-har"):
        src = d / "sp-sw-har" / "DATA" / "s01"
        picks = ["s01_01_sw.csv", "s01_01_sp.csv"]
        return [(n, _text_slice(src / n, TEXT_ROWS + 1)) for n in picks]
    elif reader == "wisdm":
        src = d / "wisdm-phone" / "raw" / "phone" / "accel" / "data_1600_accel_phone.txt"
        return [(src.name, _text_slice(src, TEXT_ROWS))]
    else:
        raise ValueError(f"unknown reader {reader!r}; choose from {READERS}")
    return [(p.name, p.read_bytes()) for p in files]


def _export_source(reader: str) -> tuple[str, bytes]:
    """A short generated export of ``reader``'s published layout (5 s of data)."""
    import tempfile

    from tests._helpers import exports as _exports

    make = {"actilife-csv": _exports.actilife_csv, "geneactiv-csv": _exports.geneactiv_csv}.get(
        reader, _exports.omgui_csv
    )
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / f"{reader.replace('-csv', '')}_export.csv"
        make(p, seconds=5.0)
        return p.name, p.read_bytes()


# ---------------------------------------------------------------------------------------- mutations
Mutator = Callable[[bytes, random.Random], tuple[bytes, str]]


def _bitflip(b: bytes, r: random.Random) -> tuple[bytes, str]:
    a = bytearray(b)
    k = r.choice((1, 2, 4, 16))
    for _ in range(k):
        i = r.randrange(len(a))
        a[i] ^= 1 << r.randrange(8)
    return bytes(a), f"bitflip x{k}"


def _byterun(b: bytes, r: random.Random) -> tuple[bytes, str]:
    a = bytearray(b)
    n = r.choice((1, 4, 16, 64, 512))
    i = r.randrange(len(a))
    fill = r.choice(("random", "zero", "ff"))
    run = {"random": bytes(r.randrange(256) for _ in range(n)), "zero": bytes(n), "ff": b"\xff" * n}[fill]
    a[i : i + n] = run
    return bytes(a[: len(b)] if len(a) > len(b) else a), f"{fill} run of {n} at {i}"


def _truncate(b: bytes, r: random.Random) -> tuple[bytes, str]:
    i = r.randrange(len(b))
    return b[:i], f"truncate at {i}"


def _block_ops(block: int) -> list[Mutator]:
    def cut(b: bytes, r: random.Random) -> tuple[bytes, str]:
        k = r.randrange(len(b) // block + 1)
        return b[: k * block], f"truncate at block {k}"

    def dup(b: bytes, r: random.Random) -> tuple[bytes, str]:
        k = r.randrange(max(len(b) // block, 1))
        blk = b[k * block : (k + 1) * block]
        return b[: (k + 1) * block] + blk + b[(k + 1) * block :], f"duplicate block {k}"

    def drop(b: bytes, r: random.Random) -> tuple[bytes, str]:
        k = r.randrange(max(len(b) // block, 1))
        return b[: k * block] + b[(k + 1) * block :], f"drop block {k}"

    def swap(b: bytes, r: random.Random) -> tuple[bytes, str]:
        n = len(b) // block
        if n < 3:
            return dup(b, r)
        k = r.randrange(1, n - 1)
        s = block
        return b[: k * s] + b[(k + 1) * s : (k + 2) * s] + b[k * s : (k + 1) * s] + b[(k + 2) * s :], f"swap blocks {k}"

    return [cut, dup, drop, swap]


def _cwa_specific(b: bytes, r: random.Random) -> tuple[bytes, str]:
    """Header and block fields set to extreme values (lengths, sample counts, rate codes, timestamps)."""
    a = bytearray(b)
    n = len(a) // BLOCK
    where = r.choice(("header", "block"))
    if where == "header" or n < 3:
        off = r.choice((2, 4, 11, 13, 24, 36, 38))  # length, device id, session, start, rate, ...
        base = 0
    else:
        base = r.randrange(2, n) * BLOCK
        off = r.choice((2, 4, 10, 14, 18, 20, 22, 24, 26, 28, 30, 510))
    val = r.choice((b"\xff\xff", b"\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff"))
    a[base + off : base + off + len(val)] = val
    return bytes(a[: len(b)]), f"{where} field @{base + off} = {val.hex()}"


def _lines(b: bytes) -> list[bytes]:
    return b.splitlines(keepends=True)


def _text_ops() -> list[Mutator]:
    junk_fields = [b"", b"nan", b"inf", b"-inf", b"1e309", b"abc", b"-", b"9" * 40, b"0x1F", b"\xff\xfe", b'"', b"1,2"]

    def field(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i = r.randrange(len(ls))
        sep = b";" if b";" in ls[i][:-2] and b"," not in ls[i] else b","
        parts = ls[i].rstrip(b"\r\n").split(sep)
        j = r.randrange(len(parts))
        v = r.choice(junk_fields)
        parts[j] = v
        ls[i] = sep.join(parts) + b"\n"
        return b"".join(ls), f"line {i} field {j} = {v!r}"

    def drop_lines(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i = r.randrange(len(ls))
        k = r.choice((1, 5, 50))
        return b"".join(ls[:i] + ls[i + k :]), f"drop lines {i}..{i + k}"

    def dup_lines(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i = r.randrange(len(ls))
        k = r.choice((1, 5, 50))
        return b"".join(ls[: i + k] + ls[i : i + k] + ls[i + k :]), f"duplicate lines {i}..{i + k}"

    def swap_lines(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i, j = r.randrange(len(ls)), r.randrange(len(ls))
        ls[i], ls[j] = ls[j], ls[i]
        return b"".join(ls), f"swap lines {i},{j}"

    def junk_line(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i = r.randrange(len(ls) + 1)
        junk = r.choice((b"\n", b"garbage\n", b",,,,,,,\n", b"\x00" * 20 + b"\n", b"1;2;3\n", b"a,b,c,d,e,f,g,h,i,j\n"))
        return b"".join(ls[:i] + [junk] + ls[i:]), f"insert {junk!r} at line {i}"

    def cut_mid_line(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        i = r.randrange(len(ls))
        ln = ls[i]
        k = r.randrange(max(len(ln), 1))
        return b"".join(ls[:i]) + ln[:k], f"truncate in line {i} at {k}"

    def header(b: bytes, r: random.Random) -> tuple[bytes, str]:
        ls = _lines(b)
        what = r.choice(("drop", "dup", "empty", "only"))
        if what == "drop":
            return b"".join(ls[1:]), "drop first line"
        if what == "dup":
            return b"".join([ls[0]] * 2 + ls[1:]), "duplicate first line"
        if what == "empty":
            return b"", "empty file"
        return ls[0], "first line only"

    return [field, field, drop_lines, dup_lines, swap_lines, junk_line, cut_mid_line, header]


def _rezip(b: bytes, edit: Callable[[dict[str, bytes], list[zipfile.ZipInfo]], str]) -> tuple[bytes, str]:
    """Rebuild a zip with edited members (valid CRCs), so the mutation reaches the decoder."""
    with zipfile.ZipFile(io.BytesIO(b)) as zf:
        infos = zf.infolist()
        members = {i.filename: zf.read(i.filename) for i in infos}
    what = edit(members, infos)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue(), what


def _gt3x_ops() -> list[Mutator]:
    def log_bytes(b: bytes, r: random.Random) -> tuple[bytes, str]:
        def edit(m: dict[str, bytes], _: list[zipfile.ZipInfo]) -> str:
            key = "log.bin" if "log.bin" in m else "activity.bin"
            op = r.choice([_bitflip, _byterun, _truncate, *_block_ops(r.choice((9, 32, 512)))])
            m[key], what = op(m[key], r)
            return f"{key}: {what}"

        return _rezip(b, edit)

    def record_size(b: bytes, r: random.Random) -> tuple[bytes, str]:
        def edit(m: dict[str, bytes], _: list[zipfile.ZipInfo]) -> str:
            if "log.bin" not in m:
                return "no log.bin"
            a = bytearray(m["log.bin"])
            seps = [i for i in range(0, min(len(a), 200_000)) if a[i] == 0x1E]
            if not seps:
                return "log.bin without records"
            i = r.choice(seps)
            field, val = r.choice(
                ((6, b"\xff\xff"), (6, b"\x00\x00"), (2, b"\xff\xff\xff\xff"), (1, b"\x00"), (1, b"\x1b"))
            )
            a[i + field : i + field + len(val)] = val
            m["log.bin"] = bytes(a[: len(m["log.bin"])])
            return f"log.bin record @{i} +{field} = {val.hex()}"

        return _rezip(b, edit)

    def info_txt(b: bytes, r: random.Random) -> tuple[bytes, str]:
        def edit(m: dict[str, bytes], _: list[zipfile.ZipInfo]) -> str:
            key = r.choice(
                (
                    "Sample Rate",
                    "Start Date",
                    "Last Sample Time",
                    "Acceleration Scale",
                    "Acceleration Max",
                    "TimeZone",
                    "Serial Number",
                    "Device Type",
                    "Firmware",
                )
            )
            val = r.choice(("0", "-1", "nan", "inf", "1e308", "99999999999999999999999", "", "abc", "\x00"))
            if "info.txt" not in m:
                return "no info.txt"
            lines = m["info.txt"].decode("utf-8", "replace").splitlines()
            lines = [f"{key}: {val}" if ln.split(":", 1)[0].strip() == key else ln for ln in lines]
            m["info.txt"] = "\n".join(lines).encode()
            return f"info.txt {key} = {val!r}"

        return _rezip(b, edit)

    def members(b: bytes, r: random.Random) -> tuple[bytes, str]:
        def edit(m: dict[str, bytes], _: list[zipfile.ZipInfo]) -> str:
            name = r.choice(sorted(m))
            op = r.choice(("drop", "rename", "traverse", "empty", "json"))
            data = m.pop(name)
            if op == "rename":
                m[name.upper() if name != name.upper() else name + "x"] = data
            elif op == "traverse":
                m["../" + name] = data
            elif op == "empty":
                m[name] = b""
            elif op == "json":
                m["calibration.json"] = r.choice((b"{", b"[]", b"null", b'{"isCalibrated": "no"}', b"1e999"))
                m[name] = data
            return f"member {name}: {op}"

        return _rezip(b, edit)

    def zip_bytes(b: bytes, r: random.Random) -> tuple[bytes, str]:
        """Raw damage to the zip: compressed data, local or central headers, declared sizes."""
        a = bytearray(b)
        with zipfile.ZipFile(io.BytesIO(b)) as zf:
            infos = zf.infolist()
        info = r.choice(infos)
        op = r.choice(("data", "local", "central", "size"))
        if op == "data" and info.compress_size:
            i = info.header_offset + 30 + len(info.filename) + r.randrange(info.compress_size)
            a[i] ^= 1 << r.randrange(8)
            return bytes(a), f"{info.filename}: flip a bit of compressed data at {i}"
        if op == "local":
            i = info.header_offset + r.randrange(30 + len(info.filename))
            a[i] ^= 1 << r.randrange(8)
            return bytes(a), f"{info.filename}: flip a bit of the local header at {i}"
        cd = b.rfind(b"PK\x01\x02" + b"", 0)
        cd = b.find(b"PK\x01\x02")
        if op == "central" and cd >= 0:
            i = cd + r.randrange(len(b) - cd)
            a[i] ^= 1 << r.randrange(8)
            return bytes(a), f"flip a bit of the central directory at {i}"
        # huge declared uncompressed size in the central directory entry of this member
        j = b.find(b"PK\x01\x02", cd)
        while j >= 0:
            n = int.from_bytes(b[j + 28 : j + 30], "little")
            if b[j + 46 : j + 46 + n].decode("cp437", "replace") == info.filename:
                a[j + 24 : j + 28] = r.choice((b"\xff\xff\xff\x7f", b"\x00\x00\x00\x40"))
                break
            j = b.find(b"PK\x01\x02", j + 4)
        return bytes(a), f"{info.filename}: huge declared size"

    return [log_bytes, log_bytes, log_bytes, record_size, info_txt, members, zip_bytes, zip_bytes, _truncate, _bitflip]


def _mutators(reader: str) -> list[Mutator]:
    if reader == "cwa":
        return [_bitflip, _byterun, _truncate, *_block_ops(BLOCK), _cwa_specific, _cwa_specific]
    if reader == "gt3x":
        return _gt3x_ops()
    if reader == "geneactiv":
        return [_bitflip, _byterun, _truncate, *_block_ops(BLOCK), *_text_ops()[:7]]
    return [_bitflip, _byterun, _truncate, *_text_ops()]


def case(reader: str, index: int, seed: int = 0, full: bool = False, _src: list[Any] | None = None) -> Case:
    """The ``index``-th case of ``reader`` for ``seed`` (the same bytes on every machine)."""
    srcs = _src if _src is not None else sources(reader, full)
    r = random.Random(f"{reader}:{seed}:{index}")
    name, data = srcs[index % len(srcs)]
    op = r.choice(_mutators(reader))
    out, what = op(data, r)
    if r.random() < 0.15 and out:  # sometimes stack a second mutation
        op2 = r.choice(_mutators(reader))
        try:
            out, what2 = op2(out, r)
            what = f"{what}; {what2}"
        except Exception:  # noqa: BLE001 - the first mutation left nothing the second can work on (a broken zip)
            pass
    return Case(reader, index, seed, name, out, what)


def cases(reader: str, n: int, seed: int = 0, full: bool = False) -> Iterator[Case]:
    """``n`` seeded cases of ``reader``."""
    srcs = sources(reader, full)
    for i in range(n):
        yield case(reader, i, seed, full, srcs)


# ------------------------------------------------------------------------------------------ running
class _Timeout(BaseException):
    pass


def _alarm(_sig: int, _frame: Any) -> None:
    raise _Timeout


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def baseline(work: Path) -> Path:
    """A dataset folder holding one good recording, to check that a failing ingest leaves it untouched."""
    from wearfm.io.ingest import ingest

    base = work / "_baseline"
    if (base / "manifest.parquet").exists():
        return base
    src = work / "_baseline_src" / "earlier.csv"
    src.parent.mkdir(parents=True, exist_ok=True)
    t = 1_700_000_000_000 + np.arange(200) * 20
    rows = "\n".join(f"{t[i]},0.01,0.02,{1 + 0.01 * np.sin(i)}" for i in range(200))
    src.write_text("time,ax,ay,az\n" + rows + "\n")
    ingest([src], base, IngestConfig(format="csv"))
    return base


def _check_dataset(out: Path, summary: Any, reader: str, size: int) -> str:
    """'' when every invariant of a successful ingest holds, else what broke."""
    from wearfm.io.manifest import read_manifest

    entries = read_manifest(out)
    total = 0
    for e in entries:
        p = out / e.path
        if not p.exists():
            return f"manifest lists missing file {e.path}"
        if e.path.startswith("earlier"):
            continue
        t = pq.read_table(p)
        meta = t.schema.metadata or {}
        if t.num_rows != e.samples:
            return f"{e.path}: {t.num_rows} rows, manifest says {e.samples}"
        total += t.num_rows
        tt = t.column("time").cast("int64").to_numpy()
        d = np.diff(tt)
        if (d < 0).any():
            return f"{e.path}: time goes backwards"
        if (d == 0).any():
            # device clocks are computed, so strictly increasing; text exports with coarse clocks may stamp
            # distinct samples alike (kept as ties), but never an exact duplicate row
            if reader in _DEVICE_READERS:
                return f"{e.path}: time not strictly increasing"
            cols = [c for c in t.column_names if c.startswith(("acc_", "gyr_"))]
            v = np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in cols])
            tie = np.flatnonzero(d == 0) + 1
            if (v[tie] == v[tie - 1]).all(axis=1).any():
                return f"{e.path}: an exact duplicate row was kept"
        for c in t.column_names:
            if c.startswith(("acc_", "gyr_")):
                v = t.column(c).to_numpy(zero_copy_only=False)
                if not np.all(np.isfinite(v)):
                    return f"{e.path}: non-finite {c}"

        info = json.loads(meta.get(b"wearfm.counters") or meta.get(b"wearfm.info") or b"{}") or {}
        for k, v in info.items():
            if isinstance(v, int) and not isinstance(v, bool) and v < 0:
                return f"{e.path}: counter {k} = {v}"
        if reader == "cwa" and {"blocks", "corrupt_blocks", "other_blocks"} <= info.keys():
            counted = info["blocks"] + info["corrupt_blocks"] + info["other_blocks"]
            if counted > size // BLOCK:
                return f"{e.path}: {counted} blocks counted in a file of {size // BLOCK}"
    if total != summary.rows:
        return f"summary rows {summary.rows} != {total} in the files"
    return ""


def run_case(c: Case, work: Path, time_limit: float = 20.0) -> Outcome:
    """Ingest one case into a copy of the baseline dataset and classify what happened."""
    import time

    from wearfm.io.ingest import ingest

    base = baseline(work)
    d = work / c.id.replace(":", "_")
    shutil.rmtree(d, ignore_errors=True)
    src = d / "in" / c.name
    src.parent.mkdir(parents=True)
    src.write_bytes(c.data)
    out = d / "out"
    shutil.copytree(base, out)
    before = {p.name: _digest(p) for p in out.iterdir() if p.suffix == ".parquet" and p.name != "manifest.parquet"}
    cfg = IngestConfig(format="auto" if c.reader in ("cwa", "gt3x", "geneactiv") else c.reader)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    t0 = time.perf_counter()
    kind, detail, summary = "ok", "", None
    try:
        with warnings.catch_warnings():
            # a numeric warning (invalid cast, overflow) means a value was silently corrupted
            warnings.simplefilter("error", RuntimeWarning)
            summary = ingest([src], out, cfg)
    except _Timeout:
        kind, detail = "hang", f"over {time_limit:.0f} s"
    except MemoryError:
        kind, detail = "memory", "MemoryError"
    except _CLEAN_ERRORS as e:
        kind, detail = "error", str(e)
        if "\n" in detail.strip():
            kind = "traceback"
            detail = "multi-line message: " + detail
    except RuntimeWarning as e:
        kind = "invariant"
        detail = f"RuntimeWarning: {e} | " + traceback.format_exc(limit=-2).replace("\n", " | ")[-400:]
    except Exception as e:  # noqa: BLE001 - every other exception is a defect to report
        kind = "traceback"
        detail = f"{type(e).__name__}: {e} | " + traceback.format_exc(limit=-3).replace("\n", " | ")[-600:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    secs = time.perf_counter() - t0
    if kind in ("ok", "error"):
        after = {p.name: _digest(p) for p in out.iterdir() if p.suffix == ".parquet" and p.name in before}
        leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
        new = [p.name for p in out.rglob("*.parquet") if p.name not in before and p.name != "manifest.parquet"]
        from wearfm.io.manifest import read_manifest

        listed = {e.path for e in read_manifest(out)}
        if after != before or not set(before) <= listed:
            kind, detail = "changed", f"earlier recording changed or unlisted ({detail})"
        elif leftovers:
            kind, detail = "partial", f"temporary files left: {leftovers} ({detail})"
        elif kind == "error" and new:
            kind, detail = "partial", f"recordings left after an error: {new} ({detail})"
        elif kind == "ok":
            bad = _check_dataset(out, summary, c.reader, len(c.data))
            if bad:
                kind, detail = "invariant", bad
    shutil.rmtree(d, ignore_errors=True)
    return Outcome(c.id, c.mutation, kind, detail, secs)
