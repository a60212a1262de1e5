from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._helpers.text import write_csv, write_wisdm
from wearfm.config import IngestConfig
from wearfm.errors import ConfigError, DataError, FormatError, UnsupportedFormatError
from wearfm.io.ingest import ingest
from wearfm.io.manifest import read_manifest
from wearfm.io.schema import read_metadata

CFG = IngestConfig()


def write_rows(path: Path, t_ms, z=None, label=None) -> None:
    z = np.ones(len(t_ms)) if z is None else z
    rows = [
        f"{t},0.0,0.0,{v:.4f}" + ("" if label is None else f",{label[i]}")
        for i, (t, v) in enumerate(zip(t_ms, z, strict=True))
    ]
    path.write_text("time,x,y,z" + ("" if label is None else ",label") + "\n" + "\n".join(rows) + "\n")


def times(path: Path) -> np.ndarray:
    return pq.read_table(path, columns=["time"]).column("time").cast(pa.int64()).to_numpy()


def test_gap_splits_into_segments(tmp_path):
    t = np.r_[np.arange(500) * 20, 20_000 + np.arange(300) * 20]  # 50 Hz, a 10 s gap
    write_rows(tmp_path / "rec.csv", 1_700_000_000_000 + t)
    s = ingest(tmp_path / "rec.csv", tmp_path / "out", CFG)
    assert s.recordings == 2 and s.rows == 800
    entries = read_manifest(tmp_path / "out")
    assert [e.path for e in entries] == ["rec.seg000.parquet", "rec.seg001.parquet"]
    assert [e.samples for e in entries] == [500, 300]
    assert all(abs(e.sample_rate_hz - 50) < 1e-6 for e in entries)
    meta = read_metadata(tmp_path / "out" / "rec.seg001.parquet")
    assert meta["segment"] == 1 and meta["source_sha256"] == entries[0].source_sha256
    assert meta["reader"] == "csv" and meta["ingest_options"]["max_gap_s"] == 1.0


def test_duplicates_dropped_ties_kept_unsorted_sorted(tmp_path):
    t = list(np.arange(300) * 20)
    z = list(np.ones(300))
    t += [t[10], t[20]]  # exact repeats of rows 10 and 20, out of order at the end
    z += [1.0, 1.0]
    t += [t[30]]  # same time, different value: a tie, kept
    z += [0.5]
    write_rows(tmp_path / "rec.csv", 1_700_000_000_000 + np.array(t), np.array(z))
    s = ingest(tmp_path / "rec.csv", tmp_path / "out", CFG)
    assert s.dropped == {"duplicates": 2}
    got = times(tmp_path / "out" / "rec.parquet")
    assert len(got) == 301 and np.all(np.diff(got) >= 0)
    assert read_metadata(tmp_path / "out" / "rec.parquet")["counters"]["tied_timestamps"] == 1
    with pytest.raises(DataError, match="backwards"):
        ingest(tmp_path / "rec.csv", tmp_path / "out2", replace(CFG, unsorted="reject"))
    assert not list((tmp_path / "out2").glob("*.parquet"))


def test_resample_in_pipeline(tmp_path):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(9, 12, 3000))  # ~100 Hz with jitter, in ms
    t = np.r_[t, t[-1] + 5000 + np.cumsum(rng.integers(9, 12, 1000))]
    lab = ["a"] * 2000 + ["b"] * 2000
    write_rows(tmp_path / "rec.csv", 1_700_000_000_000 + t, np.ones(len(t)), lab)
    ingest(tmp_path / "rec.csv", tmp_path / "out", replace(CFG, resample_hz=25.0))
    entries = read_manifest(tmp_path / "out")
    assert len(entries) == 2
    for e in entries:
        d = np.diff(times(tmp_path / "out" / e.path))
        assert np.all(d == 40_000_000) and e.sample_rate_hz == pytest.approx(25.0)
        assert read_metadata(tmp_path / "out" / e.path)["sample_rate_nominal_hz"] == 25.0
    assert set(entries[0].label_counts) == {"a", "b"}


