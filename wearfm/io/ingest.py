"""Batch ingest: raw files, folders and globs -> a canonical Parquet dataset with a manifest."""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pyarrow as pa

from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, DataError, FormatError, WearfmError
from wearfm.io.annotations import Annotations, load_annotations
from wearfm.io.concat import ConcatReader, group_key
from wearfm.io.convert import ConvertResult, convert_file
from wearfm.io.detect import detect_format, expand_inputs, read_head
from wearfm.io.manifest import MANIFEST_NAME, RecordingEntry, part_name, read_manifest, write_manifest
from wearfm.io.options import ReadOptions
from wearfm.io.preprocess import check_signal_options, needs_signal_pass, preprocess_recording
from wearfm.io.readers import Reader, get_reader, list_readers
from wearfm.io.shard import parse_shard, shard_of

__all__ = ["IngestSummary", "Terminated", "ingest", "sigterm_raises", "subject_from_name"]

log = logging.getLogger(__name__)

_MAX_SECONDS = 1e9  # ~31 years: the largest duration setting accepted
_MAX_RATE_HZ = 1e5  # the largest sample rate setting accepted (IMUs log at up to a few kHz)
_THREAD_BELOW_BYTES = 32 << 20  # mean source size under which --jobs uses threads rather than processes
# the temporary files of RecordingWriter (.<name>.parquet.<8 hex>.tmp) and write_manifest (.manifest.parquet.tmp)
_TMP_NAME = re.compile(r"^\..+\.parquet(\.[0-9a-f]{8})?\.tmp$")


class Terminated(BaseException):
    """SIGTERM arrived (see :func:`sigterm_raises`); a ``BaseException`` so that no ``except Exception`` hides it."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C raises KeyboardInterrupt.

    The writers' clean-up then runs (temporary files removed, the manifest lists what was finished). Outside
    the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker_init() -> None:
    """Worker processes clean up on SIGTERM too (a job in flight removes its temporary files)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def _remove_stale_tmp(out: Path, stems: list[str] | None = None) -> None:
    """Remove temporary files of this naming that an ingest killed before its clean-up left in ``out``.

    One ingest writes to one output folder at a time (its manifest is rewritten at the end), so a temporary
    file found when a run starts belongs to no running writer. Shard workers (``--shard``) share the folder:
    each passes the ``stems`` of its own recordings and removes only their temporary files.
    """
    mine = None if stems is None else {(Path(s).parent.as_posix(), Path(s).name) for s in stems}
    n, size = 0, 0
    for p in out.rglob(".*.tmp"):
        if not (_TMP_NAME.match(p.name) and p.is_file()):
            continue
        if mine is not None:
            folder = p.parent.relative_to(out).as_posix()
            if not any(f == folder and p.name[1:].startswith(name + ".") for f, name in mine):
                continue
        try:
            size += p.stat().st_size
            p.unlink()
            n += 1
        except FileNotFoundError:
            continue
    if n:
        log.info("removed %d temporary file(s) (%.1f MB) left by an interrupted ingest in %s", n, size / 1e6, out)


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
    dropped: dict[str, int] = field(default_factory=dict)  # samples that reached no output, by cause
    subjects: int = 0
    subject_source: dict[str, int] = field(default_factory=dict)  # how subjects were assigned -> recordings
    warnings: list[str] = field(default_factory=list)
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
    subject: str = ""  # used when neither --subject-from nor the reader gives one
    subject_rule: str = "file name"
    group: list[Path] = field(default_factory=list)  # --concat: every file of the recording (source first)


# a day/part suffix of a file name: P01_day2, P01-part3, P01_session1, P01_visit2, P01_2024-05-01, ...
_DAY_SUFFIX = re.compile(
    r"^(?P<id>.*?[^-_. ])[-_. ]+(?:(?:day|d|part|pt|session|sess|visit|night|week|wk|run|trial|rec|recording)"
    r"[-_]?\d+|\d{4}-?\d{2}-?\d{2})$",
    re.IGNORECASE,
)


def subject_from_name(name: str) -> str:
    """The subject a file name gives: the name without trailing day/part suffixes (``P01_day2`` -> ``P01``).

    Examples:
        >>> subject_from_name("P01_day2"), subject_from_name("P01-part3_2024-05-01"), subject_from_name("rec")
        ('P01', 'P01', 'rec')
    """
    while m := _DAY_SUFFIX.match(name):
        name = m.group("id")
    return name


