"""Tests of the Zarr window store: appends, chunk-wise reads, label maps, crash safety, locking, summary."""
from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from virtimu.store import NotAStoreError, RecordingStore
from virtimu.store.windows import (
    SetLockedError,
    WindowStore,
    chunk_rows_for,
    direct_chunk_reader,
    format_summary,
    gather_by_chunk,
    merge_label_maps,
    remap_codes,
    round_mantissa,
)
from virtimu.types import Recording, WindowSet

L, CHANNELS = 12, ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z", "head/gyro_x", "head/gyro_y"]
UNITS = ["m/s^2"] * 3 + ["rad/s"] * 2
CHUNK = 32  # windows per chunk in these tests, so that sets span several chunks


def make_windows(n: int, source: str, seed: int, label_map: dict[int, str] | None = None,
                 channels: list[str] | None = None, units: list[str] | None = None, length: int = L,
                 fs: float = 50.0) -> WindowSet:
    """Seeded smooth windows (sinusoids + noise) with labels, 3 subjects and 10 windows per recording."""
    label_map = label_map or {0: "null", 1: "walk", 2: "sit"}
    channels = channels or list(CHANNELS)
    rng = np.random.default_rng(seed)
    t = np.arange(length) / fs
    freq = rng.uniform(0.5, 3.0, size=(n, 1, len(channels)))
    X = np.sin(2 * np.pi * freq * t[None, :, None]) + 0.05 * rng.normal(size=(n, length, len(channels)))
    return WindowSet(
        X=X.astype(np.float32), y=rng.choice(sorted(label_map), size=n),
        subject=np.array([f"{source}-s{i % 3}" for i in range(n)]),
        recording=np.array([f"{source}/rec{i // 10:03d}" for i in range(n)]),
        start=(np.arange(n) % 10) * length // 2, source=np.array([source] * n),
        channels=channels, units=units or list(UNITS), fs=fs, label_map=dict(label_map),
        attrs={"config": {"window": length, "overlap": 0.5}, "seed": seed},
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.zarr"


def label_names(ws: WindowSet) -> list[str]:
    return [ws.label_map[int(c)] for c in ws.y]


# --------------------------------------------------------------------------- pure helpers


def test_chunk_rows_target_about_two_mebibytes():
    rows = chunk_rows_for(60, 36)  # the paper-001 window: 60 frames x 36 channels
    assert 128 <= rows <= 256 and rows % 16 == 0
    assert 1 * 2**20 <= rows * 60 * 36 * 4 <= 4 * 2**20
    assert chunk_rows_for(1, 1) == 4096 and chunk_rows_for(15000, 60) == 16


def test_gather_by_chunk_reads_each_chunk_once_in_any_order():
    data = np.arange(100 * 2, dtype=np.float32).reshape(100, 2)
    rows = np.array([97, 3, 50, 3, 99, 0, 51, 64])
    calls = []

    def get_chunk(c):
        calls.append(c)
        return data[c * 16:(c + 1) * 16]

    out = gather_by_chunk(rows, 16, get_chunk, np.empty((len(rows), 2), dtype=np.float32))
    np.testing.assert_array_equal(out, data[rows])
    assert calls == sorted(set((rows // 16).tolist()))


def test_merge_label_maps_by_name_remaps_conflicting_codes():
    merged, remap = merge_label_maps({0: "null", 1: "walk"}, {0: "null", 1: "sit", 2: "walk", 7: "jump"})
    assert merged == {0: "null", 1: "walk", 2: "sit", 7: "jump"}
    assert remap == {0: 0, 1: 2, 2: 1, 7: 7}
    np.testing.assert_array_equal(remap_codes(np.array([1, 2, 2, 0, 7]), remap), [2, 1, 1, 0, 7])
    # new names whose codes are taken get the smallest free codes
    merged, remap = merge_label_maps({0: "a", 1: "b", 3: "e"}, {0: "c", 1: "d", 3: "f"})
    assert merged == {0: "a", 1: "b", 2: "c", 3: "e", 4: "d", 5: "f"} and remap == {0: 2, 1: 4, 3: 5}


def test_round_mantissa_bound_and_specials():
    x = np.array([1.0, -3.14159, 1e-30, 123456.789, 0.0, np.inf, np.nan], dtype=np.float32)
    r = round_mantissa(x, 10)
    finite = np.isfinite(x)
    assert np.all(np.abs(r[finite] - x[finite]) <= np.abs(x[finite]) * 2.0 ** -11)
    assert np.all((r.view(np.uint32)[finite] & np.uint32((1 << 13) - 1)) == 0)  # low 13 bits cleared
    assert r[5] == np.inf and np.isnan(r[6])
    assert round_mantissa(np.float32([1.0 + 2.0 ** -23]), 22)[0] == 1.0  # tie rounds to even
    with pytest.raises(ValueError, match="1..23"):
        round_mantissa(x, 0)


# --------------------------------------------------------------------------- append and read


def test_append_two_sources_reopen_random_reads_match_reference(store_path):
    a, b = make_windows(150, "demo", seed=1), make_windows(90, "hapt", seed=2)
    store = WindowStore(store_path)
    assert store.append("train", a, chunk_rows=CHUNK) == range(150)
    assert store.append("train", b) == range(150, 240)
    ref = {k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in ("X", "y", "subject", "recording", "start",
                                                                        "source")}

    reader = WindowStore(store_path, mode="r")
    assert reader.list_sets() == ["train"] and reader.n_windows("train") == 240
    assert reader.chunk_rows("train") == CHUNK
    rng = np.random.default_rng(0)
    for idx in (rng.integers(0, 240, size=64), np.sort(rng.choice(240, 40, replace=False)), np.array([239, 0, 0])):
        ws = reader.read("train", idx)
        for key, value in ref.items():
            np.testing.assert_array_equal(getattr(ws, key), value[idx], err_msg=key)
        assert ws.X.dtype == np.float32 and ws.y.dtype == np.int64
    whole = reader.read("train")
    np.testing.assert_array_equal(whole.X, ref["X"])
    assert whole.channels == CHANNELS and whole.units == UNITS and whole.fs == 50.0
    assert whole.label_map == {0: "null", 1: "walk", 2: "sit"}
    assert whole.attrs["config"] == {"window": L, "overlap": 0.5}
    mask = ref["source"] == "hapt"
    np.testing.assert_array_equal(reader.read("train", mask).X, b.X)
    X, y = reader.to_numpy("train")
    np.testing.assert_array_equal(X, ref["X"])
    np.testing.assert_array_equal(y, ref["y"])
    meta = reader.meta("train")
    np.testing.assert_array_equal(meta.subject, ref["subject"])
    np.testing.assert_array_equal(meta.recording, ref["recording"])
    np.testing.assert_array_equal(meta.start, ref["start"])
    np.testing.assert_array_equal(reader.labels("train"), ref["y"])
    provenance = reader.info("train")["provenance"]
    assert [p["rows"] for p in provenance] == [[0, 150], [150, 240]]
    assert provenance[1]["sources"] == ["hapt"] and provenance[1]["attrs"] == {"seed": 2}
    assert provenance[0]["recordings"][:2] == ["demo/rec000", "demo/rec001"]
    with pytest.raises(IndexError, match=r"\[0, 240\)"):
        reader.read("train", np.array([240]))
    with pytest.raises(KeyError, match="no window set 'test'"):
        reader.read("test")


@pytest.mark.parametrize("layout", ["frames", "windows"])
def test_reads_decompress_only_the_needed_chunks(store_path, monkeypatch, layout):
    store = WindowStore(store_path)
    a = make_windows(200, "demo", seed=3)  # random windows: nothing to share, CHUNK windows per chunk
    store.append("s", a, chunk_rows=CHUNK, layout=layout)  # 7 chunks
    reader = WindowStore(store_path, mode="r")
    view = reader._view("s")
    assert reader.info("s")["layout"] == layout and reader.layout("s").n_chunks == 7
    loaded = []
    original = type(view).read_frames

    def spy(self, chunk, out=None):
        loaded.append(chunk)
        return original(self, chunk, out)

    monkeypatch.setattr(type(view), "read_frames", spy)
    idx = np.array([5, 190, 6, 40, 33, 7])  # chunks 0, 5, 0, 1, 1, 0
    np.testing.assert_array_equal(reader.read("s", idx).X, a.X[idx])
    assert loaded == [0, 1, 5]
    np.testing.assert_array_equal(reader.read_chunk("s", 6), a.X[6 * CHUNK:])  # the last chunk is partial
    with pytest.raises(IndexError):
        reader.read_chunk("s", 7)


def test_direct_chunk_reads_equal_zarr_reads(store_path, tmp_path):
    a = make_windows(100, "demo", seed=26)
    a.X[32:64] = 0.0  # an all-zero chunk, which zarr does not write
    store = WindowStore(store_path)
    store.append("s", a, chunk_rows=CHUNK, layout="windows")
    x_dir = store_path / "windows" / "s" / "X"
    assert not (x_dir / "c" / "1" / "0" / "0").exists()
    reader = direct_chunk_reader(x_dir)
    reference = zarr.open_array(x_dir, mode="r")
    for chunk in range(4):
        direct = reader(chunk)
        assert direct.shape == (CHUNK, L, len(CHANNELS)) and direct.flags.writeable
        np.testing.assert_array_equal(direct[:len(reference[chunk * CHUNK:(chunk + 1) * CHUNK])],
                                      reference[chunk * CHUNK:(chunk + 1) * CHUNK])
    np.testing.assert_array_equal(store.read("s").X, a.X)
    view = WindowStore(store_path, mode="r")._view("s")
    view._direct = None  # the zarr path
    for chunk in range(4):
        np.testing.assert_array_equal(view.read_chunk(chunk), a.X[chunk * CHUNK:(chunk + 1) * CHUNK])
    # layout 'frames': 2-D chunks of frames, same equality
    store.append("f", a, chunk_rows=CHUNK)
    f_dir = store_path / "windows" / "f" / "frames"
    frames_reader = direct_chunk_reader(f_dir)
    frames = zarr.open_array(f_dir, mode="r")
    assert frames.chunks == (CHUNK * L, len(CHANNELS))
    buffer = np.empty(frames.chunks, dtype=np.float32)
    for chunk in range(4):
        expected = frames[chunk * CHUNK * L:(chunk + 1) * CHUNK * L]
        assert frames_reader(chunk, buffer) is buffer
        np.testing.assert_array_equal(buffer[:len(expected)], expected)
    view = WindowStore(store_path, mode="r")._view("f")
    view._direct = None
    np.testing.assert_array_equal(np.concatenate([view.read_chunk(c) for c in range(4)]), a.X)
    store.append("z", a, chunk_rows=CHUNK, cname="zstd")
    assert store.info("z")["compression"]["cname"] == "zstd"
    np.testing.assert_array_equal(WindowStore(store_path, mode="r").read("z", np.arange(99, -1, -1)).X, a.X[::-1])
    with pytest.raises(ValueError, match="cname"):
        store.append("q", a, cname="gzip")
    other = zarr.create_array(str(tmp_path / "zstd"), shape=(10, 2, 2), chunks=(5, 2, 2), dtype="float32",
                              compressors=[zarr.codecs.ZstdCodec()])
    other[:] = 1.0
    assert direct_chunk_reader(tmp_path / "zstd") is None  # another codec: read through zarr


def test_label_maps_merge_across_appends(store_path):
    store = WindowStore(store_path)
    a = make_windows(40, "demo", seed=4, label_map={0: "null", 1: "walk"})
    b = make_windows(40, "hapt", seed=5, label_map={0: "null", 1: "sit", 2: "walk"})
    c = make_windows(20, "pamap", seed=6, label_map={1: "walk", 9: "jump"})
    for ws in (a, b, c):
        store.append("mixed", ws)
    out = WindowStore(store_path, mode="r").read("mixed")
    assert out.label_map == {0: "null", 1: "walk", 2: "sit", 9: "jump"}
    assert label_names(out) == label_names(a) + label_names(b) + label_names(c)
    provenance = out.attrs["provenance"]
    assert "label_remap" not in provenance[0] and provenance[1]["label_remap"] == {"1": 2, "2": 1}


@pytest.mark.parametrize("change, message", [
    ({"length": L + 1}, "window length 13"),
    ({"fs": 60.0}, "fs 60.0 Hz"),
    ({"channels": [*CHANNELS[:-1], "head/gyro_z"]}, r"missing \['head/gyro_y'\], unexpected \['head/gyro_z'\]"),
    ({"units": ["m/s^2"] * 5}, "units do not match"),
])
def test_mismatched_layout_is_rejected_and_store_unchanged(store_path, change, message):
    store = WindowStore(store_path)
    store.append("s", make_windows(30, "demo", seed=7))
    with pytest.raises(ValueError, match=message):
        store.append("s", make_windows(10, "demo", seed=8, **change))
    reopened = WindowStore(store_path, mode="r")
    assert reopened.n_windows("s") == 30 and len(reopened.info("s")["provenance"]) == 1


def test_channels_in_another_order_are_matched_by_name(store_path):
    store = WindowStore(store_path)
    a = make_windows(20, "demo", seed=9)
    b = make_windows(20, "demo", seed=10)
    order = [4, 2, 0, 1, 3]
    shuffled = WindowSet(X=b.X[:, :, order], y=b.y, subject=b.subject, recording=b.recording, start=b.start,
                         source=b.source, channels=[CHANNELS[i] for i in order], units=[UNITS[i] for i in order],
                         fs=b.fs, label_map=b.label_map)
    store.append("s", a)
    store.append("s", shuffled)
    np.testing.assert_array_equal(store.read("s", np.arange(20, 40)).X, b.X)


def test_mantissa_bits_is_fixed_at_creation(store_path):
    store = WindowStore(store_path)
    a = make_windows(50, "demo", seed=11)
    store.append("lossy", a, mantissa_bits=12)
    X = store.read("lossy").X
    assert not np.array_equal(X, a.X)
    assert np.all(np.abs(X - a.X) <= np.abs(a.X) * 2.0 ** -13)
    assert store.info("lossy")["mantissa_bits"] == 12
    with pytest.raises(ValueError, match="mantissa_bits=12"):
        store.append("lossy", a, mantissa_bits=16)
    store.append("lossy", a)  # the stored setting applies
    np.testing.assert_array_equal(store.read("lossy", np.arange(50, 100)).X, X)


# --------------------------------------------------------------------------- crash safety and locking


def _append_then_die(store_path: str, set_name: str, seed: int, source: str) -> None:
    """Child process: append, but exit before the commit (rows written, n_committed not updated)."""
    def die(*args, **kwargs):
        os._exit(17)

    WindowStore._commit = staticmethod(die)
    WindowStore(store_path).append(set_name, make_windows(70, source, seed=seed, label_map={0: "null", 5: "run"}),
                                   chunk_rows=CHUNK)


def _run_child(*args) -> int:
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_append_then_die, args=args)
    proc.start()
    proc.join(60)
    return proc.exitcode


@pytest.mark.parametrize("layout", ["frames", "windows"])
def test_killed_writer_leaves_partial_append_invisible(store_path, layout):
    a = make_windows(50, "demo", seed=12)
    store = WindowStore(store_path)
    store.append("s", a, chunk_rows=CHUNK, layout=layout)
    assert _run_child(str(store_path), "s", 13, "hapt") == 17

    signals = "frames" if layout == "frames" else "X"
    rows_on_disk = json.loads((store_path / "windows" / "s" / signals / "zarr.json").read_text())["shape"][0]
    assert rows_on_disk == (120 * L if layout == "frames" else 120)  # the dead writer's rows are on disk ...
    reader = WindowStore(store_path, mode="r")
    assert reader.n_windows("s") == 50  # ... but not committed
    ws = reader.read("s")
    np.testing.assert_array_equal(ws.X, a.X)
    assert ws.label_map == a.label_map and set(ws.source) == {"demo"}
    assert len(reader.info("s")["provenance"]) == 1

    b = make_windows(30, "pamap", seed=14)  # a later append overwrites the uncommitted tail
    assert WindowStore(store_path).append("s", b) == range(50, 80)
    out = WindowStore(store_path, mode="r").read("s")
    np.testing.assert_array_equal(out.X, np.concatenate([a.X, b.X]))
    assert out.label_map == a.label_map and list(out.source) == ["demo"] * 50 + ["pamap"] * 30
    expected = 80 * L if layout == "frames" else 80
    assert zarr.open_array(store_path / "windows" / "s" / signals, mode="r").shape[0] == expected


def test_killed_creator_leaves_no_set_and_is_cleaned_up(store_path):
    WindowStore(store_path)
    assert _run_child(str(store_path), "fresh", 15, "demo") == 17
    windows_dir = store_path / "windows"
    assert [p.name for p in windows_dir.iterdir() if p.name.startswith(".tmp-")]  # the dead creator's leftovers
    store = WindowStore(store_path)  # opening for appends removes them (their writer is gone)
    assert not [p for p in windows_dir.iterdir() if p.name.startswith(".tmp-")]
    assert store.list_sets() == [] and not store.has_set("fresh")
    store.append("fresh", make_windows(10, "demo", seed=16))
    assert store.n_windows("fresh") == 10


def test_concurrent_appender_is_refused(store_path):
    store = WindowStore(store_path)
    store.append("s", make_windows(10, "demo", seed=17))
    fd = os.open(store_path / "windows" / ".s.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another writer holds the set
        with pytest.raises(SetLockedError, match="concurrent appends"):
            WindowStore(store_path).append("s", make_windows(10, "demo", seed=18), lock_timeout_s=0.1)
        with pytest.raises(SetLockedError):
            store.delete_set("s")
    finally:
        os.close(fd)
    assert WindowStore(store_path).append("s", make_windows(10, "demo", seed=18)) == range(10, 20)


def test_reader_snapshot_until_refresh(store_path):
    writer = WindowStore(store_path)
    writer.append("s", make_windows(20, "demo", seed=19))
    reader = WindowStore(store_path, mode="r")
    assert reader.n_windows("s") == 20
    writer.append("s", make_windows(5, "demo", seed=20))
    assert reader.n_windows("s") == 20 and len(reader.read("s")) == 20
    reader.refresh()
    assert reader.n_windows("s") == 25


# --------------------------------------------------------------------------- store housekeeping


def test_shares_the_root_with_recordings_and_modes(store_path, tmp_path):
    rec = Recording(signals=np.zeros((10, 2)), channels=["a/acc_x", "a/acc_y"], units=["m/s^2"] * 2, fs=50.0,
                    source="demo", name="r1")
    RecordingStore(store_path).write(rec)
    store = WindowStore(store_path)
    store.append("s", make_windows(10, "demo", seed=21))
    assert RecordingStore(store_path, mode="r").list() == [("demo", "r1")]
    reader = WindowStore(store_path, mode="r")
    with pytest.raises(Exception, match="read-only"):
        reader.append("s", make_windows(10, "demo", seed=22))
    other = tmp_path / "other"
    other.mkdir()
    (other / "file.txt").write_text("x")
    with pytest.raises(NotAStoreError):
        WindowStore(other)
    with pytest.raises(FileNotFoundError):
        WindowStore(tmp_path / "missing.zarr", mode="r")
    assert WindowStore(RecordingStore(tmp_path / "recs_only.zarr").path, mode="r").list_sets() == []


def test_delete_set(store_path):
    store = WindowStore(store_path)
    for name in ("b", "a"):
        store.append(name, make_windows(10, "demo", seed=23))
    assert store.list_sets() == ["a", "b"]
    store.delete_set("a")
    assert store.list_sets() == ["b"] and not store.has_set("a")
    with pytest.raises(KeyError):
        store.read("a")
    with pytest.raises(KeyError):
        store.delete_set("a")


# --------------------------------------------------------------------------- summary


def test_summary_counts_per_class_source_and_subject(store_path):
    store = WindowStore(store_path)
    a = make_windows(60, "demo", seed=24)
    b = make_windows(45, "hapt", seed=25, label_map={0: "null", 1: "walk", 2: "sit", 3: "stairs"})
    store.append("s", a)
    store.append("s", b)
    summary = WindowStore(store_path, mode="r").summary("s")
    assert summary["n_windows"] == 105 and summary["sources"] == ["demo", "hapt"] and summary["appends"] == 2
    assert list(summary["classes"]) == ["null", "walk", "sit", "stairs"]
    for name in ("null", "walk", "sit", "stairs"):
        for ws in (a, b):
            expected = label_names(ws).count(name)
            assert summary["classes"][name].get(ws.source[0], 0) == expected, (name, ws.source[0])
    assert sorted(summary["subjects"]) == sorted({*a.subject, *b.subject})
    for subject, counts in summary["subjects"].items():
        ws = a if subject.startswith("demo") else b
        names = np.array(label_names(ws))[ws.subject == subject]
        assert counts == {n: int((names == n).sum()) for n in set(names)}
    text = format_summary(summary)
    assert "105 windows x 12 frames x 5 channels at 50 Hz" in text
    class_line = next(line for line in text.splitlines() if line.startswith("walk"))
    assert class_line.split() == ["walk", str(label_names(a).count("walk")), str(label_names(b).count("walk")),
                                  str(label_names(a).count("walk") + label_names(b).count("walk"))]
    totals = [str(label_names(a).count(n) + label_names(b).count(n)) for n in ("null", "walk", "sit", "stairs")]
    assert text.splitlines()[-1].split() == ["total", *totals, "105"]  # subject table footer