@pytest.mark.parametrize("units", ["time", "samples"])
def test_annotation_file(tmp_path, units):
    write_rows(tmp_path / "rec.csv", 1_700_000_000_000 + np.arange(500) * 20)
    if units == "time":
        body = "rec,1700000001.0,1700000002.98,walk\nrec,1700000005,1700000006,sit\nother,0,1800000000,x\n"
    else:
        body = "rec,50,150,walk\nrec,250,300,sit\n"
    (tmp_path / "ann.csv").write_text("recording,start,end,label\n" + body)
    ingest(
        tmp_path / "rec.csv",
        tmp_path / "out",
        replace(CFG, annotations=str(tmp_path / "ann.csv"), annotation_units=units),
    )
    lab = pq.read_table(tmp_path / "out" / "rec.parquet").column("label").combine_chunks().dictionary_decode()
    lab = lab.to_pylist()
    assert lab[49] is None and lab[50] == "walk" and lab[149] == "walk" and lab[150] is None
    assert lab[250] == "sit" and lab[400] is None
    assert sum(v == "walk" for v in lab) == 100


def test_skip_up_to_date_overwrite_and_change(tmp_path):
    write_csv(tmp_path / "a.csv")
    out = tmp_path / "out"
    assert ingest(tmp_path / "a.csv", out, CFG).converted == 1
    mtime = (out / "a.parquet").stat().st_mtime_ns
    s = ingest(tmp_path / "a.csv", out, CFG)
    assert s.skipped == 1 and s.converted == 0 and (out / "a.parquet").stat().st_mtime_ns == mtime
    assert ingest(tmp_path / "a.csv", out, replace(CFG, overwrite=True)).converted == 1
    # the source changes to have a gap: the single file is replaced by two segments, the stale one removed
    t = np.r_[np.arange(200) * 20, 10_000 + np.arange(200) * 20]
    write_rows(tmp_path / "a.csv", 1_700_000_000_000 + t)
    assert ingest(tmp_path / "a.csv", out, CFG).converted == 1
    assert sorted(p.name for p in out.glob("*.parquet")) == ["a.seg000.parquet", "a.seg001.parquet", "manifest.parquet"]
    assert len(read_manifest(out)) == 2


def test_manifest_merges_datasets_and_jobs(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        write_csv(tmp_path / "in" / f"s{i}.csv", seed=i)
    write_csv(tmp_path / "b.csv")
    out = tmp_path / "out"
    s = ingest([tmp_path / "in"], out, replace(CFG, jobs=2))
    assert s.recordings == 3
    ingest([tmp_path / "b.csv"], out, CFG)
    assert sorted(e.path for e in read_manifest(out)) == ["b.parquet", "s0.parquet", "s1.parquet", "s2.parquet"]
    one = pq.read_table(out / "s1.parquet")
    ingest([tmp_path / "in"], tmp_path / "out1", replace(CFG, jobs=1))
    assert one.equals(pq.read_table(tmp_path / "out1" / "s1.parquet"))


@pytest.mark.parametrize("threads", [True, False])
def test_jobs_threads_and_processes_agree(tmp_path, monkeypatch, threads):
    # --jobs runs small sources on threads and large ones in worker processes: both give the serial result
    import wearfm.io.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "_THREAD_BELOW_BYTES", 1 << 40 if threads else 0)
    (tmp_path / "in").mkdir()
    for i in range(3):
        write_csv(tmp_path / "in" / f"s{i}.csv", seed=i)
    (tmp_path / "in" / "bad.csv").write_text("time,x,y,z\n1000,0,0,1\n1020,0,zz,1\n")
    s = ingest([tmp_path / "in"], tmp_path / "out", replace(CFG, jobs=2, on_error="skip"))
    assert (s.recordings, [Path(e["file"]).name for e in s.errors]) == (3, ["bad.csv"])
    ingest([tmp_path / "in"], tmp_path / "ref", replace(CFG, jobs=1, on_error="skip"))
    for name in ("s0.parquet", "s1.parquet", "s2.parquet", "manifest.parquet"):
        got, ref = pq.read_table(tmp_path / "out" / name), pq.read_table(tmp_path / "ref" / name)
        assert got.equals(ref, check_metadata=True)
    with pytest.raises(DataError, match="bad.csv"):
        ingest([tmp_path / "in"], tmp_path / "out2", replace(CFG, jobs=2))


