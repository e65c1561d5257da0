"""Tests of the 'frames' layout of the window store (shared frames of overlapping windows) and of streaming appends."""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import zarr

from virtimu.store.windows import (
    WindowStore,
    new_frame_rows,
    overlap_shifts,
    place_frames,
    windows_from_frames,
)
from virtimu.types import WindowSet

L, C = 12, 4
CHANNELS = [f"w/acc_{a}" for a in "xyz"] + ["w/gyro_x"]
UNITS = ["m/s^2"] * 3 + ["rad/s"]


def cut(signals: dict[str, np.ndarray], step: int, label_map: dict[int, str] | None = None,
        source: str = "demo", seed: int = 0) -> WindowSet:
    """Windows of L frames every ``step`` frames cut from each recording's (T, C) signals, in recording order."""
    rng = np.random.default_rng(seed)
    label_map = label_map or {0: "null", 1: "walk", 2: "sit"}
    parts = {k: [] for k in ("X", "recording", "start", "subject")}
    for name, x in signals.items():
        starts = np.arange(0, x.shape[0] - L + 1, step)
        parts["X"].append(np.stack([x[s:s + L] for s in starts]) if starts.size else np.zeros((0, L, C)))
        parts["recording"] += [f"{source}/{name}"] * starts.size
        parts["start"].append(starts)
        parts["subject"] += [name[:2]] * starts.size
    X = np.concatenate(parts["X"]).astype(np.float32)
    n = X.shape[0]
    return WindowSet(X=X, y=rng.choice(sorted(label_map), size=n), subject=np.array(parts["subject"], dtype=str),
                     recording=np.array(parts["recording"], dtype=str), start=np.concatenate(parts["start"]),
                     source=np.array([source] * n), channels=list(CHANNELS), units=list(UNITS), fs=50.0,
                     label_map=dict(label_map), attrs={"config": {"length": L, "step": step}})


def recordings(seed: int, lengths=(100, 37, 250, 11, 64)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"r{i}{seed}": rng.normal(size=(T, C)).astype(np.float32) for i, T in enumerate(lengths)}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.zarr"


def stored_frames(store_path: Path, set_name: str) -> int:
    return int(json.loads((store_path / "windows" / set_name / "zarr.json").read_text())["attributes"]["n_frames"])


# --------------------------------------------------------------------------- pure helpers


def test_windows_from_frames_copies_contiguous_windows():
    frames = np.arange(20 * 3, dtype=np.float32).reshape(20, 3)
    out = windows_from_frames(frames, np.array([0, 17, 5, 5]), 3)
    assert out.shape == (4, 3, 3) and out.flags.writeable and out.flags.c_contiguous
    np.testing.assert_array_equal(out[1], frames[17:20])
    np.testing.assert_array_equal(out[2], out[3])
    out[0] = -1
    assert frames[0, 0] == 0  # a copy, not a view


def test_overlap_shifts_need_bit_identical_frames_of_one_recording():
    x = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    X = np.stack([x[s:s + 6] for s in (0, 3, 6, 6, 10, 20)])
    rec = np.array(["a"] * 4 + ["a", "b"])
    src = np.array(["s"] * 6)
    start = np.array([0, 3, 6, 6, 10, 20])
    np.testing.assert_array_equal(overlap_shifts(X, rec, src, start), [-1, 3, 3, 0, 4, -1])
    changed = X.copy()
    changed[2, 0, 0] = np.nextafter(changed[2, 0, 0], np.float32(9))  # one ulp off: not shared
    np.testing.assert_array_equal(overlap_shifts(changed, rec, src, start)[:4], [-1, 3, -1, -1])
    zero = np.zeros((2, 6, 2), dtype=np.float32)
    zero[1] = -0.0  # -0.0 == 0.0 as floats, but not bit for bit
    assert overlap_shifts(zero, np.array(["a", "a"]), np.array(["s", "s"]), np.array([0, 0])).tolist() == [-1, -1]
    nan = np.full((2, 6, 2), np.nan, dtype=np.float32)  # NaN != NaN as floats, but the bits are equal
    assert overlap_shifts(nan, np.array(["a", "a"]), np.array(["s", "s"]), np.array([0, 2])).tolist() == [-1, 2]