def _assign_subjects(jobs: list[_Job]) -> list[tuple[set[str], str]]:
    """Set each job's fallback subject; return ``(stems, warning)`` for the groups a user should check.

    The subject is the file name minus day/part suffixes (:func:`subject_from_name`). When that id arises in
    several folders, each folder's recordings get their own, path-qualified id (``s1/rec``, ``s2/rec``):
    recordings of different folders are never merged into one subject silently. A warning names both cases:
    several files of one folder taken as one person, and file names that repeat across folders.
    """
    for j in jobs:
        name = Path(j.stem).name
        j.subject = subject_from_name(name)
        j.subject_rule = "file name minus day/part suffix" if j.subject != name else "file name"
    by_subject: dict[str, list[_Job]] = {}
    for j in jobs:
        by_subject.setdefault(j.subject, []).append(j)
    days: list[tuple[set[str], str]] = []  # several files of one folder given one subject
    repeats: list[tuple[set[str], str]] = []  # one id from several folders: path-qualified
    for sid, js in by_subject.items():
        in_folder: dict[str, list[_Job]] = {}
        for j in js:
            in_folder.setdefault(Path(j.stem).parent.as_posix(), []).append(j)
        if len(in_folder) > 1:
            for j in js:
                parent = Path(j.stem).parent.as_posix()
                j.subject = sid if parent == "." else f"{parent}/{sid}"
                j.subject_rule = "folder + file name"
            ids = sorted({j.subject for j in js})
            more = ", ..." if len(ids) > 3 else ""
            repeats.append(({j.stem for j in js}, f"{sid!r} in {len(in_folder)} folders ({', '.join(ids[:3])}{more})"))
        for folder, group in in_folder.items():
            if len(group) > 1:
                names = ", ".join(j.source.name for j in group[:3]) + (", ..." if len(group) > 3 else "")
                where = "the input folder" if folder == "." else f"{folder}/"
                what = f"{len(group)} files in {where} ({names}) as subject {group[0].subject!r}"
                days.append(({j.stem for j in group}, what))
    warnings = [
        (
            stems,
            f"{what} look like one person's days or parts and were given one subject; pass --subject-from to "
            "assign subjects otherwise",
        )
        for stems, what in _grouped(days)
    ]
    warnings += [
        (
            stems,
            f"file names give the same subject {what}: each folder's recordings got their own subject; if "
            "each folder is one person pass --subject-from path:-2, if the file name names the person pass "
            "--subject-from name:REGEX",
        )
        for stems, what in _grouped(repeats)
    ]
    return warnings


def _grouped(cases: list[tuple[set[str], str]], most: int = 3) -> list[tuple[set[str], str]]:
    """Up to ``most`` cases as they are; more become one: the union of their stems, the first cases named."""
    if len(cases) <= most:
        return cases
    stems = set().union(*(c[0] for c in cases))
    return [(stems, "; ".join(c[1] for c in cases[:most]) + f"; and {len(cases) - most} more such groups")]


def _check(cfg: IngestConfig) -> None:
    formats = ["auto", *list_readers()]  # not FORMATS: a reader registered after import counts too
    if cfg.format not in formats:
        raise ConfigError(f"unknown format {cfg.format!r}; choose from {formats}")
    if cfg.on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {cfg.on_error!r}")
    if cfg.jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {cfg.jobs}")
    if cfg.max_gap_s <= 0:
        raise ConfigError(f"max_gap_s must be positive, got {cfg.max_gap_s}")
    if cfg.shard is not None:
        parse_shard(cfg.shard)
    check_signal_options(cfg)
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
    files: list[Path],
    cfg: IngestConfig,
    errors: list[dict[str, str]],
    resolved: dict[Path, Path],
    named: frozenset[Path] = frozenset(),
) -> list[_Job]:
    """One job per recording source (companion files, e.g. WISDM gyroscope files, join their primary's job).

    ``named`` files (given one by one, not found in a folder or by a pattern) are never left out because a
    preset does not recognise their name: they are read with the stated format.
    """
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
        comp = get_reader(fmt).companions
        companions[f] = [c for c in (comp(f) if comp else []) if c in fmts]
        taken.update(companions[f])
    keep = []
    for f in fmts:
        accepts = get_reader(fmts[f]).accepts
        if f in taken or (accepts is not None and not accepts(f) and f not in named):
            continue
        keep.append(f)
    parents = {f: resolved[f].parent for f in keep}
    root = Path(os.path.commonpath(list(parents.values()))) if parents else Path(".")
    jobs = []
    for f in keep:
        name = get_reader(fmts[f]).output_name
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