@pytest.mark.parametrize("threads", [True, False])
def test_worker_error_keeps_its_class_and_message(tmp_path, monkeypatch, threads):
    import wearfm.io.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "_THREAD_BELOW_BYTES", 1 << 40 if threads else 0)
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "s0.csv")
    cwa = bytearray((Path(__file__).parent / "fixtures" / "skdh_ax6_sample_head.cwa").read_bytes())
    cwa[:2] = b"XX"  # no 'MD' header block
    (tmp_path / "in" / "bad.cwa").write_bytes(bytes(cwa))
    with pytest.raises(FormatError, match=r"bad\.cwa: not an Axivity CWA file"):
        ingest([tmp_path / "in"], tmp_path / "out", replace(CFG, jobs=2))
    s = ingest([tmp_path / "in"], tmp_path / "out", replace(CFG, jobs=2, on_error="skip"))
    assert [Path(e["file"]).name for e in s.errors] == ["bad.cwa"] and s.recordings == 1
    assert s.errors[0]["error"].startswith(f"{tmp_path / 'in' / 'bad.cwa'}: not an Axivity CWA file")


def test_on_error_skip_and_stop(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "good.csv")
    (tmp_path / "in" / "empty.csv").write_text("")
    (tmp_path / "in" / "short.csv").write_text("time,x,y,z\n1000,0,0,1\n1020,0,0,1\n")
    s = ingest([tmp_path / "in"], tmp_path / "out", replace(CFG, on_error="skip"))
    assert s.recordings == 1
    errs = {Path(e["file"]).name: e["error"] for e in s.errors}
    assert set(errs) == {"empty.csv", "short.csv"}
    assert "empty" in errs["empty.csv"] and "min_duration_s" in errs["short.csv"]
    with pytest.raises(DataError, match="empty"):
        ingest([tmp_path / "in"], tmp_path / "out2", CFG)


def test_failed_ingest_leaves_no_partial_file_and_keeps_good_output(tmp_path):
    write_csv(tmp_path / "a.csv", seconds=100)
    out = tmp_path / "out"
    ingest(tmp_path / "a.csv", out, CFG)
    good = (out / "a.parquet").read_bytes()
    lines = (tmp_path / "a.csv").read_text().splitlines()
    lines[-3] = lines[-3].rsplit(",", 1)[0] + ",inf"  # a bad value late in the file, after chunks were written
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"a\.csv: line 4999"):
        ingest(tmp_path / "a.csv", out, replace(CFG, chunk_rows=500))
    assert (out / "a.parquet").read_bytes() == good
    assert sorted(p.name for p in out.iterdir()) == ["a.parquet", "manifest.parquet"]


def test_inputs_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ingest(tmp_path / "missing.csv", tmp_path / "out", CFG)
    with pytest.raises(FileNotFoundError, match="pattern"):
        ingest(str(tmp_path / "*.nothing"), tmp_path / "out", CFG)
    (tmp_path / "blob.xyz").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UnsupportedFormatError, match="--format"):
        ingest(tmp_path / "blob.xyz", tmp_path / "out", CFG)


def test_wisdm_folder_merges_pairs(tmp_path):
    write_wisdm(tmp_path / "raw" / "phone", subject="1601")
    write_wisdm(tmp_path / "raw" / "phone", subject="1602")
    s = ingest(tmp_path / "raw", tmp_path / "out", replace(CFG, format="wisdm"))
    entries = read_manifest(tmp_path / "out")
    assert s.files == 4 and s.recordings == 4  # 2 subjects x 2 activities split by the gap
    assert {e.subject for e in entries} == {"1601", "1602"}
    assert all(e.has_gyr and abs(e.sample_rate_hz - 20) < 0.01 for e in entries)
    assert read_metadata(tmp_path / "out" / entries[0].path)["time_reference"] == "device-uptime"
    # auto-detection finds the same
    s2 = ingest(tmp_path / "raw", tmp_path / "out2", CFG)
    assert s2.recordings == 4


