"""RecordingStore.update_labels: atomic replacement of a recording's labels, map, counts and provenance."""
from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from numcodecs import Zstd

from virtimu.store import RecordingStore, encode_key
from virtimu.store import recordings as recordings_module
from virtimu.types import Recording

CHANNELS = ["left_wrist/acc_x", "left_wrist/acc_y", "left_wrist/acc_z", "head/gyro_x"]
UNITS = ["m/s^2", "m/s^2", "m/s^2", "rad/s"]
NEW_MAP = {0: "null", 1: "walking", 2: "running", 7: "stairs"}


def make(name: str = "KIT/3/walking_medium01_poses", n: int = 5000, labelled: bool = True, seed: int = 0) -> Recording:
    """A recording longer than one chunk (4096 frames), labelled 0/1/2 with an old-style map."""
    rng = np.random.default_rng(seed)
    return Recording(signals=rng.normal(size=(n, len(CHANNELS))).astype(np.float32), channels=list(CHANNELS),
                     units=list(UNITS), fs=60.0, source="amass", name=name,
                     labels=rng.integers(0, 3, size=n) if labelled else None,
                     label_map={0: "null", 1: "walk", 2: "sit"} if labelled else None, subject="3",
                     provenance={"format": "amass-npz", "sub_dataset": "KIT", "labels": {"keep": 1, "old": 2}},
                     attrs={"kind": "synthetic", "config": {"fps": 60}})