def test_place_frames_never_crosses_a_chunk_boundary():
    shift = np.array([-1, 3, 3, 3, 3, -1, 3, 0])
    frame_start, n_new, pad, end = place_frames(shift, length=6, chunk_frames=16, next_frame=0)
    # 0..5, 3..8, 6..11, 9..14; 12..17 would cross 16: padded to 16; 22 (fresh after 16..21); shared 19; same 19
    np.testing.assert_array_equal(frame_start, [0, 3, 6, 9, 16, 22, 25, 25])
    np.testing.assert_array_equal(n_new, [6, 3, 3, 3, 6, 6, 3, 0])
    np.testing.assert_array_equal(pad, [0, 0, 0, 0, 1, 0, 0, 0])
    assert end == 31 == int((n_new + pad).sum())
    assert np.all(frame_start // 16 == (frame_start + 5) // 16)
    x = np.random.default_rng(1).normal(size=(40, 2)).astype(np.float32)
    X = np.stack([x[s:s + 6] for s in (0, 3, 6, 9, 12, 20, 23, 23)])
    rows = new_frame_rows(X, n_new, pad)
    assert rows.shape == (31, 2) and np.all(rows[15] == 0)  # the padding row
    np.testing.assert_array_equal(windows_from_frames(rows, frame_start, 6), X)


# --------------------------------------------------------------------------- the layout in the store


def test_overlapping_windows_share_frames_and_read_back_exactly(store_path):
    ws = cut(recordings(1), step=6)  # 50 % overlap
    store = WindowStore(store_path)
    store.append("s", ws, chunk_rows=8)  # 96 frames a chunk: several chunks, padding at their ends
    reader = WindowStore(store_path, mode="r")
    info = reader.info("s")
    assert info["layout"] == "frames" and info["format"] == 2 and info["chunk_frames"] == 96
    assert info["compression"] == {"codec": "blosc", "cname": "lz4hc", "clevel": 5, "shuffle": "noshuffle"}
    n_frames = stored_frames(store_path, "s")
    assert n_frames < 0.62 * len(ws) * L  # about half the frames of the windows (short recordings: a bit more)
    whole = reader.read("s")
    np.testing.assert_array_equal(whole.X, ws.X)
    for key in ("y", "subject", "recording", "start", "source"):
        np.testing.assert_array_equal(getattr(whole, key), getattr(ws, key), err_msg=key)
    idx = np.random.default_rng(2).integers(0, len(ws), size=80)
    np.testing.assert_array_equal(reader.read("s", idx).X, ws.X[idx])
    lay = reader.layout("s")
    assert np.all(lay.offset + L <= lay.chunk_frames) and np.all(np.diff(lay.chunk) >= 0)
    for chunk in range(lay.n_chunks):
        rows = np.flatnonzero(lay.chunk == chunk)
        np.testing.assert_array_equal(reader.read_chunk("s", chunk), ws.X[rows])
        buffer = reader.read_frames("s", chunk)
        assert buffer.shape == (96, C)
        np.testing.assert_array_equal(windows_from_frames(buffer, lay.offset[rows], L), ws.X[rows])
    X, y = reader.to_numpy("s")
    np.testing.assert_array_equal(X, ws.X)


def test_frames_layout_is_no_larger_without_overlap_and_format_1_still_works(store_path):
    ws = cut(recordings(2), step=L)  # no overlap: nothing to share
    store = WindowStore(store_path)
    store.append("f", ws, chunk_rows=8)
    store.append("w", ws, chunk_rows=8, layout="windows")
    assert stored_frames(store_path, "f") == len(ws) * L  # L divides the chunk: no padding
    assert "frames" not in os.listdir(store_path / "windows" / "w")
    reader = WindowStore(store_path, mode="r")
    assert reader.info("w")["format"] == 1 and reader.info("w")["layout"] == "windows"
    for name in ("f", "w"):
        np.testing.assert_array_equal(reader.read(name).X, ws.X)
    more = cut(recordings(3), step=4)
    store.append("w", more)  # an existing set keeps its layout
    np.testing.assert_array_equal(WindowStore(store_path, mode="r").read("w").X, np.concatenate([ws.X, more.X]))
    with pytest.raises(ValueError, match="layout"):
        store.append("x", ws, layout="columns")


def test_sets_written_before_the_frames_layout_still_read_and_append(store_path):
    ws = cut(recordings(10), step=6)
    store = WindowStore(store_path)
    store.append("old", ws, layout="windows", shuffle=True)
    meta_path = store_path / "windows" / "old" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    del meta["attributes"]["layout"]  # the attrs of format 1 as first written
    meta_path.write_text(json.dumps(meta))
    reader = WindowStore(store_path, mode="r")
    assert reader.info("old")["format"] == 1 and "layout" not in reader.info("old")
    np.testing.assert_array_equal(reader.read("old").X, ws.X)
    WindowStore(store_path).append("old", ws)
    np.testing.assert_array_equal(WindowStore(store_path, mode="r").read("old").X, np.concatenate([ws.X, ws.X]))
    meta["attributes"]["format"] = 3
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="newer"):
        WindowStore(store_path, mode="r").read("old")


def test_mantissa_rounding_keeps_frames_shared(store_path):
    ws = cut(recordings(4), step=3)  # 75 % overlap
    store = WindowStore(store_path)
    store.append("lossy", ws, mantissa_bits=10)
    X = WindowStore(store_path, mode="r").read("lossy").X
    assert np.all(np.abs(X - ws.X) <= np.abs(ws.X) * 2.0 ** -11) and not np.array_equal(X, ws.X)
    assert stored_frames(store_path, "lossy") < 0.4 * len(ws) * L
    assert store.info("lossy")["compression"]["shuffle"] == "shuffle"  # rounding pays off with the byte shuffle