def test_ingest_of_small_csv_files_does_not_import_pandas(tmp_path):
    # pyarrow imports pandas on its first pa.array()/to_numpy(): half a second the ingest path avoids
    (tmp_path / "in").mkdir()
    for i in range(2):
        write_csv(tmp_path / "in" / f"s{i}.csv", labels=True, seed=i)
    code = (
        "import sys; from wearfm.io.ingest import ingest; from wearfm.config import IngestConfig; "
        f"ingest([{str(tmp_path / 'in')!r}], {str(tmp_path / 'out')!r}, IngestConfig()); "
        f"ingest([{str(tmp_path / 'in')!r}], {str(tmp_path / 'out')!r}, IngestConfig(overwrite=True)); "
        "print('pandas' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False"]


def test_nonfinite_drop_counted_in_summary_and_metadata(tmp_path):
    t = 1_700_000_000_000 + np.arange(1000) * 20
    z = np.ones(1000)
    z[100:110] = np.nan  # 10 rows of 50 Hz: a 0.2 s hole, no new segment
    write_rows(tmp_path / "rec.csv", t, z)
    s = ingest(tmp_path / "rec.csv", tmp_path / "out", replace(CFG, nonfinite="drop"))
    assert s.rows == 990 and s.dropped == {"nonfinite": 10}
    meta = read_metadata(tmp_path / "out" / "rec.parquet")
    assert meta["dropped"] == {"nonfinite": 10} and meta["counters"]["nonfinite_dropped"] == 10


def test_every_dropped_sample_counted_by_cause(tmp_path):
    t = list(1_700_000_000_000 + np.arange(500) * 20)
    z = list(np.ones(500))
    t += [t[5]]  # an exact duplicate
    z += [1.0]
    t += list(max(t) + 5000 + np.arange(20) * 20)  # a 0.4 s stretch after a gap: shorter than min_duration_s
    z += [1.0] * 20
    write_rows(tmp_path / "rec.csv", np.array(t), np.array(z))
    s = ingest(tmp_path / "rec.csv", tmp_path / "out", CFG)
    assert s.dropped == {"duplicates": 1, "short_segments": 20}
    assert s.rows + sum(s.dropped.values()) == len(t)
    assert read_metadata(tmp_path / "out" / "rec.parquet")["dropped"] == s.dropped


def test_run_removes_stale_temporary_files_of_its_naming(tmp_path):
    (tmp_path / "in").mkdir()
    write_csv(tmp_path / "in" / "rec.csv")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [out / ".rec.parquet.0123abcd.tmp", out / "sub" / ".x.seg000.parquet.deadbeef.tmp"]
    for p in stale:
        p.write_bytes(b"PAR1 unfinished")
    keep = [out / ".notes.tmp", out / "rec.parquet.tmp"]  # not names the writer uses
    for p in keep:
        p.write_text("user file")
    s = ingest(tmp_path / "in", out, CFG)
    assert s.recordings == 1
    assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


def test_shard_worker_removes_only_its_own_temporary_files(tmp_path):
    from dataclasses import replace

    from wearfm.io.shard import shard_of

    (tmp_path / "in").mkdir()
    names = [f"rec{i}" for i in range(8)]
    for n in names:
        write_csv(tmp_path / "in" / f"{n}.csv")
    mine = [n for n in names if shard_of(n, 2) == 1]
    other = [n for n in names if shard_of(n, 2) == 2]
    assert mine and other
    out = tmp_path / "out"
    out.mkdir()
    tmp = {n: out / f".{n}.parquet.0123abcd.tmp" for n in names}  # as a writer of either worker names them
    for p in tmp.values():
        p.write_bytes(b"PAR1 in progress")
    ingest(tmp_path / "in", out, replace(CFG, shard="1/2"))
    assert not any(tmp[n].exists() for n in mine)
    assert all(tmp[n].exists() for n in other)  # the other worker may still be writing them


def test_subject_from_name_strips_day_and_part_suffixes():
    from wearfm.io.ingest import subject_from_name

    assert subject_from_name("P01_day1") == subject_from_name("P01-Day2") == "P01"
    assert subject_from_name("P01_part3_2024-05-01") == subject_from_name("P01.session2") == "P01"
    assert subject_from_name("rec") == "rec" and subject_from_name("day1") == "day1"
    assert subject_from_name("s12") == "s12" and subject_from_name("P01_walk") == "P01_walk"


