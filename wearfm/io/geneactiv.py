"""GENEActiv ``.bin`` reader: a text header, then pages of 300 samples as hex, calibrated from the header.

No public specification was found; the layout follows the device's documented text structure (as summarised
in ``shared/methods/formats-and-onnx.md`` §2.4). Each page has nine ``Key:value`` lines (``Page Time``,
``Measurement Frequency``, ...) and one line of 300 x 12 hex digits: x, y, z as 12-bit two's complement, then
10 bits of light, a button bit and a reserved bit. Acceleration in g is ``(raw * 100 - offset) / gain`` with
the per-axis gain and offset of the header's ``Calibration Data``. Sample ``k`` of a page is at
``Page Time + k / Measurement Frequency`` (the page's own frequency, which may differ from the header's).

Pages are parsed a few thousand at a time: the page headers with plain string operations, all hex payloads
of a chunk with one ``bytes.fromhex`` and numpy. A truncated last page is dropped and counted; pages whose
payload is not valid hex are skipped and counted (``corrupt_pages``).

The older *Genea* device writes a different ``.bin`` layout (``GENEA/1.00`` header, binary payload): it is
recognised by :func:`sniff` so that :func:`read` can refuse it with ``UnsupportedFormatError``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.errors import FormatError, UnsupportedFormatError
from wearfm.io._devutil import NS, base_info, make_table_cols, open_stream, read_all_with, read_fully
from wearfm.io.options import ReadOptions
from wearfm.io.readers import Reader, register_reader

__all__ = ["sniff", "read", "read_all", "parse_header", "decode_page_hex"]

log = logging.getLogger(__name__)

MARK = b"Recorded Data"
SAMPLES_PER_PAGE = 300
READ_BYTES = 8 << 20  # ~2000 pages per chunk
_HEADER_MAX = 64 * 1024
_EPOCH = datetime(1970, 1, 1)
_RE_TIME = re.compile(rb"Page Time:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3})[ \t]*\r?\n")
_RE_FREQ = re.compile(rb"Measurement Frequency:[ \t]*([0-9.]+)[^\r\n]*\r?\n")


def sniff(head: bytes, path: Path) -> bool:
    """True for GENEActiv text headers; also True for the old Genea format so that ``read`` can refuse it."""
    h = head.lstrip(b"\xef\xbb\xbf")
    return h.startswith(b"Device Identity") or h.startswith(b"GENEA/")


def _parse_time(s: str) -> int:
    """``YYYY-MM-DD hh:mm:ss:mmm`` -> ns since 1970 (device clock)."""
    date, _, rest = s.strip().partition(" ")
    parts = rest.split(":")
    y, mo, d = (int(v) for v in date.split("-"))
    hh, mm, ss = int(parts[0]), int(parts[1]), int(parts[2])
    ms = int(parts[3]) if len(parts) > 3 and parts[3] else 0
    secs = (datetime(y, mo, d, hh, mm, ss) - _EPOCH).total_seconds()
    return int(secs) * NS + ms * 1_000_000


def _num(v: str | None) -> float | None:
    m = re.search(r"-?\d+(\.\d+)?", v or "")
    return float(m.group()) if m else None


def parse_header(text: str, path: Path) -> dict[str, str]:
    """``Key:value`` lines of the file header (everything before the first ``Recorded Data`` page)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip(), v.strip().strip("\x00").strip())
    missing = [k for k in ("x gain", "x offset", "y gain", "y offset", "z gain", "z offset") if k not in out]
    if missing:
        raise FormatError(f"{path}: GENEActiv header lacks calibration data {missing}; the file header is damaged")
    return out


