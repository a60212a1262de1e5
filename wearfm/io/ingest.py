"""Batch ingest: raw files, folders and globs -> a canonical Parquet dataset with a manifest."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pyarrow as pa

from wearfm import errors as _errors
from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, DataError, WearfmError
from wearfm.io.annotations import Annotations, load_annotations
from wearfm.io.convert import ConvertResult, convert_file
from wearfm.io.detect import FORMATS, detect_format, expand_inputs, read_head, reader_module
from wearfm.io.manifest import MANIFEST_NAME, RecordingEntry, read_manifest, write_manifest

__all__ = ["IngestSummary", "ingest"]

log = logging.getLogger(__name__)

_READER_MODULES = ["wearfm.io.csv", "wearfm.io.wisdm", "wearfm.io.spswhar"]
_MAX_SECONDS = 1e9  # ~31 years: the largest duration setting accepted
_MAX_RATE_HZ = 1e5  # the largest sample rate setting accepted (IMUs log at up to a few kHz)
_THREAD_BELOW_BYTES = 32 << 20  # mean source size under which --jobs uses threads rather than processes


@dataclass
class IngestSummary:
    """What a batch ingest did; ``to_dict()`` is the ``--json`` output."""

    out: str
    files: int = 0  # input files read (or failed), companions (e.g. WISDM gyroscope files) included
    ignored: int = 0  # files a preset does not take (e.g. subjects_info.csv beside SP-SW-HAR recordings)
    converted: int = 0
    skipped: int = 0
    recordings: int = 0
    rows: int = 0
    hours: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


@dataclass
class _Job:
    source: Path
    fmt: str
    stem: str
    companions: list[Path]


def _check(cfg: IngestConfig) -> None:
    if cfg.format not in FORMATS:
        raise ConfigError(f"unknown format {cfg.format!r}; choose from {list(FORMATS)}")
    if cfg.on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {cfg.on_error!r}")
    if cfg.jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {cfg.jobs}")
    if cfg.max_gap_s <= 0:
        raise ConfigError(f"max_gap_s must be positive, got {cfg.max_gap_s}")
    # upper bounds far beyond any real use: a value past them comes from a typo or a hostile config file, and
    # would otherwise overflow a time computation or ask for an absurd grid
    for name, value, top in (
        ("max_gap_s", cfg.max_gap_s, _MAX_SECONDS),
        ("merge_tolerance_s", cfg.merge_tolerance_s, _MAX_SECONDS),
        ("min_duration_s", cfg.min_duration_s, _MAX_SECONDS),
        ("resample_hz", cfg.resample_hz, _MAX_RATE_HZ),
        ("rate_hz", cfg.rate_hz, _MAX_RATE_HZ),
    ):
        if value is not None and not (math.isfinite(value) and -top <= value <= top):
            raise ConfigError(f"{name}={value!r} is out of range; give a finite value up to {top:g}")
    for name, value in (("resample_hz", cfg.resample_hz), ("rate_hz", cfg.rate_hz)):
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")


def _resolve(files: list[Path]) -> dict[Path, Path]:
    """``f.resolve()`` of each file, resolving each folder once rather than every path component per file."""
    folders: dict[Path, Path] = {}
    out: dict[Path, Path] = {}
    for f in files:
        if f.is_symlink():  # a linked file resolves to wherever it points
            out[f] = f.resolve()
            continue
        folder = folders.get(f.parent)
        if folder is None:
            folder = folders[f.parent] = f.parent.resolve()
        out[f] = folder / f.name
    return out


def _plan_jobs(
    files: list[Path], cfg: IngestConfig, errors: list[dict[str, str]], resolved: dict[Path, Path]
) -> list[_Job]:
    fmts: dict[Path, str] = {}
    for f in files:
        try:
            fmts[f] = cfg.format if cfg.format != "auto" else detect_format(f, read_head(f))
        except (WearfmError, OSError) as e:
            if cfg.on_error == "stop":
                raise
            errors.append({"file": str(f), "error": str(e)})
    companions: dict[Path, list[Path]] = {}
    taken: set[Path] = set()
    for f, fmt in fmts.items():
        comp = getattr(reader_module(fmt), "companions", None)
        companions[f] = [c for c in (comp(f) if comp else []) if c in fmts]
        taken.update(companions[f])
    keep = []
    for f in fmts:
        accepts = getattr(reader_module(fmts[f]), "accepts", None)
        if f in taken or (accepts is not None and not accepts(f)):
            continue
        keep.append(f)
    parents = {f: resolved[f].parent for f in keep}
    root = Path(os.path.commonpath(list(parents.values()))) if parents else Path(".")
    jobs = []
    for f in keep:
        mod = reader_module(fmts[f])
        name = getattr(mod, "output_name", None)
        base = name(f) if name else _strip_ext(f.name)
        rel = parents[f].relative_to(root)
        jobs.append(_Job(f, fmts[f], str(rel / base) if str(rel) != "." else base, companions[f]))
    stems = [j.stem for j in jobs]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise DataError(
            f"several inputs would be written to the same recording name(s) {dup[:5]}; ingest them "
            "into separate --out folders"
        )
    return jobs


def _strip_ext(name: str) -> str:
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def _run_job(
    job: _Job, out: Path, cfg: IngestConfig, ann: Annotations | None, previous: list[RecordingEntry]
) -> tuple[ConvertResult | None, tuple[str, str] | None]:
    """Worker body: convert one job; user errors come back as (exception class name, message)."""
    try:
        res = convert_file(
            job.source,
            reader_module(job.fmt),
            out,
            job.stem,
            cfg,
            companions=job.companions,
            annotations=ann,
            previous=previous,
        )
        return res, None
    except (WearfmError, OSError) as e:
        return None, (type(e).__name__, str(e) or type(e).__name__)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        return None, ("FormatError", f"{job.source}: cannot decode ({str(e).splitlines()[0]})")


def ingest(
    inputs: Sequence[str | Path] | str | Path,
    out: str | Path,
    cfg: IngestConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestSummary:
    """Convert raw recordings into the canonical dataset at ``out`` and (re)write its manifest.

    Args:
        inputs: files, folders (searched recursively) and glob patterns.
        out: the dataset folder (created); recordings already there are kept and merged into the manifest.
        cfg: ingest options.
        progress: called as ``progress(done, total, source)`` once before the first source (done=0) and
            after each one.

    Returns:
        An :class:`IngestSummary`. With ``on_error='stop'`` the first failing file raises its error (the
        manifest still lists what was written before it).

    Examples:
        >>> cfg = IngestConfig(format="sp-sw-har")
        >>> s = ingest(["../shared/data/sp-sw-har/DATA"], "data/spsw", cfg)  # doctest: +SKIP
        >>> s.recordings  # doctest: +SKIP
        446
    """
    t0 = time.perf_counter()
    cfg = cfg or IngestConfig()
    _check(cfg)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    files = expand_inputs(items)
    out_resolved = out.resolve()
    resolved = _resolve(files)
    files = [f for f in files if out_resolved not in resolved[f].parents]
    if not files:
        raise DataError(f"no input files found in {[str(i) for i in items]}")
    summary = IngestSummary(out=str(out), files=len(files))
    jobs = _plan_jobs(files, cfg, summary.errors, resolved)
    used = len(jobs) + sum(len(j.companions) for j in jobs)
    summary.ignored = len(files) - used - len(summary.errors)
    summary.files = used + len(summary.errors)
    planning_errors = len(summary.errors)
    ann = load_annotations(cfg.annotations, cfg.annotation_units) if cfg.annotations else None
    if progress is not None:
        progress(0, len(jobs), "")
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out, jobs)
    existing = read_manifest(out) if (out / MANIFEST_NAME).exists() else []
    by_source: dict[str, list[RecordingEntry]] = {}
    for e in existing:
        by_source.setdefault(e.source_file, []).append(e)
    results: dict[str, ConvertResult] = {}
    first_error: tuple[str, str] | None = None

    def handle(job: _Job, res: ConvertResult | None, err: tuple[str, str] | None) -> bool:
        nonlocal first_error
        if res is not None:
            results[str(job.source)] = res
        else:
            assert err is not None
            summary.errors.append({"file": str(job.source), "error": err[1]})
            first_error = first_error or err
        if progress is not None:
            progress(len(results) + len(summary.errors) - planning_errors, len(jobs), str(job.source))
        return err is None or cfg.on_error == "skip"

    try:
        if cfg.jobs == 1 or len(jobs) == 1:
            for job in jobs:
                res, err = _run_job(job, out, cfg, ann, by_source.get(str(job.source), []))
                if not handle(job, res, err):
                    break
        else:
            with _pool(jobs, cfg.jobs) as pool:
                futs: dict[Future[Any], _Job] = {
                    pool.submit(_run_job, j, out, cfg, ann, by_source.get(str(j.source), [])): j for j in jobs
                }
                try:
                    for fut in _as_completed(futs):
                        res, err = fut.result()
                        if not handle(futs[fut], res, err):
                            break
                finally:  # after an error (or Ctrl-C) no queued job starts
                    for f in futs:
                        f.cancel()
    finally:
        entries = [e for src, es in by_source.items() if src not in results for e in es]
        for res in results.values():
            entries.extend(res.entries)
        entries = [e for e in entries if (out / e.path).exists()]
        if entries or existing:
            write_manifest(out, entries)
    for res in results.values():
        summary.converted += not res.skipped
        summary.skipped += res.skipped
        summary.recordings += len(res.entries)
        summary.rows += res.rows
        summary.hours += sum(e.duration_s for e in res.entries) / 3600
        for k, v in res.dropped.items():
            summary.dropped[k] = summary.dropped.get(k, 0) + v
    summary.hours = round(summary.hours, 4)
    summary.seconds = round(time.perf_counter() - t0, 3)
    if first_error is not None and cfg.on_error == "stop":
        builtin = {"FileNotFoundError": FileNotFoundError, "PermissionError": PermissionError}
        cls = getattr(_errors, first_error[0], None) or builtin.get(first_error[0])
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not _errors.WearfmError:
            raise cls(first_error[1])
        raise DataError(first_error[1])
    return summary


def _remove_stale_temporaries(out: Path, jobs: list[_Job]) -> None:
    """Delete the temporary recording files (``.STEM[.segNNN].parquet.XXXXXXXX.tmp``) of this batch's sources.

    Only a process killed mid-write (SIGKILL, power loss) leaves them; one ingest at a time writes a folder.
    """
    by_folder: dict[Path, set[str]] = {}
    for j in jobs:
        by_folder.setdefault((out / j.stem).parent, set()).add(Path(j.stem).name)
    pat = re.compile(r"^\.(.+?)(\.seg\d{3})?\.parquet\.[0-9a-f]{8}\.tmp$")
    for folder, stems in by_folder.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = pat.match(name)
            if m and m.group(1) in stems:
                (folder / name).unlink(missing_ok=True)
                log.info("removed %s, left by an interrupted ingest", folder / name)


def _pool(jobs: list[_Job], workers: int) -> Executor:
    """Threads for many small sources, processes for large ones.

    A small source costs a few milliseconds, most of it in Arrow's CSV parser and Parquet writer, which
    release the GIL: threads share this process's imports and need no start-up (a worker process costs about
    a second to start and import pyarrow). Large sources get processes, so their Python and
    NumPy work runs in parallel too.
    """
    n = min(workers, len(jobs))
    sizes = [_size(j.source) + sum(_size(c) for c in j.companions) for j in jobs]
    if sum(sizes) / max(len(sizes), 1) < _THREAD_BELOW_BYTES:
        return ThreadPoolExecutor(max_workers=n)
    # forkserver: workers fork from one clean process that imported the readers once (no threads
    # inherited from this process, no per-worker import cost)
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["wearfm.io.convert", "wearfm.io.detect", *_READER_MODULES])
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _as_completed(futs: dict[Future[Any], _Job]) -> Any:
    from concurrent.futures import as_completed

    return as_completed(futs)