def test_one_persons_days_share_a_subject_with_a_warning(tmp_path, caplog):
    (tmp_path / "in").mkdir()
    for name in ("P01_day1", "P01_day2", "P02_day1"):
        write_csv(tmp_path / "in" / f"{name}.csv")
    with caplog.at_level("WARNING", logger="wearfm"):
        s = ingest(tmp_path / "in", tmp_path / "out", CFG)
    assert {e.subject for e in read_manifest(tmp_path / "out")} == {"P01", "P02"}
    assert s.subjects == 2 and s.subject_source == {"file name minus day/part suffix": 3}
    assert len(s.warnings) == 1 and "P01_day1.csv, P01_day2.csv" in s.warnings[0] and "'P01'" in s.warnings[0]
    assert "--subject-from" in caplog.text
    meta = read_metadata(tmp_path / "out" / "P01_day2.parquet")
    assert meta["subject"] == "P01" and meta["subject_source"] == "file name minus day/part suffix"


def test_same_file_name_in_two_folders_gives_two_subjects_with_a_warning(tmp_path):
    for folder in ("s1", "s2"):
        (tmp_path / "raw" / folder).mkdir(parents=True)
        write_csv(tmp_path / "raw" / folder / "rec.csv")
    s = ingest(tmp_path / "raw", tmp_path / "out", CFG)
    entries = read_manifest(tmp_path / "out")
    assert sorted(e.subject for e in entries) == ["s1/rec", "s2/rec"]
    assert {e.subject_source for e in entries} == {"folder + file name"}
    assert len(s.warnings) == 1 and "'rec'" in s.warnings[0] and "--subject-from path:-2" in s.warnings[0]
    # the option it suggests exists and does what it says
    s = ingest(tmp_path / "raw", tmp_path / "out2", replace(CFG, subject_from="path:-2"))
    assert sorted(e.subject for e in read_manifest(tmp_path / "out2")) == ["s1", "s2"] and s.warnings == []
    assert s.subject_source == {"option": 2}


def test_subject_from_applies_to_readers_with_their_own_ids(tmp_path):
    acc, _ = write_wisdm(tmp_path / "raw")
    s = ingest(tmp_path / "raw", tmp_path / "out", replace(CFG, format="wisdm"))
    assert {e.subject for e in read_manifest(tmp_path / "out")} == {"1600"} and s.subject_source == {"reader": 2}
    s = ingest(acc, tmp_path / "out2", replace(CFG, format="wisdm", subject_from="value:alice"))
    assert {e.subject for e in read_manifest(tmp_path / "out2")} == {"alice"} and s.subject_source == {"option": 2}


def test_wisdm_accelerometer_without_its_gyroscope_file_warns(tmp_path):
    write_wisdm(tmp_path / "raw", subject="1600")
    acc, gyr = write_wisdm(tmp_path / "raw", subject="1607")
    gyr.unlink()
    s = ingest(tmp_path / "raw", tmp_path / "out", replace(CFG, format="wisdm"))
    assert len(s.warnings) == 1 and "data_1607_gyro_phone.txt" in s.warnings[0]
    assert "accelerometer channels only" in s.warnings[0]
    by_subject = {e.subject: e.has_gyr for e in read_manifest(tmp_path / "out")}
    assert by_subject == {"1600": True, "1607": False}


def test_many_day_groups_give_one_warning(tmp_path):
    (tmp_path / "in").mkdir()
    for k in range(5):
        for day in (1, 2):
            write_csv(tmp_path / "in" / f"P{k:02d}_day{day}.csv", seconds=2)
    s = ingest(tmp_path / "in", tmp_path / "out", CFG)
    assert s.subjects == 5 and len(s.warnings) == 1 and "and 2 more such groups" in s.warnings[0]


def test_subject_from_column_refused_for_readers_without_columns(tmp_path):
    acc, _ = write_wisdm(tmp_path / "raw")
    with pytest.raises(ConfigError, match="path:N, name:REGEX or value:ID"):
        ingest(acc, tmp_path / "out", replace(CFG, format="wisdm", subject_from="column:subject"))
    assert not list((tmp_path / "out").glob("*.parquet"))