# --------------------------------------------------------------------------- streaming appends


def batches_of(ws: WindowSet, cuts: list[int]) -> list[WindowSet]:
    edges = [0, *cuts, len(ws)]
    return [ws.subset(np.arange(a, b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def set_files(store_path: Path, name: str) -> dict[str, np.ndarray]:
    group = zarr.open_group(store_path / "windows" / name, mode="r")
    return {key: np.asarray(group[key][:]) for key in ("frames", "frame_start", "y", "start", "subject",
                                                          "recording", "source")}


def comparable_attrs(store_path: Path, name: str) -> dict:
    attrs = json.loads((store_path / "windows" / name / "zarr.json").read_text())["attributes"]
    for entry in attrs["provenance"]:
        entry.pop("time")
    return attrs | {"name": None}


def test_streamed_batches_equal_one_append_of_their_concatenation(store_path):
    a = cut(recordings(5), step=6, label_map={0: "null", 1: "walk", 2: "sit"})
    b = cut(recordings(6), step=6, label_map={0: "null", 1: "sit", 3: "jump"}, source="other", seed=1)
    store = WindowStore(store_path)
    store.append("one", a, chunk_rows=8)
    store.append("one", b)
    store.append("many", a, chunk_rows=8)
    with store.appender("many") as app:
        for part in batches_of(b, [1, 7, 8, 30, 31]):  # batch edges inside recordings and inside chunks
            app.add(part)
        assert WindowStore(store_path, mode="r").n_windows("many") == len(a)  # nothing visible yet
        rows = app.commit(b.attrs)
    assert rows == range(len(a), len(a) + len(b)) and app.n_added == len(b)
    one, many = set_files(store_path, "one"), set_files(store_path, "many")
    for key in one:
        np.testing.assert_array_equal(many[key], one[key], err_msg=key)
    assert comparable_attrs(store_path, "many") == comparable_attrs(store_path, "one")
    out = WindowStore(store_path, mode="r").read("many")
    assert out.label_map == {0: "null", 1: "walk", 2: "sit", 3: "jump"}
    assert [out.label_map[c] for c in out.y[len(a):]] == [b.label_map[c] for c in b.y]
    np.testing.assert_array_equal(out.X, np.concatenate([a.X, b.X]))


def test_appender_without_commit_leaves_nothing(store_path):
    ws = cut(recordings(7), step=6)
    store = WindowStore(store_path)
    with store.appender("new") as app:
        app.add(ws)
    assert not store.has_set("new") and not [p for p in (store_path / "windows").iterdir()
                                             if p.name.startswith(".tmp-")]
    store.append("s", ws)
    with pytest.raises(RuntimeError, match="boom"):
        with store.appender("s") as app:
            app.add(ws)
            raise RuntimeError("boom")
    assert WindowStore(store_path, mode="r").n_windows("s") == len(ws)
    with store.appender("s") as app:
        with pytest.raises(ValueError, match="window length"):
            app.add(WindowSet(X=np.zeros((1, L + 1, C)), y=[0], subject=[""], recording=["x"], start=[0],
                              source=["x"], channels=CHANNELS, units=UNITS, fs=50.0, label_map={0: "null"}))
        app.add(ws)
        assert app.commit() == range(len(ws), 2 * len(ws))
        with pytest.raises(RuntimeError, match="closed"):
            app.add(ws)
    with pytest.raises(ValueError, match="nothing to commit"):
        with store.appender("empty") as app:
            app.commit()
    np.testing.assert_array_equal(WindowStore(store_path, mode="r").read("s").X, np.concatenate([ws.X, ws.X]))


def _stream_then_die(store_path: str, seed: int) -> None:
    """Child process: stream three batches into set 's', then die before the commit."""
    store = WindowStore(store_path)
    with store.appender("s") as app:
        for part in batches_of(cut(recordings(seed), step=6, source="late"), [5, 20]):
            app.add(part)
        os._exit(17)


def test_killed_streaming_writer_leaves_the_committed_state(store_path):
    first = cut(recordings(8), step=6)
    WindowStore(store_path).append("s", first, chunk_rows=8)
    proc = multiprocessing.get_context("spawn").Process(target=_stream_then_die, args=(str(store_path), 9))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 17
    reader = WindowStore(store_path, mode="r")
    assert reader.n_windows("s") == len(first) and set(reader.meta("s").source) == {"demo"}
    np.testing.assert_array_equal(reader.read("s").X, first.X)
    again = cut(recordings(9), step=6, source="late")  # the rerun appends each window once
    WindowStore(store_path).append("s", again)
    out = WindowStore(store_path, mode="r").read("s")
    np.testing.assert_array_equal(out.X, np.concatenate([first.X, again.X]))
    assert len(out.attrs["provenance"]) == 2
