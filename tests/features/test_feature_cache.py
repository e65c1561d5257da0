"""Per-window feature cache: hits without extraction, subsets, resume after an interruption, store placement."""
from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

pytest.importorskip("tsfresh")

import virtimu.features.tsfresh_features as tf  # noqa: E402
from virtimu.features.cache import DirFeatureCache, StoreFeatureCache, namespace_key, window_keys  # noqa: E402
from virtimu.store.windows import WindowStore  # noqa: E402
from virtimu.types import WindowSet  # noqa: E402

FS = 50.0
CHANNELS = ["w/acc_x", "w/acc_y"]


def windows(n: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 40, 2)).astype(np.float32)


def config(chunk_size: int = 4) -> tf.TsfreshConfig:
    return tf.TsfreshConfig(feature_set="minimal", workers=1, chunk_size=chunk_size, progress=False)


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """Count the windows handed to tsfresh (chunk sizes, one entry per chunk)."""
    calls: list[int] = []
    real = tf._extract_chunk

    def spy(X, *args):
        calls.append(len(X))
        return real(X, *args)

    monkeypatch.setattr(tf, "_extract_chunk", spy)
    return calls


def test_window_keys_are_content_hashes() -> None:
    X = windows(3)
    k = window_keys(X)
    assert k.shape == (3, 32) and k.dtype == np.uint8
    assert np.array_equal(window_keys(X[[2, 0]]), k[[2, 0]])          # per window, order-free
    Y = X.copy()
    Y[1, 5, 0] += 1e-6
    assert np.array_equal(window_keys(Y)[[0, 2]], k[[0, 2]]) and not np.array_equal(window_keys(Y)[1], k[1])
    assert not np.array_equal(window_keys(X.astype(np.float64)), k)    # dtype is part of the bytes


def test_cache_hit_returns_identical_features_without_extraction(tmp_path, counted) -> None:
    X = windows()
    F1, n1 = tf.extract_tsfresh(X, FS, CHANNELS, config(), cache_dir=tmp_path)
    assert counted == [4, 4, 4]
    F2, n2 = tf.extract_tsfresh(X, FS, CHANNELS, config(), cache_dir=tmp_path)
    assert counted == [4, 4, 4]                                         # nothing extracted again
    assert n1 == n2
    np.testing.assert_array_equal(F1, F2)
    # any subset, in any order, is served from the same cache
    F3, _ = tf.extract_tsfresh(X[[9, 1, 4]], FS, CHANNELS, config(chunk_size=2), cache_dir=tmp_path)
    assert counted == [4, 4, 4]
    np.testing.assert_array_equal(F3, F1[[9, 1, 4]])
    # new windows: only they are extracted
    X2 = np.concatenate([X[:5], windows(3, seed=1)])
    F4, _ = tf.extract_tsfresh(X2, FS, CHANNELS, config(), cache_dir=tmp_path)
    assert counted == [4, 4, 4, 3]
    np.testing.assert_array_equal(F4[:5], F1[:5])
    # other fs, channel names or settings: another namespace, extracted again
    tf.extract_tsfresh(X[:2], 25.0, CHANNELS, config(), cache_dir=tmp_path)
    tf.extract_tsfresh(X[:2], FS, ["a", "b"], config(), cache_dir=tmp_path)
    assert counted == [4, 4, 4, 3, 2, 2]
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3
    meta = json.loads(next(p for p in tmp_path.iterdir() if p.is_dir()).joinpath("meta.json").read_text())
    assert {"settings", "fs", "channels", "window_shape", "dtype", "versions", "names"} <= set(meta)
    assert meta["versions"]["tsfresh"]