def _concat_jobs(jobs: list[_Job], cfg: IngestConfig) -> list[_Job]:
    """``--concat``: one job per group of files with the same subject, session, device and serial.

    A group's recording takes the name of its first file in path order; its other files are hashed with it
    (a change in any of them re-ingests the group). Files whose reader knows no subject stay on their own.
    """
    paired = [j for j in jobs if j.companions]
    if paired:
        raise ConfigError(
            f"--concat cannot join files of the {paired[0].fmt} format, which pairs files itself "
            f"({paired[0].source}); ingest without --concat"
        )
    groups: dict[tuple[str, ...], list[_Job]] = {}
    alone: list[_Job] = []
    opts = ReadOptions.from_config(cfg)
    for j in jobs:
        key = group_key(j.source, get_reader(j.fmt), opts)
        if key is None:
            alone.append(j)
        else:
            groups.setdefault((j.fmt, *key), []).append(j)
    if alone:
        log.warning(
            "--concat: %d file(s) have no subject (e.g. %s) and stay separate recordings; pass --subject-from",
            len(alone),
            alone[0].source,
        )
    out = list(alone)
    for members in groups.values():
        members.sort(key=lambda j: str(j.source))
        first = members[0]
        if len(members) == 1:
            out.append(first)
            continue
        files = [m.source for m in members]
        out.append(_Job(first.source, first.fmt, first.stem, files[1:], group=files))
    return out


