"""Tests of the Zarr v3 recording store: round trip, atomic writes, concurrency, summary."""
from __future__ import annotations

import io
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from virtimu import __version__
from virtimu.store import (
    CHUNK_FRAMES,
    NotAStoreError,
    RecordingStore,
    compact_channels,
    decode_key,
    encode_key,
    format_summary,
    summary_as_json,
    to_jsonable,
)
from virtimu.store import recordings as recordings_module
from virtimu.types import Recording

CHANNELS = [f"{site}/{signal}_{axis}" for site in ("left_wrist", "right_thigh")
            for signal in ("acc", "gyro") for axis in "xyz"]
UNITS = (["m/s^2"] * 3 + ["rad/s"] * 3) * 2


def make_recording(name: str = "CMU/01/01_01_poses", source: str = "amass", n_frames: int = 120,
                   seed: int = 0, labelled: bool = True, fs: float = 60.0) -> Recording:
    """A recording with seeded random signals and, optionally, labels 0 (null) / 1 (walk) / 2 (sit)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n_frames) if labelled else None
    return Recording(
        signals=rng.normal(size=(n_frames, len(CHANNELS))).astype(np.float32),
        channels=list(CHANNELS), units=list(UNITS), fs=fs, source=source, name=name,
        labels=labels, label_map={0: "null", 1: "walk", 2: "sit"} if labelled else None,
        subject=f"s{seed}",
    )


def temp_dirs(store_path: Path) -> list[Path]:
    """Every hidden temporary directory inside or beside the store."""
    found = [p for p in store_path.parent.iterdir() if p.name.startswith(".tmp-")]
    return found + [p for p in store_path.rglob(".tmp-*")]


# --------------------------------------------------------------------------- keys and JSON


def test_encode_key_is_safe_readable_and_reversible():
    names = ["CMU/01/01_01_poses", "a~b", "a%7Eb", "a/b", "__meta", "_x", ".hidden", ".", "..",
             "Müller/trial 1 ✓", "x" * 20 + "/" + "y" * 20, "tab\there"]
    keys = [encode_key(n) for n in names]
    assert encode_key("CMU/01/01_01_poses") == "CMU~01~01_01_poses"
    assert len(set(keys)) == len(names)  # injective on tricky neighbours ('a~b' vs 'a/b' vs 'a%7Eb')
    for name, key in zip(names, keys):
        assert "/" not in key and not key.startswith("__") and not key.startswith(".")
        assert key.isascii() and key not in (".", "..")
        assert decode_key(key) == name
    with pytest.raises(ValueError, match="non-empty"):
        encode_key("")


def test_encode_key_shortens_long_names_uniquely():
    a, b = "seq/" + "é" * 300 + "a", "seq/" + "é" * 300 + "b"
    ka, kb = encode_key(a), encode_key(b)
    assert ka != kb
    assert len(ka.encode()) <= 180 and len(kb.encode()) <= 180
    with pytest.raises(ValueError, match="hash"):
        decode_key(ka)


def test_to_jsonable_converts_numpy_and_names_bad_fields():
    value = {"a": np.float32(1.5), "b": np.arange(3), "c": (np.int64(2), Path("/x/y")),
             "d": {1: np.bool_(True)}, "e": {3, 1, 2}}
    out = to_jsonable(value)
    assert out == {"a": 1.5, "b": [0, 1, 2], "c": [2, "/x/y"], "d": {"1": True}, "e": [1, 2, 3]}
    assert type(out["a"]) is float and type(out["b"][0]) is int
    json.dumps(out)  # strictly JSON types now
    with pytest.raises(TypeError, match=r"provenance\['cfg'\]\['z'\]"):
        to_jsonable({"cfg": {"z": 1 + 2j}}, "provenance")


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_field(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    rec = make_recording(name="Müller/trial 1 ✓", n_frames=200, seed=3)
    rec.provenance = {"file": Path("/data/m.npz"), "fps_in": np.float64(120.0), "frames": np.int32(400),
                      "betas": np.linspace(0, 1, 4), "split": ("train", 1)}
    rec.attrs = {"placement": {"left_wrist": {"joint": "left_wrist", "vertex": np.int64(5405)}},
                 "version": __version__}
    key = store.write(rec)
    assert "/" not in key and (tmp_path / "s.zarr" / "recordings" / "amass" / key).is_dir()

    back = RecordingStore(tmp_path / "s.zarr", mode="r").read("amass", rec.name)
    assert back.name == rec.name and back.source == "amass" and back.subject == "s3"
    assert back.signals.dtype == np.float32 and back.signals.shape == (200, 12)
    np.testing.assert_array_equal(back.signals, rec.signals)
    np.testing.assert_array_equal(back.labels, rec.labels)
    assert back.label_map == {0: "null", 1: "walk", 2: "sit"}
    assert all(type(k) is int for k in back.label_map)
    assert back.channels == CHANNELS and back.units == UNITS and back.fs == 60.0
    assert back.provenance == {"file": "/data/m.npz", "fps_in": 120.0, "frames": 400,
                               "betas": [0.0, 1 / 3, 2 / 3, 1.0], "split": ["train", 1]}
    assert back.attrs["placement"]["left_wrist"]["vertex"] == 5405
    assert store.attrs == {"virtimu": {"format": 1, "version": __version__}}


def test_unlabelled_and_empty_recordings_round_trip(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    store.write(make_recording(name="plain", labelled=False))
    store.write(Recording(np.zeros((0, 2)), ["a/acc_x", "a/acc_y"], ["m/s^2"] * 2, 50.0, "demo", "empty"))
    plain = store.read("amass", "plain")
    assert plain.labels is None and plain.label_map is None
    empty = store.read("demo", "empty")
    assert empty.signals.shape == (0, 2) and empty.channels == ["a/acc_x", "a/acc_y"]


def test_store_is_a_valid_zarr_v3_hierarchy(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    key = store.write(make_recording(n_frames=CHUNK_FRAMES + 10))
    root = zarr.open_group(tmp_path / "s.zarr", mode="r")
    assert root.metadata.zarr_format == 3
    signals = root[f"recordings/amass/{key}/signals"]
    labels = root[f"recordings/amass/{key}/labels"]
    assert signals.dtype == np.float32 and signals.chunks == (CHUNK_FRAMES, 12)
    assert labels.dtype == np.int16 and labels.shape == (CHUNK_FRAMES + 10,)
    assert root[f"recordings/amass/{key}"].attrs["complete"] is True


# --------------------------------------------------------------------------- existence semantics


def test_has_exists_overwrite_delete(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    first, second = make_recording(seed=1), make_recording(seed=2, n_frames=50)
    assert not store.has("amass", first.name)
    store.write(first)
    assert store.has("amass", first.name) and not store.has("other", first.name)
    with pytest.raises(FileExistsError, match="01_01_poses"):
        store.write(second)
    np.testing.assert_array_equal(store.read("amass", first.name).signals, first.signals)

    store.write(second, overwrite=True)
    back = store.read("amass", first.name)
    assert back.n_frames == 50 and back.subject == "s2"
    np.testing.assert_array_equal(back.signals, second.signals)
    assert temp_dirs(tmp_path / "s.zarr") == []

    store.delete("amass", first.name)
    assert not store.has("amass", first.name) and store.list() == []
    with pytest.raises(KeyError, match="01_01_poses"):
        store.delete("amass", first.name)
    with pytest.raises(KeyError, match="01_01_poses"):
        store.read("amass", first.name)


def test_read_only_store_refuses_writes(tmp_path):
    RecordingStore(tmp_path / "s.zarr").write(make_recording())
    store = RecordingStore(tmp_path / "s.zarr", mode="r")
    with pytest.raises(io.UnsupportedOperation, match="read-only"):
        store.write(make_recording(name="other"))
    with pytest.raises(io.UnsupportedOperation):
        store.delete("amass", "CMU/01/01_01_poses")
    assert store.list() == [("amass", "CMU/01/01_01_poses")]


def test_bad_labels_leave_nothing_behind(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    rec = make_recording()
    rec.labels = rec.labels + 40000  # does not fit int16
    with pytest.raises(ValueError, match="int16"):
        store.write(rec)
    assert not store.has("amass", rec.name) and temp_dirs(tmp_path / "s.zarr") == []


# --------------------------------------------------------------------------- atomic writes


def test_failure_mid_write_leaves_no_visible_recording(tmp_path, monkeypatch):
    store = RecordingStore(tmp_path / "s.zarr")
    rec = make_recording()
    real_create_array = zarr.Group.create_array
    written = []

    def failing_create_array(self, name, **kwargs):
        if name == "labels":  # the signals array is already on disk at this point
            raise OSError("disk full")
        written.append(name)
        return real_create_array(self, name, **kwargs)

    monkeypatch.setattr(zarr.Group, "create_array", failing_create_array)
    with pytest.raises(OSError, match="disk full"):
        store.write(rec)
    assert written == ["signals"]
    assert not store.has("amass", rec.name)
    assert store.list() == [] and store.summary() == []
    assert temp_dirs(tmp_path / "s.zarr") == []  # the writer removed its own temporary group
    monkeypatch.undo()
    store.write(rec)
    np.testing.assert_array_equal(store.read("amass", rec.name).signals, rec.signals)


def _crash_mid_write(store_path: str) -> None:
    """Child process: die (no cleanup, no exception handling) after writing the signals array."""
    real_create_array = zarr.Group.create_array

    def dying_create_array(self, name, **kwargs):
        if name == "labels":
            os._exit(3)
        return real_create_array(self, name, **kwargs)

    zarr.Group.create_array = dying_create_array
    RecordingStore(store_path).write(make_recording())


def test_crashed_writer_leaves_only_a_temp_dir_removed_by_cleanup(tmp_path):
    path = tmp_path / "s.zarr"
    store = RecordingStore(path)
    child = multiprocessing.get_context("spawn").Process(target=_crash_mid_write, args=(str(path),))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    left = temp_dirs(path)
    assert len(left) == 1 and (left[0] / "signals").is_dir()  # half-written, hidden
    reader = RecordingStore(path, mode="r")
    assert not reader.has("amass", "CMU/01/01_01_poses") and reader.list() == []
    assert reader.sources() == [] and reader.summary() == []

    assert store.cleanup() == left  # its writer is dead: removed without waiting for the grace period
    assert temp_dirs(path) == []
    store.write(make_recording())
    assert store.list() == [("amass", "CMU/01/01_01_poses")]


def test_cleanup_spares_live_writers_until_grace_period(tmp_path):
    path = tmp_path / "s.zarr"
    store = RecordingStore(path)
    store.write(make_recording())
    src = path / "recordings" / "amass"
    live = src / recordings_module._temp_name("live")  # this process: alive
    foreign = src / ".tmp-x-0123456789ab-1-ffffffff"  # another host: only age counts
    live.mkdir()
    foreign.mkdir()
    assert store.cleanup() == []
    old = os.path.getmtime(foreign) - 2 * recordings_module.DEFAULT_GRACE_S
    os.utime(foreign, (old, old))
    assert store.cleanup() == [foreign]
    assert live.is_dir()
    assert RecordingStore(path).cleanup(grace_s=0) == [live]
    assert store.has("amass", "CMU/01/01_01_poses")


# --------------------------------------------------------------------------- concurrency


def _write_many(store_path: str, worker: int, barrier) -> None:
    """Child process: open the (possibly not yet existing) store and write 10 recordings."""
    barrier.wait(60)
    store = RecordingStore(store_path)
    for i in range(10):
        store.write(make_recording(name=f"w{worker}/seq_{i:02d}", source=f"src{i % 2}",
                                   seed=100 * worker + i, n_frames=40 + i))


def test_two_processes_write_concurrently_into_a_new_store(tmp_path):
    path = tmp_path / "new.zarr"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_write_many, args=(str(path), w, barrier)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0]

    store = RecordingStore(path, mode="r")
    expected = sorted((f"src{i % 2}", f"w{w}/seq_{i:02d}") for w in range(2) for i in range(10))
    assert store.list() == expected
    assert store.sources() == ["src0", "src1"]
    for w in range(2):
        for i in range(10):
            want = make_recording(name=f"w{w}/seq_{i:02d}", seed=100 * w + i, n_frames=40 + i)
            np.testing.assert_array_equal(store.read(f"src{i % 2}", want.name).signals, want.signals)
    assert temp_dirs(path) == []
    assert store.attrs["virtimu"]["format"] == 1


# --------------------------------------------------------------------------- partial reads


def test_read_signals_selects_columns_by_name_and_slices_frames(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    n = 2 * CHUNK_FRAMES + 100
    rec = make_recording(n_frames=n, labelled=False)
    store.write(rec)
    name = rec.name
    cols = ["right_thigh/gyro_z", "left_wrist/acc_x"]
    part = store.read_signals("amass", name, cols, start=CHUNK_FRAMES - 5, stop=CHUNK_FRAMES + 7)
    assert part.dtype == np.float32 and part.shape == (12, 2)
    np.testing.assert_array_equal(part, rec.select(cols)[CHUNK_FRAMES - 5:CHUNK_FRAMES + 7])
    np.testing.assert_array_equal(store.read_signals("amass", name), rec.signals)
    np.testing.assert_array_equal(store.read_signals("amass", name, start=-3), rec.signals[-3:])
    assert store.read_signals("amass", name, [], 0, 4).shape == (4, 0)
    with pytest.raises(KeyError, match="head/acc_x"):
        store.read_signals("amass", name, ["head/acc_x", "left_wrist/acc_x"])


# --------------------------------------------------------------------------- summary


def test_summary_counts_frames_duration_and_labels(tmp_path):
    store = RecordingStore(tmp_path / "s.zarr")
    a = make_recording(name="a", n_frames=100, labelled=False)
    a.labels = np.r_[np.zeros(30, int), np.ones(70, int)]
    a.label_map = {0: "null", 1: "walk"}
    b = make_recording(name="b", n_frames=50, fs=30.0, labelled=False)
    b.labels = np.r_[np.ones(20, int), np.full(30, 2)]
    b.label_map = {1: "walk", 2: "sit"}
    c = Recording(np.zeros((200, 3)), ["hip/acc_x", "hip/acc_y", "hip/acc_z"], ["m/s^2"] * 3, 50.0,
                  "hapt", "user01", labels=np.full(200, 5))  # code without a name
    for rec in (a, b, c):
        store.write(rec)

    rows = store.summary()
    assert [r["source"] for r in rows] == ["amass", "hapt"]
    amass, hapt = rows
    assert amass["recordings"] == 2 and amass["frames"] == 150
    assert amass["duration_s"] == pytest.approx(100 / 60 + 50 / 30)
    assert amass["labels"] == {"null": 30, "sit": 30, "walk": 90}
    assert amass["fs"] == [30.0, 60.0] and amass["units"] == ["m/s^2", "rad/s"]
    assert amass["n_channels"] == 12 and amass["channels"] == CHANNELS
    assert hapt["labels"] == {"5": 200} and hapt["duration_s"] == pytest.approx(4.0)

    table = format_summary(rows)
    lines = table.splitlines()
    assert lines[0].split() == ["source", "recordings", "frames", "duration", "channels", "fs", "units", "labels"]
    amass_line = next(line for line in lines if line.startswith("amass"))
    assert "150" in amass_line and "walk 90, null 30, sit 30" in amass_line
    assert "12: {left_wrist,right_thigh}/{acc,gyro}_*" in amass_line and "30, 60 Hz" in amass_line
    assert lines[-1].split()[:4] == ["total", "3", "350", "7.3"]  # 100/60 + 50/30 + 200/50 s
    assert json.loads(summary_as_json(rows)) == rows
    assert format_summary([]) == "no recordings"


def test_compact_channels():
    assert compact_channels(["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/rot_00"]) == \
        "3: left_wrist/{acc,rot}_*"
    assert compact_channels(["a/acc_x", "b/acc_x", "c/gyro_x", "temp"]) == "4: {a,b}/acc_*, c/gyro_*, temp"
    assert compact_channels([]) == "0"


# --------------------------------------------------------------------------- opening


def test_opening_paths_that_are_not_stores(tmp_path):
    missing = tmp_path / "missing.zarr"
    with pytest.raises(FileNotFoundError, match="missing.zarr"):
        RecordingStore(missing, mode="r")
    assert not missing.exists()

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    with pytest.raises(NotAStoreError, match="junk"):
        RecordingStore(junk)

    plain_zarr = tmp_path / "plain.zarr"
    zarr.open_group(plain_zarr, mode="w", zarr_format=3)
    with pytest.raises(NotAStoreError, match="plain.zarr.*virtimu"):
        RecordingStore(plain_zarr, mode="r")

    a_file = tmp_path / "file.zarr"
    a_file.write_text("x")
    with pytest.raises(NotAStoreError, match="file.zarr"):
        RecordingStore(a_file)

    with pytest.raises(ValueError, match="mode"):
        RecordingStore(tmp_path / "x.zarr", mode="w")

    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    assert RecordingStore(empty).list() == []  # an empty directory becomes a store
    assert json.loads((empty / "zarr.json").read_text())["attributes"]["virtimu"]["format"] == 1