def test_interrupted_extraction_resumes(tmp_path, monkeypatch) -> None:
    X = windows(10)
    real = tf._extract_chunk
    calls: list[int] = []

    def dies_on_third(Xc, *args):
        calls.append(len(Xc))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(Xc, *args)

    monkeypatch.setattr(tf, "_extract_chunk", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        tf.extract_tsfresh(X, FS, CHANNELS, config(chunk_size=3), cache_dir=tmp_path)
    ns = next(tmp_path.iterdir())
    assert len(list(ns.glob("part-*.npz"))) == 2                        # the two finished chunks were kept
    assert not list(ns.glob(".tmp-*"))
    calls.clear()
    monkeypatch.setattr(tf, "_extract_chunk", lambda Xc, *a: (calls.append(len(Xc)), real(Xc, *a))[1])
    F, _ = tf.extract_tsfresh(X, FS, CHANNELS, config(chunk_size=3), cache_dir=tmp_path)
    assert sum(calls) == 4                                              # 10 windows - 2 finished chunks of 3
    ref, _ = tf.extract_tsfresh(X, FS, CHANNELS, config(), cache_dir=None)
    np.testing.assert_array_equal(F, ref)


def test_store_cache_lives_beside_the_window_set(tmp_path, counted) -> None:
    X = windows(6)
    store_path = tmp_path / "s.zarr"
    ws = WindowSet(X=X, y=np.zeros(6, dtype=np.int64), subject=["a"] * 6, recording=["src/r"] * 6,
                   start=np.arange(6), source=["src"] * 6, channels=CHANNELS, units=["m/s^2"] * 2, fs=FS,
                   label_map={0: "null"})
    WindowStore(store_path).append("my set", ws)
    F1, _ = tf.extract_tsfresh(X, FS, CHANNELS, config(), store=store_path, set_name="my set")
    F2, _ = tf.extract_tsfresh(X, FS, CHANNELS, config(), store=store_path, set_name="my set")
    assert counted == [4, 2]
    np.testing.assert_array_equal(F1, F2)
    root = zarr.open_group(store_path, mode="r")
    set_group = root["features"]["my%20set"]
    assert set_group.attrs["set"] == "my set"
    (ns_name, ns), = set_group.groups()
    assert ns.attrs["virtimu_feature_cache"]["channels"] == CHANNELS
    parts = sorted(name for name, _ in ns.groups())
    assert len(parts) == 2
    rows = np.concatenate([ns[p]["values"][...] for p in parts])
    assert rows.shape == (6, F1.shape[1])
    # the store itself is unaffected
    again = WindowStore(store_path, mode="r")
    assert again.list_sets() == ["my set"] and len(again.read("my set")) == 6


def test_cache_rejects_wrong_rows_and_foreign_namespace(tmp_path) -> None:
    meta = {"extractor": "x", "names": ["a", "b"]}
    cache = DirFeatureCache(tmp_path, meta)
    assert cache.namespace == namespace_key({"extractor": "x"})
    with pytest.raises(ValueError, match="expected"):
        cache.put(np.zeros((2, 32), np.uint8), np.zeros((2, 3), np.float32))
    cache.put(window_keys(windows(2)), np.ones((2, 2), np.float32))
    found, values = cache.get(window_keys(windows(3)))
    assert found.tolist() == [True, True, False] and np.isnan(values[2]).all()
    with pytest.raises(ValueError, match="other windows"):
        tf.extract_tsfresh(windows(2), FS, CHANNELS, config(), cache=cache)
    with pytest.raises(FileNotFoundError, match="not a Zarr store"):
        StoreFeatureCache(tmp_path / "nowhere", "s", meta).put(window_keys(windows(1)), np.ones((1, 2), np.float32))


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path) -> None:
    import os
    import time

    cache = DirFeatureCache(tmp_path, {"extractor": "x", "names": ["a"]})
    cache.put(window_keys(windows(1)), np.ones((1, 1), np.float32))
    old, fresh = cache.dir / ".tmp-old.npz", cache.dir / ".tmp-fresh.npz"
    old.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    again = DirFeatureCache(tmp_path, {"extractor": "x", "names": ["a"]})
    again.put(window_keys(windows(1, seed=5)), np.ones((1, 1), np.float32))
    assert not old.exists() and fresh.exists()          # a live writer's file is left alone
    assert len(again) == 2


def test_unwritable_cache_does_not_stop_extraction(tmp_path, monkeypatch, caplog) -> None:
    def refuse(self, part, keys, values):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(DirFeatureCache, "_write_part", refuse)
    X = windows(5)
    F, _ = tf.extract_tsfresh(X, FS, CHANNELS, config(chunk_size=2), cache_dir=tmp_path)
    ref, _ = tf.extract_tsfresh(X, FS, CHANNELS, config())
    np.testing.assert_array_equal(F, ref)
    assert sum("not writable" in r.message for r in caplog.records) == 1   # said once, not per chunk