def decode_page_hex(raw: bytes, n_pages: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded bytes of ``n_pages`` x 300 samples -> raw xyz (n, 300, 3) int16, light (n, 300), button."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(n_pages, SAMPLES_PER_PAGE, 6).astype(np.int16)
    x = (b[..., 0] << 4) | (b[..., 1] >> 4)
    y = ((b[..., 1] & 0x0F) << 8) | b[..., 2]
    z = (b[..., 3] << 4) | (b[..., 4] >> 4)
    xyz = np.stack([x, y, z], axis=-1)
    xyz = np.where(xyz > 2047, xyz - 4096, xyz)
    light = ((b[..., 4] & 0x0F) << 6) | (b[..., 5] >> 2)
    button = (b[..., 5] >> 1) & 1
    return xyz, light, button


class _Pages:
    """Parses chunks of page text; carries counters and the last page time for order checks."""

    def __init__(self, path: Path, hdr: dict[str, str], rate: float, counters: dict[str, Any]) -> None:
        self.path, self.c, self.rate = path, counters, rate
        self.last_ns: int | None = None  # time of the last sample kept
        self.gain = np.array([_num(hdr[f"{a} gain"]) for a in "xyz"], dtype=np.float64)
        self.offset = np.array([_num(hdr[f"{a} offset"]) for a in "xyz"], dtype=np.float64)
        if not np.all(self.gain):
            raise FormatError(f"{path}: GENEActiv calibration gain is zero; the header is damaged")

    def _fast(self, pages: list[bytes]) -> tuple[list[int], list[float], list[bytes]] | None:
        """Regular pages (the usual case): fields by regex over the whole chunk; None when any page is odd."""
        body = b"".join(pages)
        times = _RE_TIME.findall(body)
        freqs = _RE_FREQ.findall(body)
        hexes = [p.rstrip().rsplit(b"\n", 1)[-1].strip() for p in pages]  # the payload is a page's last line
        if not len(times) == len(freqs) == len(pages) or any(len(h) != 12 * SAMPLES_PER_PAGE for h in hexes):
            return None
        try:
            iso = [t[:10] + b"T" + t[11:19] + b"." + t[20:23] for t in times]
            ns = np.array(iso, dtype="datetime64[ms]").astype("datetime64[ns]").astype(np.int64)
            f = np.array(freqs, dtype=np.float64)
        except ValueError:
            return None
        f = np.where(f > 0, f, self.rate)
        return ns.tolist(), f.tolist(), hexes

    def decode(self, pages: list[bytes]) -> pa.Table | None:
        """Canonical table of the complete ``pages`` (text from ``Recorded Data`` to the next page)."""
        fast = self._fast(pages)
        if fast is not None:
            times, freqs, hex_lines = fast
            try:
                raw = bytes.fromhex(b"".join(hex_lines).decode("ascii"))
            except ValueError:
                fast = None
        if fast is None:
            times, freqs, raws = self._slow(pages)
            raw = b"".join(raws)
        if not times:
            return None
        n = len(times)
        xyz, _, _ = decode_page_hex(raw, n)
        acc = [((xyz[..., i].reshape(-1) * 100.0 - self.offset[i]) / self.gain[i]).astype(np.float32) for i in range(3)]
        k = np.arange(SAMPLES_PER_PAGE, dtype=np.float64)
        step = np.rint(k[None, :] * NS / np.asarray(freqs)[:, None]).astype(np.int64)
        t = np.asarray(times, dtype=np.int64)[:, None] + step
        keep = self._in_order(t)
        if not keep.all():
            t = t[keep]
            acc = [a.reshape(n, SAMPLES_PER_PAGE)[keep].reshape(-1) for a in acc]
            n = int(keep.sum())
            if n == 0:
                return None
        self.c["pages"] += n
        self.c["frequency_changes"] += int(np.sum(np.asarray(freqs) != self.rate))
        return make_table_cols(t.reshape(-1), acc)

    def _in_order(self, t: np.ndarray) -> np.ndarray:
        """Pages (rows of sample times) that start after every sample kept before them.

        A page that starts at or before the end of an earlier page (a replayed or damaged page time) would
        put two samples at one time or make time go backwards: it is dropped and counted as out of order.
        """
        keep = np.ones(len(t), dtype=bool)
        last = self.last_ns
        starts, ends = t[:, 0], t[:, -1]
        if (last is None or starts[0] > last) and bool(np.all(starts[1:] > ends[:-1])):  # the usual case
            self.last_ns = int(ends[-1])
            return keep
        for i, (s0, e0) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            if last is not None and s0 <= last:
                keep[i] = False
                self.c["out_of_order_pages"] = self.c.get("out_of_order_pages", 0) + 1
                continue
            last = e0
        self.last_ns = last
        return keep

    def _slow(self, pages: list[bytes]) -> tuple[list[int], list[float], list[bytes]]:
        """Page by page, skipping (and counting) pages without a time or a valid 3600-digit hex line."""
        times: list[int] = []
        freqs: list[float] = []
        raws: list[bytes] = []
        for page in pages:
            page_time = freq = None
            payload = b""
            for line in page.split(b"\n"):
                line = line.strip()
                if line.startswith(b"Page Time:"):
                    page_time = line[10:].decode("ascii", "replace")
                elif line.startswith(b"Measurement Frequency:"):
                    freq = _num(line[22:].decode("ascii", "replace"))
                elif len(line) >= 12 * SAMPLES_PER_PAGE:
                    payload = line
            if page_time is None or len(payload) != 12 * SAMPLES_PER_PAGE:
                self.c["corrupt_pages"] += 1
                continue
            try:
                t0 = _parse_time(page_time)
                raw = bytes.fromhex(payload.decode("ascii"))
            except (ValueError, IndexError, UnicodeDecodeError):
                self.c["corrupt_pages"] += 1
                continue
            times.append(t0)
            freqs.append(freq if freq and freq > 0 else self.rate)
            raws.append(raw)
        return times, freqs, raws


def read(path: Path, cfg: ReadOptions | IngestConfig) -> tuple[Iterator[pa.Table], dict[str, Any]]:
    """Stream a GENEActiv ``.bin`` (or ``.bin.gz``) file as canonical tables plus static ``info``.

    Args:
        path: The file.
        cfg: reading options (unused by this reader beyond the contract).

    Returns:
        ``(chunks, info)``; ``info['counters']`` (pages, corrupt_pages, truncated_pages) is complete once the
        iterator is exhausted.

    Raises:
        UnsupportedFormatError: the older Genea format.
        FormatError: empty file, not GENEActiv, damaged header, or no complete page.

    Examples:
        >>> chunks, info = read(Path("wrist.bin"), IngestConfig())  # doctest: +SKIP
        >>> info["device"], info["timezone"]  # doctest: +SKIP
        ('GENEActiv', '+01:00')
    """
    path = Path(path)
    f = open_stream(path)
    try:
        head = read_fully(f, _HEADER_MAX, path)
        h = head.lstrip(b"\xef\xbb\xbf")
        if h.startswith(b"GENEA/"):
            raise UnsupportedFormatError(
                f"{path}: unsupported device format: the older Genea .bin format (not GENEActiv); convert it with "
                "GGIRread::readGenea or export CSV and ingest that"
            )
        if not h.startswith(b"Device Identity"):
            what = "empty file" if not head.strip() else "not a GENEActiv .bin file (no 'Device Identity' header)"
            raise FormatError(f"{path}: {what}")
        cut = head.find(MARK)
        if cut < 0:
            raise FormatError(f"{path}: GENEActiv header without any 'Recorded Data' page; truncated file?")
        hdr = parse_header(head[:cut].decode("latin-1"), path)
    except BaseException:
        f.close()
        raise
    rate = _num(hdr.get("Measurement Frequency")) or 0.0
    if rate <= 0:
        f.close()
        raise FormatError(f"{path}: GENEActiv header has no 'Measurement Frequency'")
    tz = hdr.get("Time Zone", "")
    m = re.search(r"([+-])\s*(\d{1,2}):?(\d{2})", tz)
    counters: dict[str, Any] = {
        "pages": 0,
        "corrupt_pages": 0,
        "truncated_pages": 0,
        "frequency_changes": 0,
        "pages_declared": int(_num(hdr.get("Number of Pages")) or 0),
    }
    rng = (
        _num(hdr.get("Accelerometer Range", "").split("to")[-1]) if "to" in hdr.get("Accelerometer Range", "") else None
    )
    info = base_info(
        "geneactiv",
        device="GENEActiv",
        device_serial=hdr.get("Device Unique Serial Code") or None,
        device_range_g=rng,
        sample_rate_nominal_hz=rate,
        time_reference="local",
        timezone=f"{m.group(1)}{int(m.group(2)):02d}:{m.group(3)}" if m else None,
    )
    info["counters"] = counters
    pages = _Pages(path, hdr, rate, counters)

    def chunks() -> Iterator[pa.Table]:
        buf = head[cut:]
        emitted = 0
        try:
            while True:
                more = read_fully(f, READ_BYTES, path)
                buf += more
                parts = buf.split(MARK)[1:]
                if more:
                    buf = MARK + parts.pop()  # the last page may be incomplete: keep it for the next read
                elif parts and len(parts[-1].rstrip()) < 12 * SAMPLES_PER_PAGE:
                    counters["truncated_pages"] += 1
                    log.warning("%s: the last page is incomplete (truncated file), ignored", path)
                    last = parts.pop().rstrip().rsplit(b"\n", 1)[-1].strip()  # its payload, if it got that far
                    if re.fullmatch(rb"[0-9A-Fa-f]{12,}", last):
                        counters["truncated_pages_dropped"] = len(last) // 12  # the whole samples it holds
                table = pages.decode(parts) if parts else None
                if table is not None:
                    emitted += table.num_rows
                    yield table
                if not more:
                    break
        finally:
            f.close()
        if counters["corrupt_pages"]:
            log.warning("%s: skipped %d corrupt page(s)", path, counters["corrupt_pages"])
            counters["corrupt_pages_dropped"] = counters["corrupt_pages"] * SAMPLES_PER_PAGE
        if emitted == 0:
            raise FormatError(f"{path}: no complete GENEActiv data page; the file is truncated or empty")

    return chunks(), info


def read_all(path: str | Path, **opts: Any) -> tuple[pa.Table, dict[str, Any]]:
    """Read a whole GENEActiv file into one table (tests, small files); ``opts`` are ``IngestConfig`` fields."""
    return read_all_with(read, path, opts)


register_reader(Reader("geneactiv", read=read, sniff=sniff, extensions=(".bin",)))
