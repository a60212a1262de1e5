"""Sharded ingest: a deterministic share of the inputs per worker, and the merge of the workers' manifests.

**The rule.** Each recording to write has a name relative to the dataset folder (``sub/p01`` for
``raw/sub/p01.csv``, the name an unsharded run gives it). Worker ``K`` of ``N`` takes the recordings whose
``int.from_bytes(sha256(name)[:8], "big") % N == K - 1``. The share depends only on the name and ``N``: any
machine that sees the same input list computes the same shares, the shares are disjoint and together hold
every recording, and a recording never moves between shards when other files come or go. The files of one
recording (companions, or a ``--concat`` group) go to the shard of the recording.

Each worker writes its recordings and its own manifest part, ``manifest.shard-KKK-of-NNN.parquet``,
atomically into the shared output folder; no two workers write the same file. :func:`merge_parts` then joins
the parts into ``manifest.parquet``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wearfm.errors import ConfigError, DataError
from wearfm.io.manifest import (
    RecordingEntry,
    is_manifest_file,
    read_manifest,
    write_manifest,
)

__all__ = ["parse_shard", "shard_of", "MergeReport", "merge_parts"]

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_PART = re.compile(r"^manifest\.shard-(\d+)-of-(\d+)\.parquet$")


def parse_shard(spec: str) -> tuple[int, int]:
    """``"3/64"`` -> ``(3, 64)``; raise ``ConfigError`` unless ``1 <= K <= N``."""
    m = _SPEC.match(spec)
    if m is None:
        raise ConfigError(f"--shard {spec!r} must look like K/N, e.g. 3/64 (worker K of N, K = 1..N)")
    k, n = int(m[1]), int(m[2])
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {spec}: K must be between 1 and N ({n}); workers are numbered 1/{n} .. {n}/{n}")
    return k, n


def shard_of(name: str, n: int) -> int:
    """The shard (1..n) of the recording called ``name`` (see the module docstring)."""
    digest = hashlib.sha256(name.replace("\\", "/").encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


@dataclass
class MergeReport:
    """What ``wearfm manifest`` found; ``to_dict()`` is its ``--json`` output."""

    path: str
    shards: int = 0
    parts: int = 0
    recordings: int = 0
    written: bool = False
    missing_shards: list[int] = field(default_factory=list)
    incomplete_shards: list[dict[str, Any]] = field(default_factory=list)
    duplicate_recordings: list[str] = field(default_factory=list)
    unlisted_recordings: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No missing or incomplete shard, duplicate, unlisted recording or missing file."""
        return not (
            self.missing_shards
            or self.incomplete_shards
            or self.duplicate_recordings
            or self.unlisted_recordings
            or self.missing_files
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {**asdict(self), "ok": self.ok}


def merge_parts(root: str | Path, force: bool = False) -> MergeReport:
    """Join the shard manifest parts in ``root`` into ``manifest.parquet`` and check them.

    The merged manifest is written only when every shard 1..N has a complete part, no recording is listed
    twice, every recording file has a row and every row has its file; ``force`` writes it from the parts
    present anyway (rows whose file is missing are left out; duplicates are still refused).

    Raises:
        DataError: ``root`` has no parts, or parts of different shard counts.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    parts: dict[int, Path] = {}
    counts: set[int] = set()
    for f in sorted(root.iterdir()):
        m = _PART.match(f.name)
        if m:
            parts[int(m[1])] = f
            counts.add(int(m[2]))
    if not parts:
        raise DataError(
            f"{root}: no manifest parts (manifest.shard-K-of-N.parquet) to merge; write them with "
            f"`wearfm ingest ... --shard K/N --out {root}` on each worker first"
        )
    if len(counts) > 1:
        raise DataError(
            f"{root}: manifest parts of different shard counts {sorted(counts)}; remove the parts of the "
            "old run (manifest.shard-*-of-N.parquet) and keep one N"
        )
    n = counts.pop()
    report = MergeReport(path=str(root), shards=n, parts=len(parts))
    report.missing_shards = [k for k in range(1, n + 1) if k not in parts]
    entries: list[RecordingEntry] = []
    seen: dict[str, int] = {}
    for k, f in sorted(parts.items()):
        meta = pq.read_schema(f).metadata or {}
        state = {key.decode(): v.decode() for key, v in meta.items() if key.startswith(b"wearfm.")}
        if state.get("wearfm.complete") != "true":
            report.incomplete_shards.append(
                {"shard": k, "errors": int(state.get("wearfm.errors", "0") or 0), "part": f.name}
            )
        for e in read_manifest(root, f.name):
            if e.path in seen:
                report.duplicate_recordings.append(e.path)
                continue
            seen[e.path] = k
            entries.append(e)
    listed = set(seen)
    on_disk = {
        str(p.relative_to(root))
        for p in root.rglob("*.parquet")
        if not is_manifest_file(p.name) and not p.name.startswith(".")
    }
    report.unlisted_recordings = sorted(on_disk - listed)
    report.missing_files = sorted(listed - on_disk)
    report.recordings = len(entries)
    if report.ok or (force and not report.duplicate_recordings):
        write_manifest(root, [e for e in entries if e.path in on_disk])
        report.written = True
    return report