def temp_dirs(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")] + [p for p in root.parent.glob(".tmp-*")]


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    s = RecordingStore(tmp_path / "s.zarr")
    s.write(make())
    s.write(make("KIT/3/other_poses", n=100, labelled=False, seed=1))
    return s


def test_update_replaces_labels_map_counts_and_merges_provenance(store):
    before = store.read("amass", "KIT/3/walking_medium01_poses")
    attrs_before = store.recording_attrs("amass", "KIT/3/walking_medium01_poses")
    new = np.where(np.arange(5000) < 3000, 1, 7)
    new[:10] = 0
    store.update_labels("amass", "KIT/3/walking_medium01_poses", new, NEW_MAP,
                        provenance_update={"labels": {"old": 3, "label_space": "x"}, "note": "relabelled"})
    after = store.read("amass", "KIT/3/walking_medium01_poses")
    assert np.array_equal(after.labels, new) and after.label_map == NEW_MAP
    np.testing.assert_array_equal(after.signals, before.signals)  # bit-identical signals
    for key in ("channels", "units", "fs", "subject", "name", "source", "attrs"):
        assert getattr(after, key) == getattr(before, key), key
    attrs = store.recording_attrs("amass", "KIT/3/walking_medium01_poses")
    assert attrs["label_counts"] == {"null": 10, "walking": 2990, "stairs": 2000}
    assert attrs["has_labels"] is True and attrs["complete"] is True
    assert attrs["provenance"]["labels"] == {"keep": 1, "old": 3, "label_space": "x"}  # merged key by key
    assert attrs["provenance"]["note"] == "relabelled" and attrs["provenance"]["format"] == "amass-npz"
    assert attrs["written_by"] == attrs_before["written_by"] and attrs["n_frames"] == 5000
    assert temp_dirs(store.path) == []


def test_unlabelled_recording_becomes_labelled_and_summary_follows(store):
    assert store.read("amass", "KIT/3/other_poses").labels is None
    store.update_labels("amass", "KIT/3/other_poses", np.full(100, 2), NEW_MAP)
    rec = store.read("amass", "KIT/3/other_poses")
    assert rec.labels.tolist() == [2] * 100 and rec.labels.dtype == np.int64
    counts_first = store.recording_attrs("amass", "KIT/3/walking_medium01_poses")["label_counts"]
    row = store.summary()[0]
    expected = dict(counts_first)
    expected["running"] = expected.get("running", 0) + 100
    assert row["labels"] == dict(sorted(expected.items()))
    assert row["frames"] == 5100 and row["recordings"] == 2


def test_update_twice_and_without_the_exchange(store, monkeypatch):
    name = "KIT/3/walking_medium01_poses"
    store.update_labels("amass", name, np.ones(5000, dtype=np.int16), NEW_MAP)
    monkeypatch.setattr(recordings_module, "_rename_exchange", lambda a, b: False)  # rename-aside fallback
    store.update_labels("amass", name, np.full(5000, 7, dtype=np.uint8), NEW_MAP)
    assert set(store.read("amass", name).labels.tolist()) == {7}
    assert store.list() == [("amass", "KIT/3/other_poses"), ("amass", name)]
    assert temp_dirs(store.path) == []


@pytest.mark.parametrize("labels, label_map, error, message", [
    (np.ones(10), NEW_MAP, ValueError, r"labels shape \(10,\) != \(5000,\)"),
    (np.full(5000, 1.0), NEW_MAP, ValueError, "labels must be integer codes"),
    (np.full(5000, 3), NEW_MAP, ValueError, r"label codes \[3\] are not in the label map"),
    (np.full(5000, 40000), {0: "null", 40000: "x"}, ValueError, "must fit int16"),
    (np.ones(5000, dtype=int), {"1": "walking"}, TypeError, "is not an integer code"),
])
def test_bad_input_leaves_the_recording_untouched(store, labels, label_map, error, message):
    name = "KIT/3/walking_medium01_poses"
    before = store.read("amass", name)
    with pytest.raises(error, match=message):
        store.update_labels("amass", name, labels, label_map)
    after = store.read("amass", name)
    assert np.array_equal(after.labels, before.labels) and after.label_map == before.label_map
    assert temp_dirs(store.path) == []


def test_unknown_recording_read_only_store_and_failed_swap(store, monkeypatch):
    with pytest.raises(KeyError, match="no recording 'nope'"):
        store.update_labels("amass", "nope", np.zeros(3, dtype=int), NEW_MAP)
    with pytest.raises(io.UnsupportedOperation):
        RecordingStore(store.path, mode="r").update_labels("amass", "KIT/3/other_poses", np.zeros(100, int), NEW_MAP)

    def broken(a, b):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(recordings_module, "_rename_exchange", broken)
    with pytest.raises(OSError, match="I/O error"):
        store.update_labels("amass", "KIT/3/other_poses", np.zeros(100, dtype=int), NEW_MAP)
    assert store.read("amass", "KIT/3/other_poses").labels is None  # old recording intact
    assert temp_dirs(store.path) == []


def _snapshot(group_dir: Path) -> tuple[dict, np.ndarray]:
    """Attrs and labels of a recording group read through one directory handle (one instant's directory)."""
    fd = os.open(group_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        def read(rel: str) -> bytes:
            f = os.open(rel, os.O_RDONLY, dir_fd=fd)
            with os.fdopen(f, "rb") as fh:
                return fh.read()
        attrs = json.loads(read("zarr.json"))["attributes"]
        meta = json.loads(read("labels/zarr.json"))
        assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd"] and meta["data_type"] == "int16"
        labels = np.frombuffer(Zstd().decode(read("labels/c/0")), dtype="<i2")
    finally:
        os.close(fd)
    return attrs, labels


def test_the_group_is_swapped_whole(store):
    """Alternate two (labels, map) pairs whose codes differ while another thread reads the group.

    Through one directory handle the reader must always find a complete group
    whose labels match its label map; through the path (RecordingStore.read)
    the recording must never be missing or incomplete.
    """
    name = "KIT/3/other_poses"
    pairs = [(np.full(100, 1), {0: "null", 1: "a"}), (np.full(100, 2), {0: "null", 2: "b"})]
    store.update_labels("amass", name, *pairs[0])
    group_dir = store.path / "recordings" / "amass" / encode_key(name)
    reader = RecordingStore(store.path, mode="r")
    stop = threading.Event()
    problems: list[str] = []
    reads = [0, 0]

    def read_loop() -> None:
        while not stop.is_set():
            try:
                try:
                    attrs, labels = _snapshot(group_dir)
                except FileNotFoundError:
                    pass  # the handle held the previous version, deleted once swapped out
                else:
                    reads[0] += 1
                    if attrs.get("complete") is not True or not set(np.unique(labels).tolist()) <= \
                            {int(k) for k in attrs["label_map"]}:
                        problems.append(f"snapshot: labels {np.unique(labels)} with map {attrs['label_map']}")
                reader.read("amass", name)
                reads[1] += 1
            except Exception as exc:  # a missing or half-written group shows up here
                problems.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for i in range(40):
            store.update_labels("amass", name, *pairs[i % 2])
    finally:
        stop.set()
        thread.join()
    assert problems == [] and min(reads) > 0