def _strip_ext(name: str) -> str:
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def _run_job(
    job: _Job, out: Path, cfg: IngestConfig, ann: Annotations | None, previous: list[RecordingEntry]
) -> tuple[ConvertResult | None, Exception | None]:
    """Worker body: convert one job; a user error comes back as the exception itself (exceptions pickle)."""
    try:
        reader: Reader = get_reader(job.fmt)
        if job.group:
            reader = ConcatReader(job.group, reader).as_reader()
        res = convert_file(
            job.source,
            reader,
            out,
            job.stem,
            cfg,
            companions=job.companions,
            annotations=ann,
            previous=previous,
            default_subject=(job.subject, job.subject_rule) if job.subject else None,
        )
        if needs_signal_pass(cfg) and not res.skipped:  # calibration, non-wear, clipping: see io/preprocess.py
            res.entries = [n for e in res.entries for n in preprocess_recording(out / e.path, cfg, e, out)]
            res.rows = sum(e.samples for e in res.entries)
        return res, None
    except (WearfmError, OSError) as e:
        return None, e
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        return None, FormatError(f"{job.source}: cannot decode ({str(e).splitlines()[0]})")


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
    named = frozenset(Path(str(i)) for i in items if not any(ch in str(i) for ch in "*?[") and Path(i).is_file())
    out_resolved = out.resolve()
    resolved = _resolve(files)
    files = [f for f in files if out_resolved not in resolved[f].parents]
    if not files:
        raise DataError(f"no input files found in {[str(i) for i in items]}")
    summary = IngestSummary(out=str(out), files=len(files))
    jobs = _plan_jobs(files, cfg, summary.errors, resolved, named)
    used = len(jobs) + sum(len(j.companions) for j in jobs)
    if cfg.concat:
        jobs = _concat_jobs(jobs, cfg)
    summary.ignored = len(files) - used - len(summary.errors)
    if not jobs and not summary.errors:
        names = ", ".join(f.name for f in files[:3]) + (", ..." if len(files) > 3 else "")
        kind = "recording" if cfg.format == "auto" else f"{cfg.format} recording"
        raise DataError(
            f"none of the {len(files)} input file(s) ({names}) is a {kind}; name a file on its own to "
            "read it with --format, or choose another --format"
        )
    # before sharding: a subject id must not depend on which files share a worker
    subject_warnings = _assign_subjects(jobs)
    manifest_name = MANIFEST_NAME
    if cfg.shard is not None:  # this worker's share (wearfm.io.shard documents the rule)
        shard_k, shard_n = parse_shard(cfg.shard)
        manifest_name = part_name(shard_k, shard_n)
        jobs = [j for j in jobs if shard_of(j.stem, shard_n) == shard_k]
        summary.errors = [e for e in summary.errors if shard_of(e["file"], shard_n) == shard_k]
        used = len(jobs) + sum(len(j.companions) for j in jobs)
        log.info("shard %d/%d: %d of the inputs' recordings", shard_k, shard_n, len(jobs))
    summary.files = used + len(summary.errors)
    planning_errors = len(summary.errors)
    ann = load_annotations(cfg.annotations, cfg.annotation_units) if cfg.annotations else None
    if progress is not None:
        progress(0, len(jobs), "")
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(out, None if cfg.shard is None else [j.stem for j in jobs])
    existing = read_manifest(out, manifest_name) if (out / manifest_name).exists() else []
    by_source: dict[str, list[RecordingEntry]] = {}
    for e in existing:
        by_source.setdefault(e.source_file, []).append(e)
    results: dict[str, ConvertResult] = {}
    first_error: Exception | None = None

    def handle(job: _Job, res: ConvertResult | None, err: Exception | None) -> bool:
        nonlocal first_error
        if res is not None:
            results[str(job.source)] = res
        else:
            assert err is not None
            summary.errors.append({"file": str(job.source), "error": _message(err)})
            first_error = first_error or err
        if progress is not None:
            progress(len(results) + len(summary.errors) - planning_errors, len(jobs), str(job.source))
        return err is None or cfg.on_error == "skip"

    finished = False
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
                except Terminated:  # SIGTERM reached this process only: pass it on to the workers
                    _terminate_workers(pool)
                    raise
                finally:  # after an error (or Ctrl-C) no queued job starts
                    for f in futs:
                        f.cancel()
        finished = True
    finally:
        entries = [e for src, es in by_source.items() if src not in results for e in es]
        for res in results.values():
            entries.extend(res.entries)
        entries = [e for e in entries if (out / e.path).exists()]
        if cfg.shard is not None:  # always written: an empty part still tells the merge this shard ran
            state = {
                "wearfm.shard": cfg.shard,
                "wearfm.complete": "true" if finished and not summary.errors else "false",
                "wearfm.errors": str(len(summary.errors)),
            }
            write_manifest(out, entries, manifest_name, state)
        elif entries or existing:
            write_manifest(out, entries)
    defaulted: set[str] = set()  # stems of the jobs whose subject came from the file name
    stems = {str(j.source): j.stem for j in jobs}
    subjects: set[str] = set()
    for src, res in results.items():
        summary.converted += not res.skipped
        summary.skipped += res.skipped
        summary.recordings += len(res.entries)
        summary.rows += res.rows
        summary.hours += sum(e.duration_s for e in res.entries) / 3600
        for k, v in res.dropped.items():
            summary.dropped[k] = summary.dropped.get(k, 0) + v
        for e in res.entries:
            rule = e.subject_source or "unknown"
            summary.subject_source[rule] = summary.subject_source.get(rule, 0) + 1
            subjects.add(e.subject)
            if rule in ("file name", "file name minus day/part suffix", "folder + file name"):
                defaulted.add(stems[src])
        summary.warnings.extend(res.warnings)
    summary.subjects = len(subjects)
    summary.warnings.extend(w for group, w in subject_warnings if group & defaulted)
    for w in summary.warnings:
        log.warning("%s", w)
    summary.hours = round(summary.hours, 4)
    summary.seconds = round(time.perf_counter() - t0, 3)
    if first_error is not None and cfg.on_error == "stop":
        if type(first_error) is not WearfmError and isinstance(
            first_error, (WearfmError, FileNotFoundError, PermissionError)
        ):
            raise first_error
        raise DataError(_message(first_error)) from first_error
    return summary


def _message(e: Exception) -> str:
    return str(e) or type(e).__name__


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
    # inherited from this process, no per-worker import cost); importing wearfm.io.detect registers every reader
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["wearfm.io.convert", "wearfm.io.detect"])
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init)


def _terminate_workers(pool: Executor) -> None:
    """Send SIGTERM to a process pool's workers: each removes the temporary files of the job it runs.

    Without this, the pool's shutdown would wait for every running job to finish (minutes for large files).
    """
    procs = getattr(pool, "_processes", None) or {}  # ProcessPoolExecutor's {pid: process}; none for threads
    for proc in list(procs.values()):
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):  # already gone
            continue


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _as_completed(futs: dict[Future[Any], _Job]) -> Any:
    from concurrent.futures import as_completed

    return as_completed(futs)
